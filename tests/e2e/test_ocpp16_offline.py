"""OCPP 1.6J offline behaviour end to end, named after the OCTT 1.6 cases it mirrors: the test
CSMS (sim_hardware/csms16.py: go_down / come_back, fail), `python -m gateway` and `python -m
sim_hardware --meter SDM630` (the firmware polls an emulated MID meter: the meter's own
register is the truth the energies are checked against, within its 1 Wh resolution).

The firmware ends a session when the cable comes out (it has no local stop of its own: no
card reader), so where a case has the driver stop the transaction "locally" the EV
unplugs, and the StopTransaction says EVDisconnected (the cases accept "Local or
omitted"); the connector is then Available, not Finishing."""

import datetime
import signal
import statistics
import time

import pytest
from ocpp.v16 import call
from ocpp16_fixture import FAST_METER_ARGS, Sim
from ocpp16_fixture import charge as _charge
from ocpp16_fixture import import_wh as _import_wh

FAST = {"reconnect_max_s": 1}  # the gateway retries the CSMS at least every second


@pytest.fixture
def meter_sim():
    s = Sim(extra_args=FAST_METER_ARGS)
    s.control("set_ev", response_ms=200)
    yield s
    s.stop()


def _stop_drawing(sim):
    """The EV stops drawing; once the firmware has read the meter after that, the meter's
    register is the session's last: -> it."""
    sim.control("draw", a=0)
    st = sim.wait(lambda s: s["draw_ma"] == 0 and not s["contacts"], 15, "the EV to stop")
    sim.wait(lambda s: s["time_ms"] >= st["time_ms"] + 1500, 15, "a few meter polls")
    return _import_wh(sim)


def _unix(ts):
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def _index(csms, action, where=lambda p: True):
    """Position in the CSMS's message log of the first call of action matching where."""
    for i, (d, t, a, p) in enumerate(list(csms.messages)):
        if d == "in" and t == 2 and a == action and where(p):
            return i
    raise AssertionError("no %s in %s" % (action, csms.actions()))


def _set(csms, key, value):
    assert csms.request(call.ChangeConfiguration(key=key, value=value)).status == "Accepted"


def test_tc_036_connection_loss_during_transaction(csms, meter_sim, start_gateway):
    """TC_036 Connection loss during a transaction: with MeterValueSampleInterval 2 s the
    CSMS becomes unreachable (connections refused) for 7 s while the EV charges; the
    MeterValues sampled meanwhile are queued and, once the CSMS is back, all sent before any
    new one, in chronological order, 2 s apart (the median; ±1 s of timestamp rounding, a
    late one 4 s), each with the transactionId, context Sample.Periodic, format Raw; then the
    StopTransaction."""
    start_gateway(csms, meter_sim, FAST)
    csms.wait_status(1, "Available")
    _set(csms, "MeterValueSampleInterval", "2")
    _charge(meter_sim)
    start = csms.wait_for("StartTransaction")
    csms.wait_status(1, "Charging")
    tx_id = csms.transactions[-1][0]
    csms.wait_for("MeterValues", timeout_s=10)
    csms.go_down()
    down_at = time.time()
    time.sleep(7)
    sent_before = len(csms.calls("MeterValues"))
    csms.come_back()
    up_at = time.time()
    csms.wait_for("BootNotification", count=2, timeout_s=15)
    csms.wait_for("MeterValues", count=sent_before + 4, timeout_s=15)
    after = _stop_drawing(meter_sim)
    meter_sim.control("unplug")
    stop = csms.wait_for("StopTransaction", timeout_s=15)
    mvs = csms.calls("MeterValues")
    stamps = [_unix(p["meterValue"][0]["timestamp"]) for p in mvs]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), stamps
    # 2 s apart: whole-second timestamps give 1..3 s; a sample the loaded event loop took
    # late (the sampler keeps its 2 s grid) may leave a gap of up to 4 s
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert all(1 <= g <= 4 for g in gaps) and statistics.median(gaps) == 2, stamps
    queued = [s for s in stamps if down_at <= s < up_at]
    assert len(queued) >= 3, (queued, down_at, up_at)
    for p in mvs:
        assert p["transactionId"] == tx_id and p["connectorId"] == 1
        for sv in p["meterValue"][0]["sampledValue"]:
            assert sv["context"] == "Sample.Periodic" and sv["format"] == "Raw", sv
    assert stop["transactionId"] == tx_id
    assert abs(stop["meterStop"] - after) <= 1 and start["meterStart"] <= stop["meterStop"]


