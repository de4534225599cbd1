"""OCPP 1.6J end to end against an independent strict CSMS (issue 6, DESIGN §9): npm
`ocpp-rpc` with strictMode (tests/e2e/strict_csms.mjs, a node process started by the test)
validates every message in both directions against the official OCPP 1.6 JSON schemas, while
`python -m gateway` and `python -m sim_hardware --meter SDM630` run the flows of the core,
meter and smart tests: boot, a free-vend session with MeterValues, TC_056 / TC_066 / TC_067
smart charging, a remote start and stop, a hard reset. The strict server must see zero
validation errors and every expected message."""

import json
import time

import pytest
import websockets
from strict_csms import StrictCsms
from websockets.sync.client import connect

from gateway.smart.model import format_time as _iso

DUTY_10_A_PERMILLE = 166  # IEC 61851-1 Annex A: I = 0.6 x duty% -> 10 A = 16.6 %


@pytest.fixture
def strict(tmp_path):
    c = StrictCsms(tmp_path / "strict_csms.err")
    yield c
    c.stop()


def _tx_default_10_a(profile_id):
    return {"chargingProfileId": profile_id, "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
            "chargingSchedule": {"chargingRateUnit": "A", "startSchedule": _iso(time.time() - 60),
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}]}}


def _currents(p):
    return [float(sv["value"]) for sv in p["meterValue"][0]["sampledValue"]
            if sv.get("measurand") == "Current.Import"]


