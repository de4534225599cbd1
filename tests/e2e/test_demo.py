"""`make demo` end to end (issue 9): `python -m sim_hardware.demo` as a subprocess, not on a
terminal, so it prints plain progress lines; it starts mosquitto, the bundled CSMS, the
emulated charger (firmware core on the MicroPython VM) and the gateway with its
energy-manager MQTT interface, runs the scripted session and leaves its summary and plot;
on OCPP 1.6 (the default) and OCPP=2.0.1."""

import json
import os
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from sim_hardware.demo import __main__ as demo
from sim_hardware.demo import processes

REPO = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT_S = 240  # about 45 s on an idle machine; generous for a shared one
DELAY_MAX_S = 20  # the demo's random_delay_max_s


def _run_demo(out, *args, env=None):
    """The demo in its own session: on a timeout its whole process group (the demo and the
    parts it started) is killed, so nothing outlives the test."""
    proc = subprocess.Popen([sys.executable, "-m", "sim_hardware.demo", "--out", str(out),
                             *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True,
                            env=dict(os.environ, **(env or {})))
    try:
        stdout, stderr = proc.communicate(timeout=DEMO_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail("the demo did not end within %d s:\n%s\n%s"
                    % (DEMO_TIMEOUT_S, stdout[-3000:], stderr[-3000:]))
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _png_chunks(data):
    """(kind, body) of every chunk of a PNG, checking the signature and each CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    chunks, i = [], 8
    while i < len(data):
        (n,) = struct.unpack(">I", data[i:i + 4])
        kind, body = data[i + 4:i + 8], data[i + 8:i + 8 + n]
        (crc,) = struct.unpack(">I", data[i + 8 + n:i + 12 + n])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, "bad CRC in %r" % kind
        chunks.append((kind, body))
        i += 12 + n
    return chunks


def _steps_facts(s, delay_max_s):
    """The scripted steps' facts of summary.json, with the checks both OCPP versions share:
    every step passed; T7-PROFILE a TxDefaultProfile of 10 A reaches the pilot as 166
    permille (after a UK-11 rate-change delay); T7-MULTI / AG-05 a DNO limit of 8 A published
    on the gateway's MQTT interface becomes 133 permille with the DNO binding and shows in the
    retained MQTT state; AG-12 the button override restores 32 A (533 permille) and is
    reported to the CSMS and on MQTT; AG-13 after a power cut the charger waits the drawn
    restart delay before current flows again, the transaction ends PowerLoss and a new one
    starts; the unplug ends it EVDisconnected with its energy."""
    steps = {st["key"]: st for st in s["steps"]}
    assert list(steps) == ["start", "plug_in", "charging", "profile", "dno_limit", "override",
                           "dno_lifted", "power_cut", "unplug"]
    assert all(st["ok"] for st in s["steps"]), s["steps"]
    f = {k: st["facts"] for k, st in steps.items()}

    assert f["start"]["vendor"] == "smartevse-ref"
    assert f["start"]["meter_value_interval"] == "Accepted"
    assert 0 <= f["plug_in"]["delay_s"] <= delay_max_s
    assert f["plug_in"]["plug_to_current_s"] >= f["plug_in"]["delay_s"] - 1
    assert f["charging"]["duty_permille"] == 533 and f["charging"]["measured_ma"] > 30000

    assert f["profile"]["status"] == "Accepted" and f["profile"]["duty_permille"] == 166
    assert 0 <= f["profile"]["delay_s"] <= delay_max_s

    dno = f["dno_limit"]
    assert dno["reply"]["ok"] is True and dno["duty_permille"] == 133
    assert dno["limit_source"] == "dno" and dno["delay_s"] == 0  # no delay for a DSR limit
    assert dno["mqtt_state_limit"]["current_ma"] == 8000

    ov = f["override"]
    assert ov["duty_permille"] == 533 and ov["reported_on_mqtt"] is True
    assert ov["reported_to_csms"]["active"] is True and ov["reported_to_csms"]["by"] == "button"
    assert "dno" not in f["dno_lifted"]["limits"]

    cut = f["power_cut"]
    assert cut["reset_cause"] == "power_on" and cut["override_after"] is False
    assert 0 <= cut["delay_drawn_s"] <= delay_max_s
    assert cut["power_back_to_current_s"] >= cut["delay_drawn_s"]  # idle first (AG-13)
    assert cut["duty_permille"] == 166  # the TxDefaultProfile holds after the restart
    assert [t["reason"] for t in cut["stop_transactions"]] == ["PowerLoss"]

    un = f["unplug"]
    assert un["reason"] == "EVDisconnected" and un["transactions"] == 2
    assert un["transaction_id"] != f["plug_in"]["transaction_id"]  # a new one after the cut
    assert un["energy_wh"] == un["meter_stop_wh"] - un["meter_start_wh"] > 0
    assert s["ocpp_calls"]["SetChargingProfile"] == 1 and s["mqtt_events"] > 0
    return f


def _check_outputs(tmp_path, r):
    """summary.txt printed, session.png a valid 960 x 540 RGB PNG, the logs kept."""
    text = (tmp_path / "summary.txt").read_text()
    assert text.splitlines()[0] in r.stdout
    chunks = _png_chunks((tmp_path / "session.png").read_bytes())
    kinds = [k for k, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    width, height, depth, color = struct.unpack(">IIBB", chunks[0][1][:10])
    assert (width, height, depth, color) == (960, 540, 8, 2)
    pixels = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    assert len(pixels) == height * (1 + 3 * width)
    assert (tmp_path / "logs" / "gateway.log").exists()


def test_make_demo_scripted_session(tmp_path):
    """The scripted session of `make demo` (OCPP 1.6, the firmware core on the MicroPython
    VM), every step checked in its summary.json (_steps_facts): the 1.6 messages are the
    upstream evidence (ChangeConfiguration MeterValueSampleInterval, StartTransaction /
    StopTransaction meterStop - meterStart, DataTransfer ManualOverride). Exit 0, a summary
    printed and written, and session.png a valid PNG."""
    r = _run_demo(tmp_path, "--seed", "7")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "▶ step 1/9: The station comes up" in r.stdout  # plain lines, no live dashboard
    assert "demo: the CSMS's web page (loopback): http://127.0.0.1:" in r.stdout
    assert "Smart charger demo: 9 of 9 steps passed" in r.stdout

    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["ok"] and s["vm"] == "micropython" and s["ocpp"] == "1.6"
    assert "MicroPython v1.27" in s["engine"]
    f = _steps_facts(s, DELAY_MAX_S)
    assert f["start"]["boot"]["chargePointVendor"] == "smartevse-ref"
    assert isinstance(f["unplug"]["transaction_id"], int)
    calls = s["ocpp_calls"]
    assert calls["ChangeConfiguration"] == 1 and calls["StartTransaction"] == 2
    assert calls["StopTransaction"] == 2 and calls["DataTransfer"] > 0
    assert "TransactionEvent" not in calls
    assert "OCPP CS→CSMS DataTransfer vendorId=smartevse-ref messageId=ManualOverride" \
        in r.stdout
    _check_outputs(tmp_path, r)


# the 2.0.1 run is shortened for the CI budget: charger time x4 and delays of at most 10 s
# (the firmware core on CPython: the MicroPython VM is the 1.6 run's)
DELAY_MAX_201_S = 10


def test_make_demo_scripted_session_ocpp201(tmp_path):
    """`OCPP=2.0.1 make demo`: the same scripted session against the bundled 2.0.1 CSMS
    (sim_hardware/csms201.py) and `python -m gateway --ocpp 2.0.1`, every step checked as in
    1.6 (_steps_facts), with the 2.0.1 messages as the upstream evidence: BootNotification
    chargingStation; SetVariables SampledDataCtrlr.TxUpdatedInterval Accepted;
    SetChargingProfile with evseId and a chargingProfile whose chargingSchedule is a list;
    StatusNotification connectorStatus; TransactionEvent Started / Ended (stoppedReason
    PowerLoss, then EVDisconnected; energy = Transaction.End - Transaction.Begin, station-chosen
    string transactionIds); NotifyEvent for the randomised delays and the override (no
    DataTransfer). Run shortened: CPython firmware core, charger time x4, delays up to 10 s."""
    r = _run_demo(tmp_path, "--seed", "7", "--vm", "cpython", "--time-scale", "4",
                  "--random-delay-max-s", str(DELAY_MAX_201_S), env={"OCPP": "2.0.1"})
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "Smart charger demo: 9 of 9 steps passed" in r.stdout
    assert "OCPP 2.0.1" in r.stdout.splitlines()[0]

    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["ok"] and s["vm"] == "cpython" and s["ocpp"] == "2.0.1"
    f = _steps_facts(s, DELAY_MAX_201_S)
    assert f["start"]["boot"]["chargingStation"]["vendorName"] == "smartevse-ref"
    assert isinstance(f["unplug"]["transaction_id"], str)
    calls = s["ocpp_calls"]
    assert calls["SetVariables"] == 1 and calls["TransactionEvent"] >= 4
    assert calls["NotifyEvent"] >= 3  # delays on / off, the override
    for v16 in ("ChangeConfiguration", "StartTransaction", "StopTransaction", "DataTransfer"):
        assert v16 not in calls, v16
    out = r.stdout
    assert "OCPP CSMS→CS SetChargingProfile evseId=1 chargingProfile={id=1" in out
    assert "OCPP CS→CSMS SetChargingProfileResponse status=Accepted" in out
    assert "OCPP CS→CSMS NotifyEvent EVSE 1 ManualOverride=true" in out
    assert "OCPP CS→CSMS NotifyEvent EVSE 1 RandomisedDelay=true" in out
    assert "connectorStatus=Occupied evseId=1" in out
    assert "TransactionEvent Started CablePluggedIn tx %s" % f["plug_in"]["transaction_id"] \
        in out
    assert "TransactionEvent Ended AbnormalCondition tx %s" % f["plug_in"]["transaction_id"] \
        in out
    assert "EVCommunicationLost tx %s" % f["unplug"]["transaction_id"] in out
    _check_outputs(tmp_path, r)


@pytest.mark.parametrize("env, args, says", [
    ({"OCPP": "2.1"}, (), "OCPP '2.1': must be one of 1.6, 2.0.1"),
    ({"DEMO": "fast"}, (), "DEMO=fast: must be interactive"),
    ({"DEMO_VM": "jython"}, (), "must be micropython or cpython"),
    ({}, ("--time-scale", "0"), "--time-scale 0: must be in (0, 10]"),
    ({}, ("--random-delay-max-s", "1801"), "must be 0..1800"),
    ({"DEMO": "interactive"}, (), "DEMO=interactive needs a terminal"),
])
def test_make_demo_refuses_bad_options_exit_2(tmp_path, env, args, says):
    """UK-8 style input checks of `make demo`: an unknown OCPP version, DEMO mode or VM, an
    out-of-range time scale or random delay ceiling, and DEMO=interactive without a
    terminal each exit 2 saying why, before anything is started."""
    r = _run_demo(tmp_path, *args, env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert says in r.stderr
    assert not (tmp_path / "logs").exists()


def test_make_demo_without_mosquitto_says_how_to_install(tmp_path, monkeypatch, capsys):
    """Without the mosquitto broker installed the demo exits 2 and says which package to
    install (the demo starts its own broker; no system service is needed)."""
    monkeypatch.setattr(processes, "MOSQUITTO_PATHS", ())
    monkeypatch.setenv("PATH", str(tmp_path))  # neither mosquitto nor mosquitto_passwd
    assert demo.main(["--out", str(tmp_path)]) == 2
    assert "sudo apt-get install mosquitto" in capsys.readouterr().err
