"""OCPP 2.0.1 provisioning, availability, remote control and what the firmware decides on its
own, end to end (issue 7): the test CSMS (sim_hardware/csms201.py), `python -m gateway --ocpp
2.0.1` and `python -m sim_hardware`, named after the OCTT 2.0.1 cases they mirror (B01-B03
boot, B11/B12 reset, G03/G04 availability, F05 unlock, F06 trigger, N07 events, P01 data
transfer, E14 transaction status)."""

import json
import os
import signal
import time

import pytest
from ocpp.v201 import call
from ocpp16_fixture import Sim


def _events(csms, event_type=None):
    return [p for p in csms.calls("TransactionEvent")
            if event_type is None or p["eventType"] == event_type]


def _notify_events(csms, variable):
    """eventData of the station's NotifyEvents for the variable, in order."""
    return [e for p in csms.calls("NotifyEvent") for e in p["eventData"]
            if e["variable"]["name"] == variable]


def _wait_notify(csms, variable, actual, timeout_s=15):
    def found():
        hits = [e for e in _notify_events(csms, variable) if e["actualValue"] == actual]
        return hits[0] if hits else None
    return csms.wait_until(found, timeout_s, "NotifyEvent %s = %s" % (variable, actual))


def _session(csms, sim):
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    started = csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started")
    return started["transactionInfo"]["transactionId"]


# --- B01-B03 provisioning ------------------------------------------------------------------

def test_tc_b_02_cold_boot_pending(csms201, sim, start_gateway):
    """TC_B_02 Cold boot, Pending: while the CSMS answers Pending the station sends nothing
    but BootNotification again after the interval (B02.FR.01/02) and answers the CSMS's
    requests (B02.FR.03: GetVariables); once Accepted, StatusNotification and the rest."""
    csms201.boot_status = "Pending"
    csms201.boot_interval_s = 1
    start_gateway(csms201, sim)
    csms201.wait_for("BootNotification", count=2, timeout_s=10)
    r = csms201.request(call.GetVariables(get_variable_data=[{
        "component": {"name": "SecurityCtrlr"}, "variable": {"name": "Identity"}}]))
    assert r.get_variable_result[0]["attribute_status"] == "Accepted"
    assert r.get_variable_result[0]["attribute_value"] == "CS001"
    assert set(csms201.actions()) == {"BootNotification"}
    csms201.boot_status = "Accepted"
    csms201.wait_status(1, "Available", timeout_s=10)
    boots = csms201.calls("BootNotification")
    assert all(b["reason"] == "PowerUp" for b in boots)


def test_tc_b_03_cold_boot_rejected(csms201, sim, start_gateway):
    """TC_B_03 Cold boot, Rejected: the station sends no other message and tries again only
    after the interval (B03.FR.01/02); accepted later, it goes on normally."""
    csms201.boot_status = "Rejected"
    csms201.boot_interval_s = 2
    start_gateway(csms201, sim)
    csms201.wait_for("BootNotification")
    first = csms201.received_at("BootNotification")
    csms201.wait_for("BootNotification", count=2, timeout_s=10)
    second = [t for a, t in csms201._arrivals if a == "BootNotification"][1]
    assert second - first >= 1.8  # not before the interval
    assert set(csms201.actions()) == {"BootNotification"}
    csms201.boot_status = "Accepted"
    csms201.wait_status(1, "Available", timeout_s=10)


# --- B11 / B12 reset -------------------------------------------------------------------------

def test_tc_b_21_reset_immediate_without_transaction(csms201, sim, start_gateway):
    """B11 Reset Immediate without a transaction: Accepted, the firmware reboots (CMD_RESET on
    the link) and the station registers again with reason RemoteReset (B11.FR.01/05)."""
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    resets = sim.status()["resets"]
    assert csms201.request(call.Reset(type="Immediate")).status == "Accepted"
    sim.wait(lambda s: s["resets"] > resets, 10, "the firmware to reboot")
    boot = csms201.wait_for("BootNotification", count=2, timeout_s=15)
    assert boot["reason"] == "RemoteReset"
    assert csms201.request(call.Reset(type="Immediate", evse_id=1)).status == "Rejected"


