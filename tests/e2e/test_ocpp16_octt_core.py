"""OCPP 1.6J core and remote-trigger behaviour end to end over real WebSockets on loopback:
the test CSMS (sim_hardware/csms16.py), `python -m gateway` and `python -m sim_hardware` (the
firmware core on the sim board), named after the OCTT 1.6 cases they mirror (texts on
ocpplab.com), plus the upstream visibility of what the firmware decides on its own (AG-11
failsafe, AG-12 manual override, UK-11 randomised delay, AG-03 meter faults) as
DataTransfer and StatusNotification info (docs/ocpp.md)."""

import contextlib
import json
import os
import signal
import time

import pytest
from ocpp.v16 import call
from ocpp16_fixture import Sim

from gateway.smart.model import format_time as _iso

VENDOR_ID = "smartevse-ref"  # gateway/ocpp16/pdus.py, docs/ocpp.md
DUTY_10_A_PERMILLE = 166  # IEC 61851-1 Annex A: I = 0.6 x duty% -> 10 A = 16.6 %


def _inbound(csms):
    """(action, payload) of every call the station sent, in order."""
    with csms._lock:
        return [(a, p) for d, t, a, p in csms.messages if d == "in" and t == 2]


def _statuses_until(csms, connector_id, action):
    """Statuses of a connector the station sent before its first call of action."""
    out = []
    for a, p in _inbound(csms):
        if a == action:
            return out
        if a == "StatusNotification" and p["connectorId"] == connector_id:
            out.append(p["status"])
    raise AssertionError("no %s; station sent %s" % (action, csms.actions()))


def _changes(statuses):
    """Consecutive repeats (an info or errorCode change) folded."""
    return [st for i, st in enumerate(statuses) if i == 0 or statuses[i - 1] != st]


def _info(p):
    """The words of a StatusNotification's info."""
    return (p.get("info") or "").split(",")


def _wait_status_after(csms, connector_id, status, n, timeout_s=10):
    """Wait for status among the connector's statuses after the first n of them."""
    csms.wait_until(lambda: status in csms.statuses(connector_id)[n:], timeout_s,
                    "%s of connector %d after status #%d" % (status, connector_id, n))


def _notices(csms, kind):
    """data (parsed) of the station's DataTransfers with our vendorId and messageId kind."""
    return [json.loads(p["data"]) for p in csms.calls("DataTransfer")
            if p["vendorId"] == VENDOR_ID and p.get("messageId") == kind]


def _wait_notice(csms, kind, where, timeout_s=15):
    return csms.wait_until(lambda: [d for d in _notices(csms, kind) if where(d)], timeout_s,
                           "DataTransfer %s" % kind)[0]


def _charging(csms, sim, start_gateway, config=None):
    """A free-vend transaction charging 16 A on connector 1 -> the gateway."""
    g = start_gateway(csms, sim, config)
    csms.wait_status(1, "Available")
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    csms.wait_for("StartTransaction")
    csms.wait_status(1, "Charging")
    sim.wait(lambda s: s["draw_ma"] > 0, 10, "current to flow")
    return g


@contextlib.contextmanager
def _frozen(proc):
    """The process stopped (SIGSTOP) inside the block, continued after it."""
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(proc.pid, signal.SIGCONT)


# --- transactions and statuses ---------------------------------------------------------

def test_tc_003_status_preparing_until_the_transaction_starts(csms, sim, start_gateway):
    """OCPP 1.6 §4.9 (TC_003 plug-in first): Preparing while no transaction exists, whatever
    the firmware says at the plug-in (it offers at once and reports suspended_ev until the EV
    asks): Available -> Preparing -> StartTransaction answered -> Charging. No Charging or
    Suspended* status before the StartTransaction."""
    _charging(csms, sim, start_gateway)
    before = _statuses_until(csms, 1, "StartTransaction")
    assert before[0] == "Available" and before[-1] == "Preparing", before
    assert not {"Charging", "SuspendedEV", "SuspendedEVSE"} & set(before), before
    assert csms.statuses(1)[-1] == "Charging"


