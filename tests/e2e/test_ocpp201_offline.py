"""OCPP 2.0.1 offline behaviour end to end (Part 2 E04, E08, E11-E14, B04; K06/K07 where they
touch offline), named after the OCTT 2.0.1 cases it mirrors, the twin of
test_ocpp16_offline.py: the test CSMS (sim_hardware/csms201.py: go_down / come_back, fail),
`python -m gateway --ocpp 2.0.1` and `python -m sim_hardware --meter SDM630` (the firmware
polls an emulated MID meter: its register is the truth the energies are checked against,
within its 1 Wh resolution).

The firmware ends a session when the cable comes out (free vend, TxStopPoint EVConnected),
so a transaction ends with Ended, triggerReason EVCommunicationLost, stoppedReason
EVDisconnected. OCTT's RetryBackOffWaitMinimum is the gateway's reconnect_max_s here (1 s):
the gateway retries the CSMS at least every second."""

import datetime
import time

import pytest
from ocpp.v201 import call
from ocpp16_fixture import FAST_METER_ARGS, Sim
from ocpp16_fixture import charge as _charge
from ocpp16_fixture import import_wh as _import_wh

FAST = {"reconnect_max_s": 1}


@pytest.fixture
def meter_sim():
    s = Sim(extra_args=FAST_METER_ARGS)
    s.control("set_ev", response_ms=200)
    yield s
    s.stop()


def _set(csms, component, variable, value, instance=None):
    var = {"name": variable} if instance is None else {"name": variable, "instance": instance}
    r = csms.request(call.SetVariables(set_variable_data=[{
        "component": {"name": component}, "variable": var, "attribute_value": str(value)}]))
    assert r.set_variable_result[0]["attribute_status"] == "Accepted", r


def _stop_and_unplug(sim):
    """The EV stops drawing; once the firmware has read the meter after that the register
    is the session's last: -> it; then the cable comes out and the session ends."""
    sim.control("draw", a=0)
    st = sim.wait(lambda s: s["draw_ma"] == 0 and not s["contacts"], 15, "the EV to stop")
    sim.wait(lambda s: s["time_ms"] >= st["time_ms"] + 1500, 15, "a few meter polls")
    after = _import_wh(sim)
    sim.control("unplug")
    sim.wait(lambda s: s["wire_session"] == "available", 10, "the session to end")
    return after


def _unix(ts):
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def _events(csms, tx_id=None):
    return csms.transaction_events(tx_id)


def _started(csms, count=1):
    return csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started",
                         count=count)


def _ended(csms, count=1, timeout_s=15):
    return csms.wait_for("TransactionEvent", timeout_s,
                         where=lambda p: p["eventType"] == "Ended", count=count)


def _energy(e):
    return e["meterValue"][0]["sampledValue"][0]["value"]


def _same_event(a, b):
    """A copy sent again is the same event; only `offline` is decided at each send."""
    return {k: v for k, v in a.items() if k != "offline"} == \
        {k: v for k, v in b.items() if k != "offline"}


def _assert_complete(csms, tx_id):
    """E04 / K06: the transaction's events arrived, seqNo 0..n without a gap, Started first,
    Ended last. -> its events. At least once: an event whose CallResult was lost when the
    CSMS went away is sent again, and the copy is the same event (transactionId, seqNo and
    content), which is how a CSMS tells it (the 2.0.1 idempotency key)."""
    events, first = [], {}
    for e in _events(csms, tx_id):
        if e["seqNo"] in first:
            assert _same_event(e, first[e["seqNo"]]), (first[e["seqNo"]], e)
            continue
        first[e["seqNo"]] = e
        events.append(e)
    assert [e["seqNo"] for e in events] == list(range(len(events))), [
        (e["seqNo"], e["eventType"]) for e in events]
    assert events[0]["eventType"] == "Started" and events[-1]["eventType"] == "Ended"
    return events


def _boots(csms):
    return len(csms.calls("BootNotification"))


