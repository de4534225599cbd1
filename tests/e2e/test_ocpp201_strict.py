"""OCPP 2.0.1 end to end against an independent strict CSMS (issue 7, DESIGN §9): npm
`ocpp-rpc` with strictMode and protocol ocpp2.0.1 (tests/e2e/strict_csms.mjs --protocol
ocpp2.0.1, driven by tests/e2e/strict_csms.py) validates every message in both directions
against the OCPP 2.0.1 JSON schemas it bundles, while `python -m gateway --ocpp 2.0.1` and
`python -m sim_hardware --meter SDM630` run the flows of test_ocpp201_core.py and more. The
strict server must see zero validation errors, and no message either way is a CallError."""

import json
import time

import pytest
from strict_csms import StrictCsms

from gateway.smart.model import format_time as _iso

DUTY_10_A_PERMILLE = 166  # IEC 61851-1 Annex A: I = 0.6 x duty% -> 10 A = 16.6 %
DUTY_8_A_PERMILLE = 133


@pytest.fixture
def strict201(tmp_path):
    c = StrictCsms(tmp_path / "strict_csms.err", protocol="ocpp2.0.1")
    yield c
    c.stop()


def _profile(profile_id, purpose, limit_a, transaction_id=None):
    """An Absolute ChargingProfileType of one period from a minute ago (in force at once)."""
    p = {"id": profile_id, "stackLevel": 0, "chargingProfilePurpose": purpose,
         "chargingProfileKind": "Absolute",
         "chargingSchedule": [{"id": profile_id, "chargingRateUnit": "A",
                               "startSchedule": _iso(time.time() - 60),
                               "chargingSchedulePeriod": [{"startPeriod": 0,
                                                           "limit": limit_a}]}]}
    if transaction_id is not None:
        p["transactionId"] = transaction_id
    return p


def _var(component, variable, evse=None, instance=None):
    c = {"name": component}
    if evse is not None:
        c["evse"] = {"id": evse}
    v = {"name": variable}
    if instance is not None:
        v["instance"] = instance
    return {"component": c, "variable": v}


def _currents(event):
    return [sv["value"] for mv in event.get("meterValue", ()) for sv in mv["sampledValue"]
            if sv.get("measurand") == "Current.Import"]


def _tx_events(strict, tx_id, event_type=None, trigger=None):
    return [p for p in strict.calls("TransactionEvent")
            if p["transactionInfo"]["transactionId"] == tx_id
            and event_type in (None, p["eventType"]) and trigger in (None, p["triggerReason"])]


def _provisioning(strict):
    """B06 GetVariables, B05 SetVariables, B07 GetBaseReport + NotifyReport."""
    r = strict.request("GetVariables", {"getVariableData": [
        _var("OCPPCommCtrlr", "HeartbeatInterval"), _var("NoSuchCtrlr", "Nope"),
        _var("EVSE", "Power", evse=1),
        _var("OCPPCommCtrlr", "MessageAttempts", instance="TransactionEvent")]})
    got = [(x["attributeStatus"], x.get("attributeValue")) for x in r["getVariableResult"]]
    assert got[0] == ("Accepted", "10")  # the BootNotification interval
    assert got[1] == ("UnknownComponent", None)
    assert got[2][0] == "Accepted" and got[3] == ("Accepted", "3")
    r = strict.request("SetVariables", {"setVariableData": [
        dict(_var("SampledDataCtrlr", "TxUpdatedInterval"), attributeValue="1"),
        dict(_var("OCPPCommCtrlr", "HeartbeatInterval"), attributeValue="0"),
        dict(_var("ChargingStation", "Model"), attributeValue="x")]})
    assert [x["attributeStatus"] for x in r["setVariableResult"]] \
        == ["Accepted", "Rejected", "Rejected"]
    for request_id, base in ((11, "FullInventory"), (12, "ConfigurationInventory"),
                             (13, "SummaryInventory")):
        r = strict.request("GetBaseReport", {"requestId": request_id, "reportBase": base})
        assert r["status"] in ("Accepted", "EmptyResultSet", "NotSupported"), (base, r)
        if r["status"] == "Accepted":
            strict.wait_for("NotifyReport", where=lambda p, i=request_id: p["requestId"] == i
                            and not p.get("tbc", False))
    full = [d for p in strict.calls("NotifyReport") if p["requestId"] == 11
            for d in p.get("reportData", ())]
    assert {(d["component"]["name"], d["variable"]["name"]) for d in full} >= {
        ("OCPPCommCtrlr", "HeartbeatInterval"), ("SmartChargingCtrlr", "Enabled"),
        ("TxCtrlr", "TxStartPoint"), ("EVSE", "Power"), ("Connector", "ConnectorType")}


