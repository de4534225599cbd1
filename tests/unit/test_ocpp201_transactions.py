"""gateway/ocpp201/transactions.py and pdus.py: each queued transaction message becomes a
TransactionEvent that passes the OCPP 2.0.1 JSON schema (the `ocpp` library's validator),
with the trigger and stopped reasons of the tables (Part 2 E01-E07)."""

import asyncio

import pytest
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.messages import Call, validate_payload

from gateway.ocpp201.pdus import connector_status, meter_value, sampled_value
from gateway.ocpp201.transactions import STOPPED, transaction_event
from gateway.station import ConnectorStatus

T0 = 1_790_000_000
START = {"connector_id": 1, "key": 5, "id_tag": "FREEVEND", "meter_start_wh": 1200,
         "unix_s": T0, "cause": "plug_in"}
REMOTE = dict(START, id_tag={"idToken": {"id_token": "TAG-1", "type": "Central"},
                             "remoteStartId": 9}, cause="remote_start")
MV = {"timestamp": "2026-09-21T10:00:00Z", "sampled_value": [
    {"value": "16.000", "context": "Sample.Periodic", "format": "Raw",
     "measurand": "Current.Import", "location": "Outlet", "unit": "A", "phase": "L1"},
    {"value": "50.000", "context": "Sample.Periodic", "format": "Raw",
     "measurand": "Frequency", "location": "Outlet"}]}


def payload_of(c):
    """The JSON payload the library sends for the call c, checked against the schema."""
    payload = remove_nones(snake_to_camel_case(serialize_as_dict(c)))
    asyncio.run(validate_payload(Call("1", "TransactionEvent", payload), "2.0.1"))
    return payload


def test_e02_started_free_vend_has_no_id_token_and_the_begin_register():
    p = payload_of(transaction_event("tx_start", START, "ab-5", 0, False))
    assert (p["eventType"], p["triggerReason"], p["seqNo"]) == ("Started", "CablePluggedIn", 0)
    assert "idToken" not in p and "offline" not in p
    assert p["transactionInfo"] == {"transactionId": "ab-5", "chargingState": "EVConnected"}
    sv = p["meterValue"][0]["sampledValue"][0]
    assert (sv["value"], sv["context"], sv["unitOfMeasure"]) == (
        1200, "Transaction.Begin", {"unit": "Wh"})


def test_f02_started_by_remote_start_carries_id_token_and_remote_start_id():
    p = payload_of(transaction_event("tx_start", REMOTE, "ab-5", 0, True))
    assert p["triggerReason"] == "RemoteStart" and p["offline"] is True
    assert p["idToken"] == {"idToken": "TAG-1", "type": "Central"}
    assert p["transactionInfo"]["remoteStartId"] == 9


def test_updated_meter_values_trigger_from_the_context():
    p = payload_of(transaction_event("meter_values", {"connector_id": 1, "key": 5,
                                                      "meter_value": [MV]}, "ab-5", 3, False))
    assert (p["eventType"], p["triggerReason"], p["seqNo"]) == ("Updated",
                                                                "MeterValuePeriodic", 3)
    values = p["meterValue"][0]["sampledValue"]
    assert values[0] == {"value": 16, "context": "Sample.Periodic", "measurand":
                         "Current.Import", "location": "Outlet", "phase": "L1",
                         "unitOfMeasure": {"unit": "A"}}
    assert values[1]["unitOfMeasure"] == {"unit": "Hz"}  # 2.0.1 has a hertz unit


@pytest.mark.parametrize("reason", sorted(STOPPED))
def test_e06_ended_reasons_pass_the_schema(reason):
    stop = {"connector_id": 1, "key": 5, "id_tag": "FREEVEND", "meter_stop_wh": 1500,
            "unix_s": T0 + 60, "reason": reason}
    p = payload_of(transaction_event("tx_stop", stop, "ab-5", 7, False))
    assert p["eventType"] == "Ended"
    assert (p["triggerReason"], p["transactionInfo"]["stoppedReason"]) == STOPPED[reason]
    assert p["meterValue"][0]["sampledValue"][0]["context"] == "Transaction.End"


def test_unknown_stop_reason_is_other():
    stop = {"connector_id": 1, "key": 5, "id_tag": "X", "meter_stop_wh": 1, "unix_s": T0,
            "reason": "Martians"}
    p = payload_of(transaction_event("tx_stop", stop, "ab-5", 1, False))
    assert p["transactionInfo"]["stoppedReason"] == "Other"


def test_charging_state_update():
    upd = {"connector_id": 1, "key": 5, "trigger": "ChargingStateChanged",
           "charging_state": "SuspendedEV", "unix_s": T0}
    p = payload_of(transaction_event("tx_update", upd, "ab-5", 2, False))
    assert p["transactionInfo"] == {"transactionId": "ab-5", "chargingState": "SuspendedEV"}


def test_g01_connector_status_of_every_station_status():
    for status in ("Available", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE",
                   "Finishing", "Unavailable", "Faulted"):
        assert connector_status(ConnectorStatus(status)) in (
            "Available", "Occupied", "Unavailable", "Faulted")
    assert connector_status(ConnectorStatus("Charging")) == "Occupied"
    assert connector_status(ConnectorStatus("nonsense")) == "Unavailable"


def test_sampled_values_numbers():
    assert sampled_value({"value": "-0.050", "context": "Trigger", "measurand": "Current.Import",
                          "unit": "A"})["value"] == -0.05
    assert meter_value(MV)["timestamp"] == MV["timestamp"]