def test_gateway_passes_the_strict_ocpp_rpc_csms(strict, meter_sim, start_gateway):
    """Issue 6: the same run passes against a CSMS validating every message strictly against
    the official OCPP 1.6 schemas. TC_001 boot, TC_019 configuration, ChangeAvailability,
    TC_003/TC_004_1 + TC_021 a free-vend session with sampled MeterValues, TC_056/TC_066/TC_067
    a 10 A TxDefaultProfile (duty 166 permille; an unknown connector Rejected), its composite
    schedule (A and W) and its clearing, a remote start before the plug-in then
    RemoteStopTransaction, TC_013 hard reset; zero validation errors either way."""
    sim = meter_sim
    gateway = start_gateway(strict, sim)
    boot = strict.wait_for("BootNotification")
    assert boot["chargePointVendor"] and boot["chargePointModel"]
    strict.wait_status(0, "Available")
    strict.wait_status(1, "Available")
    assert strict.of("connected")[0]["protocol"] == "ocpp1.6"

    for key in ("MeterValueSampleInterval", "HeartbeatInterval"):
        assert strict.request("ChangeConfiguration", {"key": key, "value": "1"}) \
            == {"status": "Accepted"}
    conf = strict.request("GetConfiguration", {"key": ["MeterValueSampleInterval", "Nope"]})
    assert conf["unknownKey"] == ["Nope"]
    every = strict.request("GetConfiguration", {})["configurationKey"]
    assert {"key": "NumberOfConnectors", "readonly": True, "value": "1"} in every
    assert strict.request("ChangeAvailability", {"connectorId": 0, "type": "Operative"}) \
        == {"status": "Accepted"}
    strict.wait_for("Heartbeat", timeout_s=5)

    # a free-vend session with sampled MeterValues
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    assert strict.wait_for("Authorize")["idTag"] == "FREEVEND"
    start = strict.wait_for("StartTransaction")
    assert start["connectorId"] == 1 and start["idTag"] == "FREEVEND"
    strict.wait_status(1, "Charging")
    st = sim.wait(lambda s: s["draw_ma"] > 15000, 10, "16 A to flow")
    free_duty = st["duty_permille"]
    mv = strict.wait_for("MeterValues", where=lambda p: any(a > 15 for a in _currents(p)),
                         count=2)
    assert mv["transactionId"] == 1 and mv["connectorId"] == 1

    # TC_056 / TC_066 / TC_067
    r = strict.request("SetChargingProfile",
                       {"connectorId": 1, "csChargingProfiles": _tx_default_10_a(7)})
    assert r == {"status": "Accepted"}
    r = strict.request("SetChargingProfile",
                       {"connectorId": 4, "csChargingProfiles": _tx_default_10_a(8)})
    assert r == {"status": "Rejected"}  # no such connector
    sim.wait(lambda s: s["duty_permille"] == DUTY_10_A_PERMILLE, 10, "the 10 A duty")
    r = strict.request("GetCompositeSchedule",
                       {"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"})
    assert r["status"] == "Accepted" and r["connectorId"] == 1
    assert [(p["startPeriod"], p["limit"]) for p in
            r["chargingSchedule"]["chargingSchedulePeriod"]] == [(0, 10)]
    r = strict.request("GetCompositeSchedule",
                       {"connectorId": 0, "duration": 600, "chargingRateUnit": "W"})
    assert r["status"] == "Accepted"
    assert r["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 6900
    assert strict.request("ClearChargingProfile", {"id": 7}) == {"status": "Accepted"}
    sim.wait(lambda s: s["duty_permille"] == free_duty, 10, "the unconstrained duty")

    sim.control("unplug")
    stop = strict.wait_for("StopTransaction")
    assert stop["transactionId"] == 1 and stop["reason"] == "EVDisconnected"
    assert stop["meterStop"] >= start["meterStart"]
    assert [d["sampledValue"][0]["context"] for d in stop["transactionData"]] \
        == ["Transaction.Begin", "Transaction.End"]
    strict.wait_for("StatusNotification", where=lambda p: p["connectorId"] == 1
                    and p["status"] == "Available", count=2)

    # remote start before the plug-in, then remote stop
    r = strict.request("RemoteStartTransaction", {"idTag": "TAG-42", "connectorId": 1})
    assert r == {"status": "Accepted"}
    sim.control("plug", state="B", pp_ohms=220)
    start2 = strict.wait_for("StartTransaction", count=2)
    assert start2["idTag"] == "TAG-42" and start2["connectorId"] == 1
    strict.wait_for("StatusNotification", where=lambda p: p["connectorId"] == 1
                    and p["status"] == "Charging", count=2)
    r = strict.request("RemoteStopTransaction", {"transactionId": 2})
    assert r == {"status": "Accepted"}
    sim.control("unplug")
    stop2 = strict.wait_for("StopTransaction", count=2)
    assert stop2["transactionId"] == 2 and stop2["reason"] == "Remote"

    # TC_013 hard reset reaches the firmware, and the station registers again (§5.14)
    resets = sim.status()["resets"]
    assert strict.request("Reset", {"type": "Hard"}) == {"status": "Accepted"}
    sim.wait(lambda s: s["resets"] > resets, 10, "the firmware to reboot")
    strict.wait_for("BootNotification", count=2, timeout_s=15)

    gateway.stop()
    strict.wait_event(lambda e: e["event"] == "disconnected", 5, "the station to leave")
    assert strict.of("validation_error") == [], strict.of("validation_error")
    assert strict.of("bad_message") == [], strict.of("bad_message")
    assert len(strict.of("connected")) == 2  # the reset's new connection
    seen = set(strict.actions())
    assert seen >= {"BootNotification", "Heartbeat", "StatusNotification", "Authorize",
                    "StartTransaction", "MeterValues", "StopTransaction"}, seen
    # every call the station sent got a result, and every CSMS call a result (no CallError)
    inbound, outbound = strict.messages("in"), strict.messages("out")
    assert sorted(m[1] for m in inbound if m[0] == 2) \
        == sorted(m[1] for m in outbound if m[0] == 3)
    assert len([m for m in outbound if m[0] == 2]) == 13
    assert sorted(m[1] for m in outbound if m[0] == 2) \
        == sorted(m[1] for m in inbound if m[0] == 3)
    assert [m for m in inbound + outbound if m[0] == 4] == []


def test_strict_csms_refuses_a_client_without_an_ocpp_subprotocol(strict):
    """DESIGN §9: a client that offers no OCPP 1.6 subprotocol is refused at the upgrade."""
    for protocols in (None, ["ocpp2.0.1"]):
        with pytest.raises(websockets.InvalidStatus) as exc:
            connect(strict.url + "/CS9", subprotocols=protocols, open_timeout=5)
        assert exc.value.response.status_code == 400
    strict.wait_event(lambda e: e.get("protocols") == ["ocpp2.0.1"], 5, "the second refusal")
    assert [e["protocols"] for e in strict.of("rejected")] == [[], ["ocpp2.0.1"]]
    assert strict.of("connected") == []


def test_strict_csms_rejects_schema_invalid_messages(strict):
    """The strict server is not vacuous: a BootNotification without chargePointModel and a
    StatusNotification with an unknown status get a CallError and a validation_error line."""
    with connect(strict.url + "/CS9", subprotocols=["ocpp1.6"], open_timeout=5) as ws:
        ws.send(json.dumps([2, "a", "BootNotification", {"chargePointVendor": "x"}]))
        assert json.loads(ws.recv(5))[:3] == [4, "a", "OccurrenceConstraintViolation"]
        ws.send(json.dumps([2, "b", "StatusNotification",
                            {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"}]))
        assert json.loads(ws.recv(5))[:2] == [4, "b"]
    strict.wait_event(lambda e: e.get("method") == "StatusNotification", 5, "the 2nd error")
    errors = strict.of("validation_error")
    assert [(e["dir"], e["kind"], e["method"]) for e in errors] == [
        ("in", "call", "BootNotification"), ("in", "call", "StatusNotification")]


def test_strict_trigger_message_unlock_connector_data_transfer(strict, sim, start_gateway):
    """The flows of test_ocpp16_octt_core.py against the strict ocpp-rpc CSMS: TC_054
    TriggerMessage of all six messages (each Accepted, then the message), TC_055 (an unknown
    connector Rejected, MeterValues of connector 0 NotImplemented), UnlockConnector
    NotSupported (no lock, TC_017_2; unknown connector, TC_031), TC_062 DataTransfer to the
    station (UnknownVendorId, our GetEvseState) and from it (ManualOverride, AG-12: the
    owner's button); zero validation errors either way, no CallError."""
    start_gateway(strict, sim)
    strict.wait_status(1, "Available")
    for message in ("BootNotification", "Heartbeat", "StatusNotification", "MeterValues",
                    "DiagnosticsStatusNotification", "FirmwareStatusNotification"):
        params = {"requestedMessage": message}
        if message == "MeterValues":
            params["connectorId"] = 1
        assert strict.request("TriggerMessage", params) == {"status": "Accepted"}, message
    strict.wait_for("BootNotification", count=2)
    strict.wait_for("DiagnosticsStatusNotification")
    strict.wait_for("FirmwareStatusNotification")
    strict.wait_for("MeterValues")
    assert strict.request("TriggerMessage", {"requestedMessage": "MeterValues",
                                             "connectorId": 2}) == {"status": "Rejected"}
    assert strict.request("TriggerMessage", {"requestedMessage": "MeterValues",
                                             "connectorId": 0}) == {"status": "NotImplemented"}
    for cid in (1, 2):
        assert strict.request("UnlockConnector", {"connectorId": cid}) \
            == {"status": "NotSupported"}
    assert strict.request("DataTransfer", {"vendorId": "com.example", "messageId": "x"}) \
        == {"status": "UnknownVendorId"}
    r = strict.request("DataTransfer", {"vendorId": "smartevse-ref",
                                        "messageId": "GetEvseState", "data": '{"connectorId":1}'})
    assert r["status"] == "Accepted" and json.loads(r["data"])["connectorId"] == 1

    sim.control("plug", state="B", pp_ohms=220)
    strict.wait_status(1, "Charging")
    sim.control("press_button", ms=200)
    dt = strict.wait_for("DataTransfer", where=lambda p: p.get("messageId") == "ManualOverride")
    assert dt["vendorId"] == "smartevse-ref"
    assert json.loads(dt["data"])["active"] is True

    assert strict.of("validation_error") == [], strict.of("validation_error")
    assert strict.of("bad_message") == [], strict.of("bad_message")
    inbound, outbound = strict.messages("in"), strict.messages("out")
    assert [m for m in inbound + outbound if m[0] == 4] == []