def test_tc_037_1_offline_start_transaction(csms, meter_sim, start_gateway):
    """TC_037_1 Offline start transaction: the CSMS drops the connection and refuses every
    new WebSocket handshake (HTTP 503) when the EV plugs in; the firmware charges on its
    own (free vend) and the gateway queues the transaction; when the CSMS accepts again the
    StartTransaction comes (its timestamp and meterStart those of the
    plug-in, the meter's register then), answered Accepted, then a StatusNotification
    Charging; the MeterValues sampled offline follow with its transactionId."""
    start_gateway(csms, meter_sim, FAST)
    csms.wait_status(1, "Available")
    _set(csms, "MeterValueSampleInterval", "1")
    csms.refuse(True)
    csms.drop()
    plugged_at = time.time()
    before = _charge(meter_sim)
    time.sleep(3)
    assert csms.calls("StartTransaction") == [] and csms.connections == 1
    csms.refuse(False)
    up_at = time.time()
    start = csms.wait_for("StartTransaction", timeout_s=15)
    assert csms.connections == 2  # the refused handshakes never reached the OCPP layer
    tx_id, _, _, _ = csms.transactions[-1]
    assert start["idTag"] == "FREEVEND" and start["connectorId"] == 1
    assert abs(start["meterStart"] - before) <= 1
    assert plugged_at - 1 <= _unix(start["timestamp"]) < up_at
    csms.wait_status(1, "Charging", timeout_s=10)
    assert _index(csms, "StatusNotification", lambda p: p["status"] == "Charging") > _index(
        csms, "StartTransaction")
    mv = csms.wait_for("MeterValues", timeout_s=10)
    assert mv["transactionId"] == tx_id
    assert _index(csms, "MeterValues") > _index(csms, "StartTransaction")
    offline = [p for p in csms.calls("MeterValues")
               if _unix(p["meterValue"][0]["timestamp"]) < up_at]
    assert offline, "no MeterValues sampled while the CSMS was unreachable"


def test_tc_038_offline_stop_transaction(csms, meter_sim, start_gateway):
    """TC_038 Offline stop transaction: a transaction runs, the CSMS becomes unreachable,
    the driver ends the charge (the EV stops, the cable comes out) while offline; once the
    CSMS is back the StopTransaction arrives with the transaction's id, reason
    EVDisconnected (module docstring), and meterStop - meterStart = the energy the meter
    measured; the connector is reported Available."""
    start_gateway(csms, meter_sim, FAST)
    csms.wait_status(1, "Available")
    before = _charge(meter_sim)
    start = csms.wait_for("StartTransaction")
    tx_id = csms.transactions[-1][0]
    csms.wait_status(1, "Charging")
    csms.go_down()
    after = _stop_drawing(meter_sim)
    meter_sim.control("unplug")
    meter_sim.wait(lambda s: s["wire_session"] == "available", 10, "the session to end")
    time.sleep(1)
    csms.come_back()
    stop = csms.wait_for("StopTransaction", timeout_s=15)
    assert stop["transactionId"] == tx_id and stop["reason"] == "EVDisconnected"
    assert abs((stop["meterStop"] - start["meterStart"]) - (after - before)) <= 1
    csms.wait_for("BootNotification", count=2)  # the reconnection's
    boot2 = max(i for i, (d, t, a, p) in enumerate(list(csms.messages))
                if d == "in" and a == "BootNotification") + 1

    def late():
        return [p["status"] for d, t, a, p in list(csms.messages)[boot2:]
                if d == "in" and a == "StatusNotification" and p["connectorId"] == 1]

    csms.wait_until(late, 10, "connector 1's status after the reconnection")
    assert late()[-1] == "Available", late()


def test_tc_039_offline_transaction(csms, meter_sim, start_gateway):
    """TC_039 Offline transaction: one transaction online first (the CSMS's ids move on),
    then, with the CSMS unreachable, a whole second one (plug-in, charge, stop, unplug);
    once the CSMS is back its StartTransaction and its StopTransaction arrive in that
    order, the StopTransaction with the transactionId the CSMS gave the late
    StartTransaction, meterStop - meterStart = the meter's energy of that session."""
    start_gateway(csms, meter_sim, FAST)
    csms.wait_status(1, "Available")
    _charge(meter_sim)
    _stop_drawing(meter_sim)
    meter_sim.control("unplug")
    csms.wait_for("StopTransaction", timeout_s=15)
    csms.go_down()
    before = _charge(meter_sim)
    after = _stop_drawing(meter_sim)
    meter_sim.control("unplug")
    meter_sim.wait(lambda s: s["wire_session"] == "available", 10, "the session to end")
    csms.come_back()
    stop = csms.wait_for("StopTransaction", count=2, timeout_s=15)
    start = csms.wait_for("StartTransaction", count=2)
    tx_id, _, meter_start, _ = csms.transactions[-1]
    assert len(csms.transactions) == 2 and tx_id == 2
    assert meter_start == start["meterStart"] and abs(meter_start - before) <= 1
    assert stop["transactionId"] == tx_id and stop["reason"] == "EVDisconnected"
    assert abs((stop["meterStop"] - start["meterStart"]) - (after - before)) <= 1
    assert _index(csms, "StopTransaction", lambda p: p["transactionId"] == tx_id) > _index(
        csms, "StartTransaction", lambda p: p["meterStart"] == meter_start)


