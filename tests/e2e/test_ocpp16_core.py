"""OCPP 1.6J end to end over real WebSockets on loopback: the test CSMS (sim_hardware/csms16.py),
`python -m gateway` and `python -m sim_hardware` (the firmware core on the sim board), named
after the OCTT cases they mirror."""

import subprocess
import sys

from ocpp.v16 import call
from ocpp16_fixture import REPO


def test_tc_001_cold_boot(csms, sim, start_gateway):
    """TC_001 Cold boot: BootNotification accepted, StatusNotification Available for
    connector 0 and connector 1, then Heartbeat at the interval the CSMS gave."""
    csms.boot_interval_s = 1
    start_gateway(csms, sim)
    boot = csms.wait_for("BootNotification")
    assert boot["chargePointVendor"] and boot["chargePointModel"]
    assert csms.station_ids == ["CS001"]
    csms.wait_status(0, "Available")
    st = csms.wait_status(1, "Available")
    assert st["errorCode"] == "NoError"
    csms.wait_for("Heartbeat", timeout_s=5)
    actions = csms.actions()
    assert actions[0] == "BootNotification"


def test_tc_003_tc_004_1_regular_charging_session(csms, sim, start_gateway):
    """TC_003 / TC_004_1 Regular charging session (free vend): plug in -> Preparing (or
    SuspendedEV: the firmware offers at once and reports the EV not yet asking), Authorize +
    StartTransaction with meterStart, Charging; unplug -> StopTransaction with meterStop and
    reason EVDisconnected, Available again."""
    start_gateway(csms, sim)
    csms.wait_status(1, "Available")
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    auth = csms.wait_for("Authorize")
    start = csms.wait_for("StartTransaction")
    assert start["connectorId"] == 1 and start["idTag"] == auth["idTag"] == "FREEVEND"
    assert isinstance(start["meterStart"], int) and start["meterStart"] >= 0
    csms.wait_status(1, "Charging")
    plugged = csms.statuses(1)[1]
    assert plugged in ("Preparing", "SuspendedEV"), csms.statuses(1)
    sim.wait(lambda s: s["draw_ma"] > 0, 10, "current to flow")
    sim.control("unplug")
    stop = csms.wait_for("StopTransaction")
    assert stop["transactionId"] == 1
    assert stop["reason"] == "EVDisconnected"
    assert stop["meterStop"] >= start["meterStart"]
    csms.wait_status(1, "Available", timeout_s=10)
    assert csms.statuses(1).count("Available") >= 2
    order = [a for a in csms.actions() if a in ("StartTransaction", "StopTransaction")]
    assert order == ["StartTransaction", "StopTransaction"]


def test_bad_arguments_exit_2(tmp_path):
    """DESIGN §3.3: bad arguments exit 2 with a clear message."""
    base = [sys.executable, "-m", "gateway", "--csms", "ws://127.0.0.1:9/ocpp",
            "--station-id", "CS001", "--state-dir", str(tmp_path)]
    cases = [
        (["--ocpp", "1.5", "--evse", "socket://127.0.0.1:7000"], "invalid choice"),
        (["--ocpp", "1.6"], "--evse"),
        (["--ocpp", "1.6", "--evse", "socket://nohost"], "socket://HOST:PORT"),
        (["--ocpp", "1.6", "--evse", "bogus://x"], "unknown scheme"),
        (["--ocpp", "2.0.1"], "--evse"),
    ]
    for extra, message in cases:
        r = subprocess.run(base + extra, cwd=REPO, capture_output=True, text=True, timeout=20)
        assert r.returncode == 2, (extra, r.stderr)
        assert message in r.stderr, (extra, r.stderr)


def test_tc_010_remote_start_cable_plugged_in_first(csms, sim, start_gateway):
    """TC_010 Remote start, cable plugged in first (no free vend): the plugged connector
    waits in Preparing with no transaction; RemoteStartTransaction is Accepted and starts
    the transaction with the CSMS's idTag; the EV charges."""
    start_gateway(csms, sim, config={"free_vend_id_tag": None})
    csms.wait_status(1, "Available")
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    csms.wait_status(1, "Preparing")
    sim.wait(lambda s: s["owner_paused"], 5, "the firmware to hold the charge")
    assert csms.calls("StartTransaction") == []
    r = csms.request(call.RemoteStartTransaction(id_tag="TAG-42", connector_id=1))
    assert r.status == "Accepted"
    start = csms.wait_for("StartTransaction")
    assert start["idTag"] == "TAG-42" and start["connectorId"] == 1
    csms.wait_status(1, "Charging", timeout_s=10)
    sim.wait(lambda s: s["draw_ma"] > 0, 10, "current to flow")
    r = csms.request(call.RemoteStartTransaction(id_tag="TAG-43", connector_id=1))
    assert r.status == "Rejected"  # a transaction is running there
    r = csms.request(call.RemoteStartTransaction(id_tag="TAG-44", connector_id=7))
    assert r.status == "Rejected"  # no such connector


def test_tc_013_hard_reset_reaches_the_firmware(csms, sim, start_gateway):
    """TC_013 Hard reset without a transaction: Reset(Hard) is Accepted, the firmware
    reboots (CMD_RESET 1 on the link), the connector reports Available again."""
    start_gateway(csms, sim)
    csms.wait_status(1, "Available")
    resets = sim.status()["resets"]
    r = csms.request(call.Reset(type="Hard"))
    assert r.status == "Accepted"
    sim.wait(lambda s: s["resets"] > resets, 10, "the firmware to reboot")