def _smart_charging(strict, sim, tx_id, free_duty):
    """K01 TxDefaultProfile 10 A, then a TxProfile 8 A of the running transaction (K01.FR.03),
    K08 GetCompositeSchedule, K10 ClearChargingProfile by id and by purpose."""
    r = strict.request("SetChargingProfile", {
        "evseId": 1, "chargingProfile": _profile(7, "TxDefaultProfile", 10)})
    assert r["status"] == "Accepted", r
    sim.wait(lambda s: s["duty_permille"] == DUTY_10_A_PERMILLE, 10, "the 10 A duty")
    r = strict.request("SetChargingProfile", {
        "evseId": 1, "chargingProfile": _profile(8, "TxProfile", 8, tx_id)})
    assert r["status"] == "Accepted", r
    r = strict.request("SetChargingProfile", {
        "evseId": 1, "chargingProfile": _profile(9, "TxProfile", 8, "no-such-transaction")})
    assert r["status"] == "Rejected", r
    sim.wait(lambda s: s["duty_permille"] == DUTY_8_A_PERMILLE, 10, "the 8 A duty")
    r = strict.request("GetCompositeSchedule", {"duration": 3600, "evseId": 1,
                                                "chargingRateUnit": "A"})
    assert r["status"] == "Accepted" and r["schedule"]["evseId"] == 1, r
    assert [(p["startPeriod"], p["limit"]) for p in
            r["schedule"]["chargingSchedulePeriod"]][0] == (0, 8)
    r = strict.request("GetCompositeSchedule", {"duration": 600, "evseId": 0,
                                                "chargingRateUnit": "W"})
    assert r["status"] == "Accepted", r
    r = strict.request("GetCompositeSchedule", {"duration": 600, "evseId": 5})
    assert r["status"] == "Rejected", r
    assert strict.request("ClearChargingProfile", {"chargingProfileId": 8})["status"] \
        == "Accepted"
    sim.wait(lambda s: s["duty_permille"] == DUTY_10_A_PERMILLE, 10, "the 10 A duty again")
    r = strict.request("ClearChargingProfile", {"chargingProfileCriteria": {
        "chargingProfilePurpose": "TxDefaultProfile"}})
    assert r["status"] == "Accepted", r
    assert strict.request("ClearChargingProfile", {"chargingProfileId": 99})["status"] \
        == "Unknown"
    sim.wait(lambda s: s["duty_permille"] == free_duty, 10, "the unconstrained duty")


def _triggers(strict, tx_id):
    """F06 TriggerMessage StatusNotification, MeterValues, TransactionEvent, Heartbeat of
    EVSE 1 (each Accepted, then the message); an unknown EVSE Rejected."""
    counts = {a: len(strict.calls(a)) for a in ("StatusNotification", "MeterValues",
                                                 "Heartbeat")}
    triggered = len(_tx_events(strict, tx_id, trigger="Trigger"))
    for message in ("StatusNotification", "MeterValues", "TransactionEvent", "Heartbeat"):
        params = {"requestedMessage": message}
        if message != "Heartbeat":
            params["evse"] = {"id": 1}
        assert strict.request("TriggerMessage", params) == {"status": "Accepted"}, message
    for action, n in counts.items():
        strict.wait_for(action, count=n + 1)
    strict.wait_event(lambda e: len(_tx_events(strict, tx_id, trigger="Trigger")) > triggered,
                      10, "the triggered TransactionEvent")
    r = strict.request("TriggerMessage", {"requestedMessage": "MeterValues", "evse": {"id": 4}})
    assert r["status"] == "Rejected", r


