"""The conformance suite's HIL target (sim_hardware/rig.py, docs/hil.md) without hardware:
the emulated rig (`python -m sim_hardware.rig_emulator`: the rig controller's own command
handler driving the sim board's pilot line, PP, button and mains, the board's link on a
second pty) in real time, reached through two ptys exactly as a real rig is through its USB
serial port and the board's UART."""

import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import serial

from conformance.checks.common import QUICK
from conformance.result import NotShown
from sim_hardware.rig import RigError, RigTarget

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30
QUICK_IDS = {"IEC-STATE": "pass", "IEC-CLOSE": "pass", "UK-S6": "pass",
             "IEC-OPEN": "not shown", "AG-11": "not shown", "AG-13": "not shown",
             "UK-9": "not shown"}
NOT_SHOWN_BECAUSE = {"IEC-OPEN": ("load",), "AG-11": ("load",), "AG-13": ("restorations",),
                     "UK-9": ("load", "meter")}
RIG_STATE_KEYS = ("ev", "ready", "vent", "diode", "short", "gap", "pp", "out", "mains", "btn")


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    """The emulated rig process -> {"rig": pty path, "link": pty path}."""
    err_path = tmp_path_factory.mktemp("rig") / "stderr"
    with open(err_path, "w") as err:
        p = subprocess.Popen([sys.executable, "-m", "sim_hardware.rig_emulator"], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=err)
    paths = {}
    out = b""
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while len(paths) < 2:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([p.stdout], [], [], left)[0]:
                break
            chunk = os.read(p.stdout.fileno(), 4096)  # unbuffered: select sees what is left
            if not chunk:
                break
            out += chunk
            for line in out.decode(errors="replace").splitlines():
                key, _, value = line.partition(": ")
                if key in ("rig", "link"):
                    paths[key] = value.strip()
        if len(paths) < 2:
            p.terminate()
            p.wait(10)
            pytest.fail("the emulated rig did not start: %r %s" % (out, err_path.read_text()))
        yield paths
    finally:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        p.stdout.close()