def test_tc_b_22_reset_on_idle_with_transaction(csms201, sim, start_gateway):
    """B12 Reset OnIdle with a transaction running: Scheduled (B12.FR.01); nothing happens
    until the transaction ended (unplug), then the firmware reboots and the station boots with
    RemoteReset; the transaction ends with EVDisconnected, not a reset."""
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    _session(csms201, sim)
    resets = sim.status()["resets"]
    assert csms201.request(call.Reset(type="OnIdle")).status == "Scheduled"
    time.sleep(2)
    assert sim.status()["resets"] == resets
    sim.control("unplug")
    ended = csms201.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    sim.wait(lambda s: s["resets"] > resets, 10, "the firmware to reboot")
    assert csms201.wait_for("BootNotification", count=2, timeout_s=15)["reason"] \
        == "RemoteReset"


# --- G03 / G04 availability -------------------------------------------------------------------

def test_tc_g_03_change_availability_evse(csms201, sim, start_gateway):
    """TC_G_03 / TC_G_04 ChangeAvailability of an EVSE: Inoperative -> Accepted and
    StatusNotification Unavailable; a plug-in starts no transaction; Operative -> Available
    again; an unknown EVSE is Rejected (G03.FR.*)."""
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    r = csms201.request(call.ChangeAvailability(operational_status="Inoperative",
                                                evse={"id": 1}))
    assert r.status == "Accepted"
    csms201.wait_status(1, "Unavailable")
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    time.sleep(2)
    assert _events(csms201, "Started") == []
    assert sim.status()["draw_ma"] == 0
    sim.control("unplug")
    r = csms201.request(call.ChangeAvailability(operational_status="Operative",
                                                evse={"id": 1}))
    assert r.status == "Accepted"
    csms201.wait_until(lambda: csms201.statuses(1)[-1] == "Available", 10, "Available again")
    r = csms201.request(call.ChangeAvailability(operational_status="Inoperative",
                                                evse={"id": 9}))
    assert r.status == "Rejected"


def test_tc_g_05_change_availability_scheduled_during_transaction(csms201, sim, start_gateway):
    """G03.FR.05 / G04.FR.04: Inoperative while a transaction runs is Scheduled; the
    transaction goes on."""
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    _session(csms201, sim)
    r = csms201.request(call.ChangeAvailability(operational_status="Inoperative"))
    assert r.status == "Scheduled"
    assert _events(csms201, "Ended") == []


# --- F05 unlock, F06 trigger -------------------------------------------------------------------

def test_tc_f_05_unlock_connector(csms201, sim, start_gateway):
    """F05 UnlockConnector: an unknown EVSE or connector -> UnknownConnector (F05.FR.05); under
    an authorised transaction -> OngoingAuthorizedTransaction and the transaction goes on
    (F05.FR.02); otherwise the firmware's answer: the reference board has no socket lock
    (no CAP_LOCK) -> UnlockFailed."""
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    assert csms201.request(call.UnlockConnector(evse_id=3, connector_id=1)).status \
        == "UnknownConnector"
    assert csms201.request(call.UnlockConnector(evse_id=1, connector_id=2)).status \
        == "UnknownConnector"
    assert csms201.request(call.UnlockConnector(evse_id=1, connector_id=1)).status \
        == "UnlockFailed"
    _session(csms201, sim)
    assert csms201.request(call.UnlockConnector(evse_id=1, connector_id=1)).status \
        == "OngoingAuthorizedTransaction"
    time.sleep(0.5)
    assert _events(csms201, "Ended") == []