def _statuses_after(csms, boot_count):
    """(evseId, connectorStatus) of the StatusNotifications after the boot_count-th
    BootNotification."""
    out, boots = [], 0
    for d, t, a, p in list(csms.messages):
        if d == "in" and t == 2 and a == "BootNotification":
            boots += 1
        elif d == "in" and t == 2 and a == "StatusNotification" and boots >= boot_count:
            out.append((p["evseId"], p["connectorStatus"]))
    return out


# --- E11 / E12 / E08: transactions across an offline period -----------------------------

def test_tc_e_40_connection_loss_during_transaction(csms201, meter_sim, start_gateway):
    """TC_E_40 Offline Behaviour - Connection loss during transaction (E11): with
    TxUpdatedInterval 2 s the CSMS becomes unreachable for 8 s while the EV charges; the
    Updated events of that period are queued and, once the CSMS is back, delivered before
    any newer one, in time order, with offline true (events before the loss and after the
    reconnection without it); the transaction's seqNo runs 0..n without a gap or copy; the
    Ended register - the Started register = the meter's energy."""
    start_gateway(csms201, meter_sim, FAST)
    csms201.wait_status(1, "Available")
    _set(csms201, "SampledDataCtrlr", "TxUpdatedInterval", 2)
    before = _charge(meter_sim)
    tx_id = _started(csms201)["transactionInfo"]["transactionId"]
    csms201.wait_for("TransactionEvent", where=lambda p: p["triggerReason"]
                     == "MeterValuePeriodic")
    csms201.go_down()
    down_at = time.time()
    time.sleep(8)
    sent_before = len(_events(csms201))
    csms201.come_back()
    up_at = time.time()
    csms201.wait_for("BootNotification", count=2, timeout_s=15)
    csms201.wait_until(lambda: len(_events(csms201)) >= sent_before + 3, 15,
                       "the queued Updated events")
    after = _stop_and_unplug(meter_sim)
    ended = _ended(csms201)
    events = _assert_complete(csms201, tx_id)
    periodic = [e for e in events if e["triggerReason"] == "MeterValuePeriodic"]
    stamps = [_unix(e["timestamp"]) for e in periodic]
    assert stamps == sorted(stamps), stamps
    flagged = [_unix(e["timestamp"]) for e in periodic if e.get("offline")]
    inside = [e for e in periodic if down_at + 2 <= _unix(e["timestamp"]) <= up_at - 1]
    assert len(flagged) >= 3 and all(down_at - 1 <= t <= up_at for t in flagged) and all(
        e.get("offline") is True for e in inside), [(e["timestamp"], e.get("offline"))
                                                     for e in periodic]
    assert not any(e.get("offline") for e in events if _unix(e["timestamp"]) < down_at - 1)
    assert not any(e.get("offline") for e in events if _unix(e["timestamp"]) > up_at + 2)
    assert abs((_energy(ended) - _energy(events[0])) - (after - before)) <= 1


def test_tc_e_43_transaction_during_offline_period(csms201, meter_sim, start_gateway):
    """TC_E_43 Offline Behaviour - Transaction during offline period (E12): a whole
    transaction (plug-in, charge, stop, unplug) while the CSMS is unreachable; nothing is
    sent meanwhile; once it is back the transaction's events arrive, all with offline true,
    Started (timestamp and Transaction.Begin register those of the plug-in) first and Ended
    last, seqNo 0..n; Ended - Started register = the meter's energy; the connector is
    reported Available."""
    start_gateway(csms201, meter_sim, FAST)
    csms201.wait_status(1, "Available")
    csms201.go_down()
    time.sleep(2)  # events within the second of the loss may count as online
    plugged_at = time.time()
    before = _charge(meter_sim)
    time.sleep(2)
    after = _stop_and_unplug(meter_sim)
    time.sleep(2)  # and within the second of the reconnection
    assert _events(csms201) == []
    csms201.come_back()
    up_at = time.time()
    ended = _ended(csms201)
    tx_id = ended["transactionInfo"]["transactionId"]
    assert csms201.tx_ids() == [tx_id]
    events = _assert_complete(csms201, tx_id)
    assert all(e.get("offline") is True for e in events), [
        (e["eventType"], e["triggerReason"], e["timestamp"], e.get("offline")) for e in events]
    started = events[0]
    assert plugged_at - 1 <= _unix(started["timestamp"]) < up_at
    assert abs(_energy(started) - before) <= 1
    assert abs((_energy(ended) - _energy(started)) - (after - before)) <= 1
    assert ended["triggerReason"] == "EVCommunicationLost"
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    csms201.wait_status(1, "Available", timeout_s=10)