def test_tc_005_1_ev_side_disconnected(csms, sim, start_gateway):
    """TC_005_1 EV side disconnected, StopTransactionOnEVSideDisconnect = true,
    UnlockConnectorOnEVSideDisconnect = true (both read-only here: the firmware ends the
    session when the EV leaves, the socket has no lock): the cable is pulled out of the EV,
    not the socket -> StopTransaction reason EVDisconnected and StatusNotification Finishing
    (the socket still reads the cable's PP resistor); the cable out of the socket ->
    Available."""
    _charging(csms, sim, start_gateway)
    r = csms.request(call.GetConfiguration(key=["StopTransactionOnEVSideDisconnect",
                                                "UnlockConnectorOnEVSideDisconnect"]))
    assert r.configuration_key == [
        {"key": "StopTransactionOnEVSideDisconnect", "readonly": True, "value": "true"},
        {"key": "UnlockConnectorOnEVSideDisconnect", "readonly": True, "value": "true"}]
    n = len(csms.statuses(1))
    sim.control("unplug", side="ev")
    stop = csms.wait_for("StopTransaction")
    assert stop["transactionId"] == 1 and stop["reason"] == "EVDisconnected"
    _wait_status_after(csms, 1, "Finishing", n)
    time.sleep(1)
    assert "Available" not in csms.statuses(1)[n:]
    sim.control("unplug")
    _wait_status_after(csms, 1, "Available", n)
    assert _changes(csms.statuses(1)[n:]) == ["Finishing", "Available"]
    assert len(csms.calls("StopTransaction")) == 1


def test_tc_011_2_remote_start_time_out(csms, sim, start_gateway):
    """TC_011_2 Remote start, time out (ConnectionTimeOut 5 s): RemoteStartTransaction with
    nothing plugged in is Accepted and the connector goes Preparing (authorised, waiting for
    the cable); no plug-in within ConnectionTimeOut: Available again, and a later plug-in
    (no free vend) waits in Preparing without a transaction."""
    start_gateway(csms, sim, config={"free_vend_id_tag": None})
    csms.wait_status(1, "Available")
    assert csms.request(call.ChangeConfiguration(key="ConnectionTimeOut",
                                                 value="5")).status == "Accepted"
    r = csms.request(call.RemoteStartTransaction(id_tag="TAG-7", connector_id=1))
    assert r.status == "Accepted"
    n = len(csms.statuses(1))
    _wait_status_after(csms, 1, "Preparing", n)
    _wait_status_after(csms, 1, "Available", n, timeout_s=15)
    assert _changes(csms.statuses(1)[n:]) == ["Preparing", "Available"]
    n = len(csms.statuses(1))
    sim.control("plug", state="B", pp_ohms=220)
    _wait_status_after(csms, 1, "Preparing", n)
    sim.wait(lambda s: s["owner_paused"], 5, "the firmware to hold the charge")
    time.sleep(1)
    assert csms.calls("StartTransaction") == []


def test_tc_012_remote_stop_charging_session(csms, sim, start_gateway):
    """TC_012 Remote stop: RemoteStopTransaction Accepted; the transaction stops at once
    (StopTransaction reason Remote, before the cable comes out) and the connector is
    Finishing; sampled MeterValues of it stop; the unplug then gives Available and no second
    StopTransaction. An unknown transactionId is Rejected."""
    _charging(csms, sim, start_gateway)
    assert csms.request(call.ChangeConfiguration(key="MeterValueSampleInterval",
                                                 value="1")).status == "Accepted"
    csms.wait_for("MeterValues", where=lambda p: p.get("transactionId") == 1)
    assert csms.request(call.RemoteStopTransaction(transaction_id=99)).status == "Rejected"
    n = len(csms.statuses(1))
    r = csms.request(call.RemoteStopTransaction(transaction_id=1))
    assert r.status == "Accepted"
    stop = csms.wait_for("StopTransaction")
    assert stop["transactionId"] == 1 and stop["reason"] == "Remote"
    _wait_status_after(csms, 1, "Finishing", n)
    sim.wait(lambda s: s["draw_ma"] == 0, 5, "the charge to stop")
    sim.wait(lambda s: s["contactor"] == 0, 10, "the contactor to open (IEC-X1: 6 s)")
    assert sim.status()["ev_state"] != "A"  # still plugged in
    time.sleep(2.5)  # MeterValueSampleInterval is 1 s
    msgs = _inbound(csms)
    stop_at = [a for a, _ in msgs].index("StopTransaction")
    assert [p for a, p in msgs[stop_at:] if a == "MeterValues"
            and p.get("transactionId") == 1] == []  # none after the StopTransaction
    sim.control("unplug")
    _wait_status_after(csms, 1, "Available", n)
    assert _changes(csms.statuses(1)[n:]) == ["Finishing", "Available"]
    time.sleep(1)
    assert len(csms.calls("StopTransaction")) == 1