def _no_errors(strict):
    assert strict.of("validation_error") == [], strict.of("validation_error")
    assert strict.of("bad_message") == [], strict.of("bad_message")
    inbound, outbound = strict.messages("in"), strict.messages("out")
    assert [m for m in inbound + outbound if m[0] == 4] == []
    # every call the station sent got a result, and every CSMS call a result
    assert sorted(m[1] for m in inbound if m[0] == 2) \
        == sorted(m[1] for m in outbound if m[0] == 3)
    assert sorted(m[1] for m in outbound if m[0] == 2) \
        == sorted(m[1] for m in inbound if m[0] == 3)


def test_gateway_201_passes_the_strict_ocpp_rpc_csms(strict201, meter_sim, start_gateway):
    """Issue 7: the 2.0.1 run against a CSMS validating every message strictly against the
    OCPP 2.0.1 schemas. B01 boot, G01 StatusNotification; B05/B06/B07 device model;
    E02/E06 a free-vend session (TransactionEvent Started / Updated with meter values every
    second / Ended) with K01/K08/K10 smart charging (TxDefaultProfile, a TxProfile of its
    transactionId, GetCompositeSchedule, ClearChargingProfile) and F06 TriggerMessage;
    N07 the owner's override as NotifyEvent; G03 ChangeAvailability, F05 UnlockConnector,
    P01 DataTransfer; F02 + K05 RequestStartTransaction with a TxProfile /
    RequestStopTransaction; B11 Reset OnIdle (Scheduled under a transaction, done at its end)
    and B12 Immediate, each followed by a new boot; zero validation errors, no CallError."""
    strict, sim = strict201, meter_sim
    gateway = start_gateway(strict, sim)
    boot = strict.wait_for("BootNotification")
    assert boot["reason"] == "PowerUp" and boot["chargingStation"]["model"]
    strict.wait_status(1, "Available")
    assert strict.of("connected")[0]["protocol"] == "ocpp2.0.1"
    _provisioning(strict)
    r = strict.request("ChangeAvailability", {"operationalStatus": "Operative"})
    assert r["status"] == "Accepted", r
    r = strict.request("ChangeAvailability", {"operationalStatus": "Operative",
                                              "evse": {"id": 1, "connectorId": 1}})
    assert r["status"] == "Accepted", r

    # E02 a free-vend session
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    started = strict.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started")
    tx_id = started["transactionInfo"]["transactionId"]
    strict.wait_status(1, "Occupied")
    st = sim.wait(lambda s: s["draw_ma"] > 15000, 10, "16 A to flow")
    free_duty = st["duty_permille"]
    strict.wait_event(lambda e: any(any(a > 15 for a in _currents(p)) for p in _tx_events(
        strict, tx_id, "Updated", "MeterValuePeriodic")), 15, "Updated with 16 A")
    assert strict.request("UnlockConnector", {"evseId": 1, "connectorId": 1}) \
        == {"status": "OngoingAuthorizedTransaction"}
    _smart_charging(strict, sim, tx_id, free_duty)
    _triggers(strict, tx_id)
    sim.control("press_button", ms=200)  # N07: the owner's override, as a NotifyEvent
    ev = strict.wait_for("NotifyEvent", where=lambda p: p["eventData"][0]["variable"]["name"]
                         == "ManualOverride")
    assert ev["eventData"][0]["component"] == {"name": "EVSE", "evse": {"id": 1}}
    sim.control("unplug")
    ended = strict.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
    assert ended["transactionInfo"]["transactionId"] == tx_id
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    events = _tx_events(strict, tx_id)
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    strict.wait_for("StatusNotification", where=lambda p: p["connectorStatus"] == "Available",
                    count=2)

    # F05 / P01 with no transaction
    assert strict.request("UnlockConnector", {"evseId": 3, "connectorId": 1}) \
        == {"status": "UnknownConnector"}
    r = strict.request("UnlockConnector", {"evseId": 1, "connectorId": 1})
    assert r["status"] in ("Unlocked", "UnlockFailed"), r
    assert strict.request("DataTransfer", {"vendorId": "com.example", "messageId": "x"}) \
        == {"status": "UnknownVendorId"}
    r = strict.request("DataTransfer", {"vendorId": "smartevse-ref",
                                        "messageId": "GetEvseState", "data": {"evseId": 1}})
    assert r["status"] == "Accepted" and r["data"]["linkOnline"] is True, r

    # F02 + K05 a remote start with a 10 A TxProfile before the plug-in, B11 Reset OnIdle
    # under it, F03 remote stop
    token = {"idToken": "TAG-42", "type": "Central"}
    r = strict.request("RequestStartTransaction", {
        "idToken": token, "remoteStartId": 5, "evseId": 1,
        "chargingProfile": _profile(21, "TxProfile", 10)})
    assert r["status"] == "Accepted", r
    sim.control("plug", state="B", pp_ohms=220)
    sim.wait(lambda s: s["duty_permille"] == DUTY_10_A_PERMILLE, 10, "the remote start's 10 A")
    started2 = strict.wait_for("TransactionEvent", count=2,
                               where=lambda p: p["eventType"] == "Started")
    # a remote start that waited for the plug-in starts there (gateway/ocpp201/transactions.py)
    assert started2["triggerReason"] == "CablePluggedIn" and started2["idToken"] == token
    tx2 = started2["transactionInfo"]["transactionId"]
    assert tx2 != tx_id and started2["transactionInfo"]["remoteStartId"] == 5
    assert strict.request("Reset", {"type": "OnIdle"})["status"] == "Scheduled"
    assert strict.request("RequestStopTransaction", {"transactionId": tx2}) \
        == {"status": "Accepted"}
    ended2 = strict.wait_for("TransactionEvent", count=2,
                             where=lambda p: p["eventType"] == "Ended")
    assert ended2["triggerReason"] == "RemoteStop"
    assert ended2["transactionInfo"]["stoppedReason"] == "Remote"
    boot2 = strict.wait_for("BootNotification", count=2, timeout_s=20)
    assert boot2["reason"] == "RemoteReset"
    sim.control("unplug")

    # B12 Reset Immediate with no transaction
    strict.wait_status(1, "Available")
    resets = sim.status()["resets"]
    assert strict.request("Reset", {"type": "Immediate"}) == {"status": "Accepted"}
    sim.wait(lambda s: s["resets"] > resets, 10, "the firmware to reboot")
    assert strict.wait_for("BootNotification", count=3, timeout_s=20)["reason"] \
        == "RemoteReset"

    gateway.stop()
    strict.wait_event(lambda e: e["event"] == "disconnected" and len(
        strict.of("disconnected")) == 3, 10, "the station to leave")
    assert len(strict.of("connected")) == 3  # each Reset's new connection
    seen = set(strict.actions())
    assert seen >= {"BootNotification", "Heartbeat", "StatusNotification", "TransactionEvent",
                    "MeterValues", "NotifyReport"}, seen
    _no_errors(strict)