def test_tc_e_44_stop_transaction_during_offline_period(csms201, meter_sim, start_gateway):
    """TC_E_44 Offline Behaviour - Stop transaction during offline period (E08): a
    transaction started online; the CSMS becomes unreachable; the EV stops and the cable
    comes out; once the CSMS is back the Ended event arrives with offline true, the
    transaction's id, seqNo continuing the online ones without a gap, Ended - Started
    register = the meter's energy; the connector is reported Available after the reconnect."""
    start_gateway(csms201, meter_sim, FAST)
    csms201.wait_status(1, "Available")
    before = _charge(meter_sim)
    started = _started(csms201)
    tx_id = started["transactionInfo"]["transactionId"]
    csms201.wait_status(1, "Occupied")
    time.sleep(1)
    csms201.go_down()
    online = len(_events(csms201))
    time.sleep(2)  # events within the second of the loss may count as online
    after = _stop_and_unplug(meter_sim)
    time.sleep(2)  # events within the second of the reconnection may count as online
    csms201.come_back()
    ended = _ended(csms201)
    assert ended["transactionInfo"]["transactionId"] == tx_id and ended.get("offline") is True
    assert ended["triggerReason"] == "EVCommunicationLost"
    events = _assert_complete(csms201, tx_id)
    assert len(events) > online and all(e.get("offline") is True for e in events[online:])
    assert not any(e.get("offline") for e in events[:online])
    assert abs((_energy(ended) - _energy(started)) - (after - before)) <= 1
    boots = _boots(csms201)
    csms201.wait_until(lambda: (1, "Available") in _statuses_after(csms201, boots), 10,
                       "StatusNotification Available after the reconnect")


# --- E13: MessageAttempts / MessageAttemptInterval ----------------------------------------

def _arrivals(csms):
    arrived = []  # (payload, monotonic s) of each TransactionEvent as it arrived
    csms.on_call = lambda action, p: action == "TransactionEvent" and arrived.append(
        (p, time.monotonic()))
    return arrived


def test_tc_e_51_retry_success_before_max_attempts(csms201, sim, start_gateway):
    """TC_E_51 Retry sending transaction message when failed - Success before reaching the
    max retry count - CallError (E13): with OCPPCommCtrlr.MessageAttempts[TransactionEvent]
    3 and MessageAttemptInterval[TransactionEvent] 1 s (set by SetVariables), the Started
    event the CSMS answers twice with a CallError is sent again 1 s and then 2 s later
    (interval x attempts) and accepted the third time; the three copies are the same
    (transactionId, seqNo 0); the events after it follow in order."""
    start_gateway(csms201, sim, FAST)
    csms201.wait_status(1, "Available")
    _set(csms201, "OCPPCommCtrlr", "MessageAttempts", 3, "TransactionEvent")
    _set(csms201, "OCPPCommCtrlr", "MessageAttemptInterval", 1, "TransactionEvent")
    arrived = _arrivals(csms201)
    csms201.fail("TransactionEvent", 2)
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    started = _started(csms201, count=3)
    tries = [(p, t) for p, t in arrived if p["eventType"] == "Started"]
    t = [at for _, at in tries]
    assert len(tries) == 3 and t[1] - t[0] >= 0.9 and t[2] - t[1] >= 1.9, t
    assert all(p == started for p, _ in tries)
    assert started["seqNo"] == 0
    errors = [m for m in list(csms201.messages) if m[0] == "out" and m[1] == 4]
    assert len(errors) == 2
    tx_id = started["transactionInfo"]["transactionId"]
    sim.control("unplug")
    _ended(csms201)
    events = _assert_complete(csms201, tx_id)  # the refused copies were never answered
    assert events[0] == started