def test_tc_f_06_trigger_message(csms201, sim, start_gateway):
    """F06 TriggerMessage: StatusNotification, Heartbeat and MeterValues are sent after the
    Accepted answer; TransactionEvent while a transaction runs gives an Updated event with
    triggerReason Trigger (F06.FR.07), Rejected without one; BootNotification after an
    Accepted boot is Rejected (F06.FR.17); an unknown EVSE Rejected; a message the station
    does not make (SignV2GCertificate) NotImplemented."""
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    n = len(csms201.calls("StatusNotification"))
    assert csms201.request(call.TriggerMessage(requested_message="StatusNotification",
                                               evse={"id": 1})).status == "Accepted"
    csms201.wait_for("StatusNotification", count=n + 1)
    assert csms201.request(call.TriggerMessage(requested_message="Heartbeat")).status \
        == "Accepted"
    csms201.wait_for("Heartbeat")
    # the sim has no meter: the reading is the offered current (AlignedDataCtrlr.Measurands)
    r = csms201.request(call.SetVariables(set_variable_data=[{
        "component": {"name": "AlignedDataCtrlr"}, "variable": {"name": "Measurands"},
        "attribute_value": "Energy.Active.Import.Register,Current.Offered"}]))
    assert r.set_variable_result[0]["attribute_status"] == "Accepted"
    assert csms201.request(call.TriggerMessage(requested_message="MeterValues")).status \
        == "Accepted"
    mv = csms201.wait_for("MeterValues")
    assert mv["evseId"] == 1
    values = mv["meterValue"][0]["sampledValue"]
    assert {v["context"] for v in values} == {"Trigger"}
    assert [v["measurand"] for v in values] == ["Current.Offered"]  # no stale meter value
    assert csms201.request(call.TriggerMessage(requested_message="TransactionEvent")).status \
        == "Rejected"
    assert csms201.request(call.TriggerMessage(requested_message="BootNotification")).status \
        == "Rejected"
    assert csms201.request(call.TriggerMessage(requested_message="StatusNotification",
                                               evse={"id": 4})).status == "Rejected"
    assert csms201.request(call.TriggerMessage(requested_message="SignV2GCertificate")).status \
        == "NotImplemented"
    tx = _session(csms201, sim)
    assert csms201.request(call.TriggerMessage(requested_message="TransactionEvent",
                                               evse={"id": 1})).status == "Accepted"
    upd = csms201.wait_for("TransactionEvent", where=lambda p: p["triggerReason"] == "Trigger")
    assert upd["eventType"] == "Updated" and upd["transactionInfo"]["transactionId"] == tx


# --- E14, P01 ----------------------------------------------------------------------------------

def test_tc_e_14_get_transaction_status(csms201, sim, start_gateway):
    """E14 GetTransactionStatus: a running transaction -> ongoingIndicator true; an unknown
    transactionId -> ongoingIndicator false and no messages in queue (E14.FR.01-04)."""
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    tx = _session(csms201, sim)
    r = csms201.request(call.GetTransactionStatus(transaction_id=tx))
    assert r.ongoing_indicator is True
    r = csms201.request(call.GetTransactionStatus(transaction_id="unknown-1"))
    assert (r.ongoing_indicator, r.messages_in_queue) == (False, False)
    r = csms201.request(call.GetTransactionStatus())
    assert r.messages_in_queue in (True, False) and r.ongoing_indicator is None


def test_tc_p_01_data_transfer(csms201, sim, start_gateway):
    """P01 DataTransfer to the station: our vendorId and GetEvseState {"evseId": 1} ->
    Accepted with the firmware's own state; another vendorId -> UnknownVendorId, another
    messageId -> UnknownMessageId, an unknown EVSE -> Rejected."""
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    r = csms201.request(call.DataTransfer(vendor_id="smartevse-ref", message_id="GetEvseState",
                                          data={"evseId": 1}))
    assert r.status == "Accepted"
    assert r.data["failsafe"] is False and r.data["link_online"] is True
    assert csms201.request(call.DataTransfer(vendor_id="other")).status == "UnknownVendorId"
    assert csms201.request(call.DataTransfer(vendor_id="smartevse-ref", message_id="X")
                           ).status == "UnknownMessageId"
    assert csms201.request(call.DataTransfer(vendor_id="smartevse-ref",
                                             message_id="GetEvseState", data={"evseId": 5})
                           ).status == "Rejected"


# --- N07: what the firmware decides on its own --------------------------------------------------

@pytest.fixture
def delay_sim():
    # seed 1 draws 4 s at power-up and 4 s at the plug-in (max 4 s)
    s = Sim(extra_args=("--setting", "random_delay_max_s=4", "--seed", "1"))
    yield s
    s.stop()