def test_strict_201_csms_rejects_schema_invalid_messages(strict201):
    """The strict 2.0.1 server is not vacuous: a BootNotification without reason and a
    StatusNotification with a 1.6 status (Charging) get a CallError and a validation_error
    line; a 1.6-only client is refused at the upgrade."""
    import websockets
    from websockets.sync.client import connect

    with pytest.raises(websockets.InvalidStatus):
        connect(strict201.url + "/CS9", subprotocols=["ocpp1.6"], open_timeout=5)
    with connect(strict201.url + "/CS9", subprotocols=["ocpp2.0.1"], open_timeout=5) as ws:
        ws.send(json.dumps([2, "a", "BootNotification", {
            "chargingStation": {"model": "m", "vendorName": "v"}}]))
        assert json.loads(ws.recv(5))[:2] == [4, "a"]
        ws.send(json.dumps([2, "b", "StatusNotification", {
            "timestamp": _iso(time.time()), "connectorStatus": "Charging", "evseId": 1,
            "connectorId": 1}]))
        assert json.loads(ws.recv(5))[:2] == [4, "b"]
    strict201.wait_event(lambda e: e.get("method") == "StatusNotification", 5, "the 2nd error")
    assert [(e["dir"], e["method"]) for e in strict201.of("validation_error")] == [
        ("in", "BootNotification"), ("in", "StatusNotification")]