def test_tc_014_soft_reset_without_transaction(csms, sim, start_gateway):
    """TC_014 Soft reset without transaction (the flow of TC_013 with Soft):
    ChangeAvailability Inoperative -> Unavailable; Reset Soft Accepted, the firmware reboots
    (CMD_RESET 0) and the station registers again (BootNotification on a new connection);
    the connector is still Unavailable after the reboot (the gateway keeps the availability
    and tells the rebooted firmware); ChangeAvailability Operative -> Available."""
    start_gateway(csms, sim)
    csms.wait_status(1, "Available")
    n = len(csms.statuses(1))
    r = csms.request(call.ChangeAvailability(connector_id=1, type="Inoperative"))
    assert r.status == "Accepted"
    _wait_status_after(csms, 1, "Unavailable", n)
    sim.wait(lambda s: not s["available"], 5, "the firmware to be unavailable")
    resets = sim.status()["resets"]
    assert csms.request(call.Reset(type="Soft")).status == "Accepted"
    sim.wait(lambda s: s["resets"] > resets, 10, "the firmware to reboot")
    csms.wait_for("BootNotification", count=2, timeout_s=15)
    assert csms.connections == 2
    sim.wait(lambda s: not s["available"], 10, "the rebooted firmware told Inoperative")
    msgs = _inbound(csms)
    second_boot = [i for i, (a, _) in enumerate(msgs) if a == "BootNotification"][1]
    csms.wait_until(lambda: any(a == "StatusNotification" and p["connectorId"] == 1
                                for a, p in _inbound(csms)[second_boot:]), 10,
                    "the statuses after the second boot")
    after = [p["status"] for a, p in _inbound(csms)[second_boot:]
             if a == "StatusNotification" and p["connectorId"] == 1]
    assert after and set(after) == {"Unavailable"}, after
    n = len(csms.statuses(1))
    r = csms.request(call.ChangeAvailability(connector_id=1, type="Operative"))
    assert r.status == "Accepted"
    _wait_status_after(csms, 1, "Available", n)
    sim.wait(lambda s: s["available"], 5, "the firmware available again")


# --- configuration keys -----------------------------------------------------------------

def test_tc_040_1_tc_040_2_configuration_keys(csms, sim, start_gateway):
    """TC_040_1: ChangeConfiguration of a key the station does not know ("Testing" = "true")
    -> NotSupported. TC_040_2: an invalid value -> Rejected (MeterValueSampleInterval -1,
    a word for a number, StopTxnSampledData with an unknown measurand), and so is a change of
    a read-only key; GetConfiguration shows the values unchanged."""
    start_gateway(csms, sim)
    csms.wait_status(1, "Available")
    r = csms.request(call.ChangeConfiguration(key="Testing", value="true"))
    assert r.status == "NotSupported"
    for key, value in [("MeterValueSampleInterval", "-1"),
                       ("MeterValueSampleInterval", "sixty"),
                       ("StopTxnSampledData", "Temperature"),
                       ("StopTransactionOnEVSideDisconnect", "false"),
                       ("LocalAuthorizeOffline", "true")]:
        r = csms.request(call.ChangeConfiguration(key=key, value=value))
        assert r.status == "Rejected", (key, value, r.status)
    keys = ["MeterValueSampleInterval", "StopTxnSampledData", "LocalAuthorizeOffline",
            "StopTransactionOnEVSideDisconnect", "Testing"]
    r = csms.request(call.GetConfiguration(key=keys))
    assert {k["key"]: k["value"] for k in r.configuration_key} == {
        "MeterValueSampleInterval": "60", "StopTxnSampledData": "Energy.Active.Import.Register",
        "LocalAuthorizeOffline": "false", "StopTransactionOnEVSideDisconnect": "true"}
    assert r.unknown_key == ["Testing"]