def test_tc_e_50_retry_max_attempts_reached(csms201, sim, start_gateway):
    """TC_E_50 Retry sending transaction message when failed - Max retry count reached -
    CallError (E13): with MessageAttempts 3 and MessageAttemptInterval 1 s, an Updated event
    (ChargingStateChanged, the EV stops drawing) refused three times is given up (the reason
    logged) and the queue goes on: the events after it, the Ended last, take the seqNos after
    its own, so the CSMS sees the gap of the one event it never accepted."""
    gw = start_gateway(csms201, sim, FAST)
    csms201.wait_status(1, "Available")
    _set(csms201, "OCPPCommCtrlr", "MessageAttempts", 3, "TransactionEvent")
    _set(csms201, "OCPPCommCtrlr", "MessageAttemptInterval", 1, "TransactionEvent")
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    tx_id = _started(csms201)["transactionInfo"]["transactionId"]
    csms201.wait_for("TransactionEvent", where=lambda p: p["transactionInfo"].get(
        "chargingState") == "Charging")
    answered = len(_events(csms201, tx_id))
    arrived = _arrivals(csms201)
    csms201.fail("TransactionEvent", 3)
    sim.control("draw", a=0)
    csms201.wait_until(lambda: len(arrived) >= 3, 15, "three tries")
    refused = [p for p, _ in arrived[:3]]
    assert all(p == refused[0] for p in refused), refused
    assert refused[0]["triggerReason"] == "ChargingStateChanged"
    assert refused[0]["seqNo"] == answered
    sim.control("unplug")
    ended = _ended(csms201)
    nos = [e["seqNo"] for e in _events(csms201, tx_id)]
    assert nos == [n for n in range(ended["seqNo"] + 1) if n != answered], nos
    log = gw.log_text()
    assert "discarded after 3 attempts" in log, log[-2000:]


# --- B04: OfflineThreshold ----------------------------------------------------------------

def _offline_period(csms, sim, offline_s):
    """The CSMS unreachable for offline_s while EVSE 1 gets an EV (Available -> Occupied);
    -> the BootNotification count once it is back and the station reconnected."""
    csms.go_down()
    sim.control("plug", state="B", pp_ohms=220)
    time.sleep(offline_s)
    csms.come_back()
    csms.wait_for("BootNotification", count=2, timeout_s=15)
    boots = 2
    csms.wait_until(lambda: (1, "Occupied") in _statuses_after(csms, boots), 10,
                    "EVSE 1 Occupied after the reconnect")
    time.sleep(2)  # whatever else the station reports after the reconnect
    return boots


def test_tc_b_52_status_change_offline_shorter_than_threshold(csms201, sim, sim2,
                                                              start_gateway):
    """TC_B_52 Status change during offline period - < Offline Threshold (B04.FR.02): two
    EVSEs, OCPPCommCtrlr.OfflineThreshold 60 s; offline for about 3 s while EVSE 1 gets an
    EV; after the reconnect only EVSE 1 (Occupied) gets a StatusNotification, EVSE 2 whose
    status did not change none."""
    start_gateway(csms201, [sim, sim2], FAST)
    csms201.wait_status(2, "Available")
    _set(csms201, "OCPPCommCtrlr", "OfflineThreshold", 60)
    boots = _offline_period(csms201, sim, 3)
    late = _statuses_after(csms201, boots)
    assert [e for e, _ in late] == [1], late


def test_tc_b_51_status_change_offline_longer_than_threshold(csms201, sim, sim2,
                                                             start_gateway):
    """TC_B_51 Status change during offline period - > Offline Threshold (B04.FR.01): two
    EVSEs, OCPPCommCtrlr.OfflineThreshold 2 s; offline for about 5 s while EVSE 1 gets an
    EV; after the reconnect every connector gets a StatusNotification: EVSE 1 Occupied and
    EVSE 2 Available."""
    start_gateway(csms201, [sim, sim2], FAST)
    csms201.wait_status(2, "Available")
    _set(csms201, "OCPPCommCtrlr", "OfflineThreshold", 2)
    boots = _offline_period(csms201, sim, 5)
    late = _statuses_after(csms201, boots)
    assert sorted(set(late)) == [(1, "Occupied"), (2, "Available")], late