def test_tc_032_1_power_failure_during_a_transaction(csms, meter_sim, start_gateway):
    """TC_032_1 Power failure during a transaction (the whole station: the charger's mains
    and the gateway go down together; the firmware cannot send before it goes, so it
    records STOP_POWER_LOSS when it is back, from the meter's register): after the power
    returns the gateway boots again, BootNotification, StatusNotification of connector 0
    Available and of the connector Preparing (the EV still plugged in, no free vend: no new
    transaction without an authorisation), and the StopTransaction of the transaction that
    ran, reason PowerLoss, meterStop the meter's register at the cut."""
    gw = start_gateway(csms, meter_sim, dict(FAST, free_vend_id_tag=None))
    csms.wait_status(1, "Available")
    meter_sim.control("plug", state="B", pp_ohms=220)
    meter_sim.control("draw", a=16, phases=3)
    csms.wait_status(1, "Preparing")
    before = _import_wh(meter_sim)
    assert csms.request(call.RemoteStartTransaction(id_tag="TAG-32",
                                                    connector_id=1)).status == "Accepted"
    start = csms.wait_for("StartTransaction")
    csms.wait_status(1, "Charging")
    meter_sim.wait(lambda s: s["draw_ma"] > 15000, 15, "16 A to flow")
    time.sleep(2)
    gw.proc.send_signal(signal.SIGKILL)
    meter_sim.control("power_cut", s=3)
    at_cut = _import_wh(meter_sim)
    gw.proc.wait(5)
    meter_sim.wait(lambda s: s["power"] == 1, 15, "the power to return")
    start_gateway(csms, meter_sim, dict(FAST, free_vend_id_tag=None))
    csms.wait_for("BootNotification", count=2, timeout_s=15)
    boot2 = max(i for i, (d, t, a, p) in enumerate(list(csms.messages))
                if d == "in" and a == "BootNotification") + 1  # the restarted gateway's
    stop = csms.wait_for("StopTransaction", timeout_s=20)
    assert stop["reason"] == "PowerLoss" and stop["transactionId"] == csms.transactions[0][0]
    assert abs(start["meterStart"] - before) <= 1
    assert abs(stop["meterStop"] - at_cut) <= 1, (stop["meterStop"], at_cut, before)
    csms.wait_status(0, "Available")
    time.sleep(2)  # the firmware's new session, held for an authorisation
    after_boot = [(p["connectorId"], p["status"]) for d, t, a, p in list(csms.messages)[boot2:]
                  if d == "in" and a == "StatusNotification"]
    assert (0, "Available") in after_boot, after_boot
    assert [s for c, s in after_boot if c == 1][-1] == "Preparing", after_boot
    assert len(csms.calls("StartTransaction")) == 1


def test_transaction_message_retry_after_call_error(csms, sim, start_gateway):
    """OCPP 1.6 §4.10 TransactionMessageAttempts / TransactionMessageRetryInterval, end to
    end: with 3 attempts and 1 s, a StartTransaction the CSMS answers twice with a CallError
    is sent again 1 s and then 2 s (interval × attempts) later and accepted the third time;
    a StopTransaction refused three times is discarded (the reason logged) and the queue
    goes on: the next session's StartTransaction follows."""
    gw = start_gateway(csms, sim, FAST)
    csms.wait_status(1, "Available")
    _set(csms, "TransactionMessageAttempts", "3")
    _set(csms, "TransactionMessageRetryInterval", "1")
    arrived = []  # (action, monotonic s) of each station call
    csms.on_call = lambda action, payload: arrived.append((action, time.monotonic()))
    csms.fail("StartTransaction", 2)
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    csms.wait_for("StartTransaction", count=3, timeout_s=15)
    t = [at for action, at in arrived if action == "StartTransaction"]
    assert t[1] - t[0] >= 0.9 and t[2] - t[1] >= 1.9, t  # 1 s x 1, then 1 s x 2
    errors = [m for m in list(csms.messages) if m[0] == "out" and m[1] == 4]
    assert len(t) == 3 and len(errors) == 2
    assert len(csms.calls("Authorize")) == 1  # the idTag authorised at the first try only
    tx_id = csms.transactions[-1][0]
    csms.wait_status(1, "Charging")
    csms.fail("StopTransaction", 3)
    sim.control("unplug")
    csms.wait_for("StopTransaction", count=3, timeout_s=15)
    stops = csms.calls("StopTransaction")
    assert all(p["transactionId"] == tx_id for p in stops)
    sim.control("plug", state="B", pp_ohms=220)
    nxt = csms.wait_for("StartTransaction", count=4, timeout_s=15)
    assert nxt["meterStart"] >= 0
    assert len(csms.calls("StopTransaction")) == 3  # the refused one is not sent again
    log = gw.log_text()
    assert "tx_stop" in log and "discarded after 3 attempts" in log, log[-2000:]