def _conformance(*args, timeout_s=300):
    return subprocess.run([sys.executable, "-m", "conformance", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout_s)


def test_hil_target_runs_quick_checks_on_the_emulated_rig(rig, tmp_path):
    """`python -m conformance --target hil`: the checks the rig can perform pass (IEC-STATE
    with the band-gap resistor, the diode and the CP short; IEC-CLOSE; UK-S6 over the link),
    those needing what the rig lacks (a load, a meter, hundreds of fast restorations) are
    "not shown" with that reason, never passed; the report is written."""
    out = tmp_path / "report"
    p = _conformance("--target", "hil", "--port", rig["rig"], "--link-port", rig["link"],
                     "--only", ",".join(QUICK_IDS), "--out", str(out))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["meta"]["target"] == "hil"
    verdicts = {r["id"]: r["verdict"] for r in report["requirements"]}
    assert verdicts == QUICK_IDS
    for req in report["requirements"]:
        for c in req["checks"]:
            if c["verdict"] == "pass":
                assert any(f["ok"] for f in c["figures"]), c["check"]
                assert all(f["ok"] is not False for f in c["figures"]), c["check"]
            else:
                for word in NOT_SHOWN_BECAUSE[req["id"]]:
                    assert word in c["reason"], (req["id"], c["reason"])
    closed = [f for r in report["requirements"] if r["id"] == "IEC-CLOSE"
              for c in r["checks"] for f in c["figures"] if f["name"].startswith("B2 -> C2")]
    assert 0 < closed[0]["value"] <= 3000  # measured on the wall clock through the rig
    assert (out / "report.html").stat().st_size > 1000
    assert "requirement IDs: pass 3, fail 0, not shown 4" in p.stdout


def _state(reply):
    fields = dict(w.partition("=")[::2] for w in reply.split()[1:])
    return {k: fields[k] for k in RIG_STATE_KEYS}


def test_rig_protocol_bad_input_gets_err_and_changes_nothing(rig):
    """docs/hil.md: an unknown command, a bad argument, a half-bad EV line, non-ASCII
    bytes and an overlong line each get one ERR line; the rig's outputs and its EV are as
    before."""
    with serial.Serial(rig["rig"], 115200, timeout=2) as s:
        def ask(line):
            s.write(line + b"\n")
            return s.readline().decode("ascii", "replace").strip()

        assert ask(b"RESET") == "OK"
        assert ask(b"PLUG B 220") == "OK"
        assert ask(b"EV ready=0") == "OK"  # stays in B whatever the charger offers
        before = _state(ask(b"READ"))
        for line in (b"FLY", b"PLUG Z 220", b"PLUG B 330", b"EV ready=0 diode=7",
                     b"EV soc=50", b"BUTTON -5", b"MAINS OFF 0", b"GAP yes",
                     b"\xc3\xa9READ", b"PP " + b"1" * 200):
            reply = ask(line)
            assert reply.startswith("ERR "), (line, reply)
        assert _state(ask(b"READ")) == before
        assert ask(b"RESET") == "OK"


def test_rig_lab_reports_what_the_rig_cannot_do_as_not_shown(rig):
    """The lab on the rig: its capabilities are the rig's (pilot, contactor, mains,
    button) and the link; a voltage on the mains, a discharging EV, a PP resistor outside
    the bank, a pilot voltage other than the band gap, the EV's current and the meter's
    truth raise NotShown (the runner's "not shown" with the reason); what it can do works;
    a setting a check changes is set again for the next lab."""
    target = RigTarget(rig["rig"], rig["link"])
    try:
        assert target.capabilities == {"pilot", "contactor", "mains", "button", "link"}
        lab = target.lab(settings=QUICK)
        assert lab.duty_permille() == 1000  # a fresh board, state A
        assert target.known["random_delay_max_s"] == 0
        for act in (lambda: lab.do("mains", voltage_v=200), lambda: lab.do("discharge", a=10),
                    lambda: lab.do("plug", state="B", pp_ohms=330),
                    lambda: lab.do("set_ev", soc=50), lambda: lab.force_cp(5000, -12000),
                    lab.ev_current_ma, lab.meter_truth_wh,
                    lambda: target.lab(meter="SDM630"), lambda: target.lab(ev="slow_follow")):
            with pytest.raises(NotShown):
                act()
        with pytest.raises(ValueError):
            lab.do("fly")
        lab.do("plug", state="B", pp_ohms=220)
        lab.do("draw", a=16, phases=3)
        assert lab.wait_until(lab.contactor_closed, 10000) is not None
        assert 0 < lab.duty_permille() < 1000 and 8000 > lab.cp_high_mv() > 4500  # C
        lab.link_connect()
        st, _ = lab.setting("random_delay_max_s", 5)
        assert st == 0 and "random_delay_max_s" not in target.known
    finally:
        target.close()


def test_rig_error_when_the_port_does_not_open(tmp_path):
    """The CLI: a rig port that does not exist -> exit 2 and a clear message."""
    p = _conformance("--target", "hil", "--port", str(tmp_path / "ttyNONE"),
                     "--out", str(tmp_path / "r"), timeout_s=60)
    assert p.returncode == 2
    assert "cannot open the rig port" in p.stderr


def test_rig_error_when_nothing_answers_hello():
    """A port where nothing answers (a charger's own UART, a board at its REPL prompt that
    is busy): no rig."""
    master, slave = os.openpty()
    try:
        with pytest.raises(RigError, match="did not answer 'HELLO'"):
            RigTarget(os.ttyname(slave))
    finally:
        os.close(master)
        os.close(slave)


def _answering(reply):
    """A pty whose other end answers every line with reply -> (path, closer)."""
    master, slave = os.openpty()
    stop = threading.Event()

    def serve():
        buf = b""
        while not stop.is_set():
            if select.select([master], [], [], 0.05)[0]:
                try:
                    buf += os.read(master, 1024)
                except OSError:
                    return
                while b"\n" in buf:
                    line, _, buf = buf.partition(b"\n")
                    if line.strip():
                        os.write(master, reply)

    t = threading.Thread(target=serve, daemon=True)
    t.start()

    def close():
        stop.set()
        t.join(5)
        os.close(master)
        os.close(slave)

    return os.ttyname(slave), close


def test_rig_error_when_something_else_answers():
    """A MicroPython REPL (the rig program not running) or a rig of another protocol."""
    for reply, words in ((b"Traceback (most recent call last):\r\n", "not the rig protocol"),
                         (b"OK rig=2 fw=9 caps=pilot cycle_ms=100\n", "protocol 1")):
        path, close = _answering(reply)
        try:
            with pytest.raises(RigError, match=words):
                RigTarget(path)
        finally:
            close()


def test_rig_error_when_the_link_port_does_not_open(rig, tmp_path):
    with pytest.raises(RigError, match="cannot open the link port"):
        RigTarget(rig["rig"], str(tmp_path / "ttyNONE"))
    RigTarget(rig["rig"]).close()  # the rig's port was let go