# --- remote trigger ---------------------------------------------------------------------

def test_tc_054_tc_055_trigger_message(csms, sim, start_gateway):
    """TC_054 TriggerMessage during a transaction: each Accepted, then the message:
    MeterValues (context Trigger, the transactionId), Heartbeat, StatusNotification of the
    connector and, without connectorId, of connector 0 and every connector,
    DiagnosticsStatusNotification and FirmwareStatusNotification (Idle: nothing running),
    BootNotification. SupportedFeatureProfiles lists RemoteTrigger. TC_055: MeterValues for
    NumberOfConnectors + 1 -> Rejected, and nothing is sent; for connector 0 (no station
    meter) -> NotImplemented."""
    _charging(csms, sim, start_gateway)
    r = csms.request(call.GetConfiguration(key=["SupportedFeatureProfiles"]))
    assert "RemoteTrigger" in r.configuration_key[0]["value"].split(",")

    def trigger(message, connector_id=None):
        return csms.request(call.TriggerMessage(requested_message=message,
                                                connector_id=connector_id)).status

    assert trigger("MeterValues", 1) == "Accepted"
    mv = csms.wait_for("MeterValues", where=lambda p: p["meterValue"][0]["sampledValue"][0]
                       ["context"] == "Trigger")
    assert mv["connectorId"] == 1 and mv["transactionId"] == 1
    n = len(csms.calls("Heartbeat"))
    assert trigger("Heartbeat") == "Accepted"
    csms.wait_for("Heartbeat", count=n + 1)
    n = len(csms.calls("StatusNotification"))
    assert trigger("StatusNotification", 1) == "Accepted"
    st = csms.wait_for("StatusNotification", count=n + 1)
    assert st["connectorId"] == 1 and st["status"] == "Charging"
    assert trigger("StatusNotification") == "Accepted"
    csms.wait_for("StatusNotification", count=n + 3)
    assert [p["connectorId"] for p in csms.calls("StatusNotification")[n + 1:n + 3]] == [0, 1]
    assert trigger("DiagnosticsStatusNotification") == "Accepted"
    assert csms.wait_for("DiagnosticsStatusNotification") == {"status": "Idle"}
    assert trigger("FirmwareStatusNotification") == "Accepted"
    assert csms.wait_for("FirmwareStatusNotification") == {"status": "Idle"}
    assert trigger("BootNotification") == "Accepted"
    csms.wait_for("BootNotification", count=2)
    assert csms.connections == 1  # a triggered BootNotification is no reboot

    n = len(csms.calls("MeterValues"))
    assert trigger("MeterValues", 2) == "Rejected"
    assert trigger("MeterValues", 0) == "NotImplemented"
    time.sleep(1)
    assert [p for p in csms.calls("MeterValues")[n:]
            if p["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"] == []


# --- smart charging ---------------------------------------------------------------------

def test_tc_082_tx_default_profile_with_ongoing_transaction(csms, sim, start_gateway):
    """TC_082 Central smart charging, TxDefaultProfile with an ongoing transaction: a 10 A
    TxDefaultProfile for connector 0 (every connector) set while the transaction runs is
    Accepted and applies to it at once (pilot duty 166 permille); GetCompositeSchedule of
    connector 1 shows it."""
    _charging(csms, sim, start_gateway)
    profile = {"charging_profile_id": 82, "stack_level": 0,
               "charging_profile_purpose": "TxDefaultProfile",
               "charging_profile_kind": "Absolute",
               "charging_schedule": {"charging_rate_unit": "A",
                                     "start_schedule": _iso(time.time() - 60),
                                     "charging_schedule_period": [{"start_period": 0,
                                                                   "limit": 10}]}}
    r = csms.request(call.SetChargingProfile(connector_id=0, cs_charging_profiles=profile))
    assert r.status == "Accepted"
    sim.wait(lambda s: s["duty_permille"] == DUTY_10_A_PERMILLE, 10, "the 10 A duty")
    r = csms.request(call.GetCompositeSchedule(connector_id=1, duration=3600,
                                               charging_rate_unit="A"))
    assert r.status == "Accepted"
    assert [(p["start_period"], float(p["limit"]))
            for p in r.charging_schedule["charging_schedule_period"]] == [(0, 10.0)]
    assert len(csms.calls("StopTransaction")) == 0


# --- UnlockConnector --------------------------------------------------------------------

def test_unlock_connector_tc_017_2_tc_031_no_lock(csms, sim, start_gateway):
    """UnlockConnector (1.6 §5.18): the reference board has no socket lock (no CAP_LOCK in
    the firmware's HELLO) -> NotSupported, like a fixed cable (TC_017_2), and the running
    transaction is left alone; an unknown connector -> NotSupported (TC_031)."""
    _charging(csms, sim, start_gateway)
    assert csms.request(call.UnlockConnector(connector_id=1)).status == "NotSupported"
    assert csms.request(call.UnlockConnector(connector_id=2)).status == "NotSupported"
    time.sleep(1)
    assert csms.calls("StopTransaction") == []
    assert sim.status()["contactor"] == 1


# --- DataTransfer -----------------------------------------------------------------------

def test_tc_062_data_transfer_to_the_station(csms, sim, start_gateway):
    """TC_062 DataTransfer to a Charge Point: a vendorId we do not know -> UnknownVendorId.
    Ours (smartevse-ref): an unknown messageId -> UnknownMessageId; GetEvseState
    {"connectorId": 1} -> Accepted with the EVSE's own state (failsafe, override, delay,
    offered current, link) as JSON; an unknown connector or data that is not JSON ->
    Rejected."""
    start_gateway(csms, sim)
    csms.wait_status(1, "Available")

    def transfer(vendor, message_id=None, data=None):
        return csms.request(call.DataTransfer(vendor_id=vendor, message_id=message_id,
                                              data=data))

    assert transfer("com.example.other", "Hello", "x").status == "UnknownVendorId"
    assert transfer(VENDOR_ID, "Hello").status == "UnknownMessageId"
    r = transfer(VENDOR_ID, "GetEvseState", '{"connectorId": 1}')
    assert r.status == "Accepted"
    state = json.loads(r.data)
    assert state["connectorId"] == 1 and state["linkOnline"] is True
    assert state["status"] == "Available"
    assert state["failsafe"] is False and state["override"] is False
    assert state["delayRemainingS"] == 0 and isinstance(state["offeredMa"], int)
    assert transfer(VENDOR_ID, "GetEvseState", '{"connectorId": 9}').status == "Rejected"
    assert transfer(VENDOR_ID, "GetEvseState", "not json").status == "Rejected"


@pytest.fixture
def failsafe_sim():
    s = Sim(extra_args=("--setting", "link_timeout_ms=2000"))
    yield s
    s.stop()


def test_ag_11_failsafe_visible_upstream(csms, failsafe_sim, start_gateway):
    """AG-11 upstream: the gateway falls silent (SIGSTOP) longer than the firmware's
    link_timeout_ms (2 s) during a transaction; the firmware caps the offer at its failsafe
    current on its own and logs it; when the link is back it leaves the failsafe, and both
    records reach the CSMS as DataTransfer Failsafe (vendorId smartevse-ref, data JSON:
    connectorId, active, failsafeCurrentMa, timestamp), entered before left, once each."""
    sim = failsafe_sim
    g = _charging(csms, sim, start_gateway)
    before = len(_notices(csms, "Failsafe"))  # at boot too, if the gateway came late
    with _frozen(g.proc):
        sim.wait(lambda s: s["failsafe"], 10, "the firmware's failsafe")
    sim.wait(lambda s: not s["failsafe"], 10, "the failsafe to end")
    csms.wait_until(lambda: len(_notices(csms, "Failsafe")) >= before + 2, 15,
                    "DataTransfer Failsafe entered and left")
    time.sleep(1)
    entered, left = _notices(csms, "Failsafe")[before:]
    assert (entered["active"], left["active"]) == (True, False)
    assert entered["connectorId"] == 1 and left["connectorId"] == 1
    assert entered["failsafeCurrentMa"] >= 0
    assert entered["timestamp"] <= left["timestamp"]
    assert csms.calls("StopTransaction") == []  # the transaction went on


@pytest.fixture
def delay_sim():
    # seed 1 draws 4 s at power-up and 4 s at the plug-in (max 4 s)
    s = Sim(extra_args=("--setting", "random_delay_max_s=4", "--seed", "1"))
    yield s
    s.stop()


def test_uk_11_ag_12_delay_and_override_visible_upstream(csms, delay_sim, start_gateway):
    """UK-11 / AG-13 and AG-12 upstream: the firmware's randomised delay at power-up is
    reported as DataTransfer RandomisedDelay (active, cause restoration, delayS) and its end
    (ran_out); at the plug-in a new delay starts (cause charge_start, StatusNotification info
    "delay"); the owner's button overrides it: DataTransfer RandomisedDelay cancelled and
    ManualOverride active by button, StatusNotification info "override"; a second press
    ends the override (ManualOverride inactive)."""
    sim = delay_sim
    start_gateway(csms, sim)
    boot = _wait_notice(csms, "RandomisedDelay", lambda d: d["active"])
    assert boot["cause"] == "restoration" and 1 <= boot["delayS"] <= 4
    _wait_notice(csms, "RandomisedDelay", lambda d: not d["active"] and d["ended"] == "ran_out")
    csms.wait_status(1, "Available")
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    start = _wait_notice(csms, "RandomisedDelay", lambda d: d["active"]
                         and d["cause"] == "charge_start")
    assert start["connectorId"] == 1
    csms.wait_for("StatusNotification", where=lambda p: p["connectorId"] == 1
                  and "delay" in _info(p))
    sim.control("press_button", ms=200)
    on = _wait_notice(csms, "ManualOverride", lambda d: d["active"])
    assert on["by"] == "button" and on["connectorId"] == 1
    _wait_notice(csms, "RandomisedDelay", lambda d: not d["active"]
                 and d["ended"] == "cancelled")
    st = csms.wait_for("StatusNotification", where=lambda p: p["connectorId"] == 1
                       and "override" in _info(p))
    assert st["vendorId"] == VENDOR_ID
    sim.wait(lambda s: s["draw_ma"] > 0, 10, "the override to charge")
    time.sleep(0.5)
    sim.control("press_button", ms=200)
    _wait_notice(csms, "ManualOverride", lambda d: not d["active"])


def test_ag_03_meter_fault_visible_upstream(csms, meter_sim, start_gateway):
    """AG-03 upstream: the MID meter falls silent during a transaction; the firmware flags a
    meter fault and charging goes on (meter_fault_action continue): DataTransfer MeterFault
    active (reason no_answer) and StatusNotification Charging with info "meter_fault"
    (errorCode NoError: the connector still charges); the meter answers again: MeterFault
    inactive and Charging without it."""
    sim = meter_sim
    _charging(csms, sim, start_gateway)
    assert _notices(csms, "MeterFault") == []
    sim.control("meter_fault", kind="silence", count=-1)
    fault = _wait_notice(csms, "MeterFault", lambda d: d["active"], timeout_s=20)
    assert fault["reason"] == "no_answer" and fault["connectorId"] == 1
    st = csms.wait_for("StatusNotification", where=lambda p: p["connectorId"] == 1
                       and "meter_fault" in _info(p))
    assert st["status"] == "Charging" and st["errorCode"] == "NoError"
    assert st["vendorId"] == VENDOR_ID
    n = len(csms.calls("StatusNotification"))
    sim.control("meter_fault", kind="clear")
    _wait_notice(csms, "MeterFault", lambda d: not d["active"], timeout_s=20)
    csms.wait_until(lambda: [p for p in csms.calls("StatusNotification")[n:]
                             if p["connectorId"] == 1 and p["status"] == "Charging"
                             and "meter_fault" not in _info(p)], 10, "meter_fault gone")
    assert csms.calls("StopTransaction") == []