# --- E14: GetTransactionStatus while messages wait ------------------------------------------

def _hold_queue(csms):
    """Once armed (csms.fail), the next TransactionEvent is refused and the station waits
    MessageAttemptInterval (8 s) before it tries again: meanwhile its messages wait."""
    _set(csms, "OCPPCommCtrlr", "MessageAttempts", 5, "TransactionEvent")
    _set(csms, "OCPPCommCtrlr", "MessageAttemptInterval", 8, "TransactionEvent")


def _refused(csms):
    csms.wait_until(lambda: any(m[0] == "out" and m[1] == 4 for m in list(csms.messages)),
                    15, "the refused TransactionEvent")


def _status(csms, tx_id=None):
    r = csms.request(call.GetTransactionStatus(transaction_id=tx_id))
    return r.ongoing_indicator, r.messages_in_queue


def test_tc_e_29_tc_e_33_transaction_status_ongoing_with_messages_in_queue(
        csms201, sim, start_gateway):
    """TC_E_29 Check Transaction status - Transaction with id ongoing - with message in
    queue (E14.FR.02/04) and TC_E_33 - Without transactionId - with message in queue
    (E14.FR.06/07): a transaction runs, the CSMS is unreachable a few seconds (Updated
    events queue), and the first event after the reconnect is refused so the rest wait;
    then GetTransactionStatus(its id) -> ongoingIndicator true, messagesInQueue true;
    without an id -> messagesInQueue true, no ongoingIndicator; an unknown id -> false,
    false. Once the queue drained, its id -> true, false (TC_E_30)."""
    start_gateway(csms201, sim, FAST)
    csms201.wait_status(1, "Available")
    _set(csms201, "SampledDataCtrlr", "TxUpdatedInterval", 1)
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    tx_id = _started(csms201)["transactionInfo"]["transactionId"]
    _hold_queue(csms201)
    csms201.go_down()
    csms201.fail("TransactionEvent", 1)
    time.sleep(3)
    csms201.come_back()
    _refused(csms201)
    assert _status(csms201, tx_id) == (True, True)
    assert _status(csms201) == (None, True)
    assert _status(csms201, "unknown-1") == (False, False)
    sim.control("draw", a=0)  # no more Updated events: the queue can drain
    csms201.wait_until(lambda: _status(csms201, tx_id) == (True, False), 30,
                       "the queue to drain")


def test_tc_e_31_tc_e_32_transaction_status_ended_with_messages_in_queue(
        csms201, sim, start_gateway):
    """TC_E_31 Check Transaction status - Transaction with id ended - with message in queue
    (E14.FR.03/04): the transaction ends (the cable comes out) while the CSMS is
    unreachable, and after the reconnect the first event is refused so the rest wait;
    GetTransactionStatus(its id) -> ongoingIndicator false, messagesInQueue true. Once the
    Ended was delivered: false, false (TC_E_32)."""
    start_gateway(csms201, sim, FAST)
    csms201.wait_status(1, "Available")
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    tx_id = _started(csms201)["transactionInfo"]["transactionId"]
    csms201.wait_status(1, "Occupied")
    _hold_queue(csms201)
    csms201.go_down()
    csms201.fail("TransactionEvent", 1)
    time.sleep(2)
    sim.control("unplug")
    sim.wait(lambda s: s["wire_session"] == "available", 10, "the session to end")
    csms201.come_back()
    _refused(csms201)
    csms201.wait_until(lambda: _status(csms201, tx_id)[0] is False, 5,
                       "the gateway to see the session's end")  # its record may come later
    assert _status(csms201, tx_id) == (False, True)
    _ended(csms201, timeout_s=30)
    assert _status(csms201, tx_id) == (False, False)
    _assert_complete(csms201, tx_id)