def test_n07_uk_11_ag_12_delay_and_override_as_notify_event(csms201, delay_sim, start_gateway):
    """UK-11 / AG-12 upstream in 2.0.1: the randomised delay at power-up is NotifyEvent
    EVSE 1 RandomisedDelay true (techInfo: cause restoration, delayS) then false; the owner's
    button during the plug-in delay is ManualOverride true (techInfo by button); a second
    press false. Each a Delta HardWiredNotification of component EVSE 1."""
    sim = delay_sim
    start_gateway(csms201, sim)
    on = _wait_notify(csms201, "RandomisedDelay", "true")
    info = json.loads(on["techInfo"])
    assert info["cause"] == "restoration" and 1 <= info["delayS"] <= 4
    assert on["component"] == {"name": "EVSE", "evse": {"id": 1}}
    assert on["trigger"] == "Delta" and on["eventNotificationType"] == "HardWiredNotification"
    _wait_notify(csms201, "RandomisedDelay", "false")
    csms201.wait_status(1, "Available")
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    csms201.wait_until(lambda: len(_notify_events(csms201, "RandomisedDelay")) >= 3, 10,
                       "the plug-in delay")
    sim.control("press_button", ms=200)
    over = _wait_notify(csms201, "ManualOverride", "true")
    assert json.loads(over["techInfo"])["by"] == "button"
    sim.wait(lambda s: s["draw_ma"] > 0, 10, "the override to charge")
    time.sleep(0.5)
    sim.control("press_button", ms=200)
    _wait_notify(csms201, "ManualOverride", "false")
    ids = [e["eventId"] for p in csms201.calls("NotifyEvent") for e in p["eventData"]]
    assert len(ids) == len(set(ids))


@pytest.fixture
def failsafe_meter_sim():
    s = Sim(extra_args=("--setting", "link_timeout_ms=2000", "--meter", "SDM630"))
    yield s
    s.stop()


def test_n07_ag_11_ag_03_failsafe_and_meter_fault_as_notify_event(csms201, failsafe_meter_sim,
                                                                  start_gateway):
    """AG-11 / AG-03 upstream in 2.0.1: the gateway falls silent (SIGSTOP) longer than the
    firmware's link_timeout_ms (2 s) during a transaction: the firmware enters and leaves its
    failsafe on its own and both reach the CSMS as NotifyEvent EVSE 1 Failsafe true / false
    (in that order, the transaction goes on); the meter stops answering: NotifyEvent EVSE 1
    Problem true (techInfo reason no_answer), and false when it answers again."""
    sim = failsafe_meter_sim
    g = start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    _session(csms201, sim)
    sim.wait(lambda s: s["draw_ma"] > 0, 10, "current to flow")
    time.sleep(1)
    before = len(_notify_events(csms201, "Failsafe"))  # at boot too, if the link came late
    os.kill(g.proc.pid, signal.SIGSTOP)
    try:
        sim.wait(lambda s: s["failsafe"], 10, "the firmware's failsafe")
    finally:
        os.kill(g.proc.pid, signal.SIGCONT)
    sim.wait(lambda s: not s["failsafe"], 10, "the failsafe to end")
    csms201.wait_until(lambda: len(_notify_events(csms201, "Failsafe")) >= before + 2, 15,
                       "NotifyEvent Failsafe entered and left")
    time.sleep(1)
    on, off = _notify_events(csms201, "Failsafe")[before:]
    assert (on["actualValue"], off["actualValue"]) == ("true", "false")
    assert on["timestamp"] <= off["timestamp"] and on["eventId"] < off["eventId"]
    assert json.loads(on["techInfo"])["failsafeCurrentMa"] >= 0
    sim.control("meter_fault", kind="silence", count=-1)
    fault = _wait_notify(csms201, "Problem", "true", timeout_s=20)
    assert json.loads(fault["techInfo"])["reason"] == "no_answer"
    sim.control("meter_fault", kind="clear")
    _wait_notify(csms201, "Problem", "false", timeout_s=20)
    assert _events(csms201, "Ended") == []
