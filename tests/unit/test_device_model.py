"""The OCPP 2.0.1 device model (gateway/ocpp201/device_model.py) and its handlers
(gateway/ocpp201/device_model_handlers.py), named after the OCPP 2.0.1 Part 2 requirements:
B05 SetVariables, B06 GetVariables, B07 GetBaseReport. The handlers run inside a real
`ocpp.v201.ChargePoint` fed raw OCPP-J frames, so every request and answer passes the
library's 2.0.1 JSON-schema validation; NotifyReport payloads are validated against the
schema too."""

import asyncio
import json
import logging
import sqlite3

import pytest
from ocpp.messages import Call, validate_payload
from ocpp.v201 import ChargePoint

from gateway.config16 import MEASURANDS
from gateway.ocpp201 import device_model as dmod
from gateway.ocpp201.device_model import DeviceModel
from gateway.ocpp201.device_model_handlers import DeviceModelHandlers
from gateway.store import Store

EVSES = 2


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "gw.db")
    yield s
    s.close()


@pytest.fixture
def dm(store):
    return DeviceModel(store, EVSES, "CS-7", security_profile=1)


class _Connection:
    def __init__(self):
        self.sent = []

    async def send(self, text):
        self.sent.append(json.loads(text))

    async def recv(self):  # never used: frames are routed by hand
        await asyncio.sleep(3600)


class _ChargePoint(DeviceModelHandlers, ChargePoint):
    """The mixin on the library's ChargePoint; `call` collects the requests it would send."""

    def __init__(self, device_model):
        super().__init__("CS-7", _Connection())
        self.device_model = device_model
        self.calls = []

    async def call(self, payload, *args, **kwargs):
        self.calls.append(payload)


def _request(cp, action, payload):
    """Route one CALL through the library; returns the CALLRESULT payload, or the CALLERROR
    frame; waits for the after-handlers it spawned."""
    async def run():
        before = asyncio.all_tasks()
        await cp.route_message(json.dumps([2, "m1", action, payload]))
        spawned = asyncio.all_tasks() - before - {asyncio.current_task()}
        await asyncio.gather(*spawned)
    asyncio.run(run())
    frame = cp._connection.sent.pop()
    return frame[2] if frame[0] == 3 else frame


def _gv(component, variable, attribute=None, evse=None, connector=None, instance=None):
    item = {"component": {"name": component}, "variable": {"name": variable}}
    if attribute:
        item["attributeType"] = attribute
    if evse is not None:
        item["component"]["evse"] = {"id": evse}
        if connector is not None:
            item["component"]["evse"]["connectorId"] = connector
    if instance:
        item["variable"]["instance"] = instance
    return item


def _sv(component, variable, value, **kw):
    return dict(_gv(component, variable, **kw), attributeValue=value)


def _get(cp, *items):
    return _request(cp, "GetVariables", {"getVariableData": list(items)})["getVariableResult"]


def _set(cp, *items):
    return _request(cp, "SetVariables", {"setVariableData": list(items)})["setVariableResult"]


# --- B06 GetVariables -------------------------------------------------------------------

def test_b06_fr_01_02_10_get_accepted_values_in_order(dm):
    """B06.FR.01/02/10: one GetVariableResult per GetVariableData, in order, echoing the
    component and variable, Accepted with the value: station, EVSE and connector level."""
    cp = _ChargePoint(dm)
    r = _get(cp, _gv("OCPPCommCtrlr", "HeartbeatInterval"),
             _gv("OCPPCommCtrlr", "MessageAttempts", instance="TransactionEvent"),
             _gv("SecurityCtrlr", "SecurityProfile"), _gv("SecurityCtrlr", "Identity"),
             _gv("EVSE", "Power", evse=2), _gv("Connector", "ConnectorType", evse=1, connector=1))
    assert [x["attributeStatus"] for x in r] == ["Accepted"] * 6
    assert [x["attributeValue"] for x in r] == ["300", "3", "1", "CS-7", "0", "cType2"]
    assert r[1]["variable"] == {"name": "MessageAttempts", "instance": "TransactionEvent"}
    assert r[5]["component"] == {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}


def test_b06_fr_06_unknown_component(dm):
    """B06.FR.06: a component the station does not have (unknown name, EVSE 3 of 2, a
    station-wide controller addressed at an EVSE, an EVSE without id, a component instance)
    -> UnknownComponent, no value."""
    cp = _ChargePoint(dm)
    r = _get(cp, _gv("FooCtrlr", "Enabled"), _gv("EVSE", "Power", evse=3),
             _gv("OCPPCommCtrlr", "HeartbeatInterval", evse=1), _gv("EVSE", "Power"),
             {"component": {"name": "TxCtrlr", "instance": "x"},
              "variable": {"name": "EVConnectionTimeOut"}})
    assert [x["attributeStatus"] for x in r] == ["UnknownComponent"] * 5
    assert all("attributeValue" not in x for x in r)


def test_b06_fr_07_15_unknown_variable(dm):
    """B06.FR.07: an unknown variable of a known component -> UnknownVariable; B06.FR.15: a
    variable that exists only per instance, asked without (or with another) instance, too."""
    cp = _ChargePoint(dm)
    r = _get(cp, _gv("OCPPCommCtrlr", "Nope"), _gv("OCPPCommCtrlr", "MessageTimeout"),
             _gv("OCPPCommCtrlr", "MessageTimeout", instance="Other"),
             _gv("DeviceDataCtrlr", "ItemsPerMessage"))
    assert [x["attributeStatus"] for x in r] == ["UnknownVariable"] * 4
    assert all("attributeValue" not in x for x in r)


def test_b06_fr_08_not_supported_attribute_type(dm):
    """B06.FR.08: Target, MinSet, MaxSet are not kept -> NotSupportedAttributeType, the
    attributeType echoed (B06.FR.03)."""
    cp = _ChargePoint(dm)
    r = _get(cp, *[_gv("OCPPCommCtrlr", "HeartbeatInterval", attribute=a)
                   for a in ("Target", "MinSet", "MaxSet")])
    assert [x["attributeStatus"] for x in r] == ["NotSupportedAttributeType"] * 3
    assert [x["attributeType"] for x in r] == ["Target", "MinSet", "MaxSet"]


def test_b06_fr_09_write_only_rejected(dm):
    """B06.FR.09: reading a WriteOnly variable (SecurityCtrlr BasicAuthPassword) -> Rejected,
    reasonCode WriteOnly, no value, also after it was set."""
    cp = _ChargePoint(dm)
    assert _set(cp, _sv("SecurityCtrlr", "BasicAuthPassword", "a-long-secret-1234")
                )[0]["attributeStatus"] == "Accepted"
    r = _get(cp, _gv("SecurityCtrlr", "BasicAuthPassword"))[0]
    assert r["attributeStatus"] == "Rejected"
    assert r["attributeStatusInfo"]["reasonCode"] == "WriteOnly"
    assert "attributeValue" not in r


def test_b06_fr_11_attribute_type_defaults_to_actual(dm):
    """B06.FR.11 / B05.FR.12: no attributeType in the request -> Actual in the result."""
    cp = _ChargePoint(dm)
    assert _get(cp, _gv("TxCtrlr", "TxStopPoint"))[0]["attributeType"] == "Actual"
    assert _set(cp, _sv("TxCtrlr", "EVConnectionTimeOut", "90"))[0]["attributeType"] == "Actual"


def test_b06_fr_16_items_per_message_exceeded(dm):
    """B06.FR.16: more GetVariableData than ItemsPerMessageGetVariables -> CALLERROR
    OccurrenceConstraintViolation for the whole request; at the limit it is answered."""
    cp = _ChargePoint(dm)
    dm.set_actual("DeviceDataCtrlr", "ItemsPerMessage", "2", instance="GetVariables")
    item = _gv("OCPPCommCtrlr", "HeartbeatInterval")
    frame = _request(cp, "GetVariables", {"getVariableData": [item] * 3})
    assert frame[0] == 4 and frame[2] == "OccurrenceConstraintViolation"
    assert len(_get(cp, item, item)) == 2


def test_b06_fr_17_bytes_per_message_exceeded(dm):
    """B06.FR.17: a GetVariablesRequest longer than BytesPerMessageGetVariables -> CALLERROR
    FormatViolation."""
    cp = _ChargePoint(dm)
    dm.set_actual("DeviceDataCtrlr", "BytesPerMessage", "120", instance="GetVariables")
    frame = _request(cp, "GetVariables",
                     {"getVariableData": [_gv("OCPPCommCtrlr", "HeartbeatInterval")] * 3})
    assert frame[0] == 4 and frame[2] == "FormatViolation"
    assert _get(cp, _gv("OCPPCommCtrlr", "HeartbeatInterval"))[0]["attributeValue"] == "300"


# --- B05 SetVariables -------------------------------------------------------------------

def test_b05_fr_10_set_accepted_persists_across_restart(store, dm):
    """B05.FR.10: a valid value -> Accepted; it persists: a new DeviceModel on the same store
    (a gateway restart) reads it back, typed."""
    cp = _ChargePoint(dm)
    r = _set(cp, _sv("OCPPCommCtrlr", "HeartbeatInterval", "45"),
             _sv("SampledDataCtrlr", "TxUpdatedMeasurands", "Voltage, SoC"),
             _sv("SmartChargingCtrlr", "LimitChangeSignificance", "2.5"),
             _sv("AlignedDataCtrlr", "SendDuringIdle", "TRUE"))
    assert [x["attributeStatus"] for x in r] == ["Accepted"] * 4
    again = DeviceModel(store, EVSES, "CS-7")
    assert again.number("OCPPCommCtrlr", "HeartbeatInterval") == 45
    assert again.members("SampledDataCtrlr", "TxUpdatedMeasurands") == ("Voltage", "SoC")
    assert again.number("SmartChargingCtrlr", "LimitChangeSignificance") == 2.5
    assert again.flag("AlignedDataCtrlr", "SendDuringIdle") is True
    assert store.get_meta(dmod.META_KEY)["OCPPCommCtrlr/HeartbeatInterval"] == "45"


def test_b05_fr_04_05_06_unknown_component_variable_attribute(dm):
    """B05.FR.04 UnknownComponent, B05.FR.05 UnknownVariable, B05.FR.06
    NotSupportedAttributeType; nothing changes."""
    cp = _ChargePoint(dm)
    r = _set(cp, _sv("FooCtrlr", "Enabled", "true"), _sv("EVSE", "Power", "1", evse=9),
             _sv("TxCtrlr", "Nope", "1"),
             _sv("OCPPCommCtrlr", "HeartbeatInterval", "10", attribute="Target"))
    assert [x["attributeStatus"] for x in r] == [
        "UnknownComponent", "UnknownComponent", "UnknownVariable", "NotSupportedAttributeType"]
    assert dm.number("OCPPCommCtrlr", "HeartbeatInterval") == 300


@pytest.mark.parametrize("component, variable, value, reason, instance", [
    ("OCPPCommCtrlr", "HeartbeatInterval", "0", "ValueTooLow", None),
    ("OCPPCommCtrlr", "HeartbeatInterval", "86401", "ValueTooHigh", None),
    ("OCPPCommCtrlr", "HeartbeatInterval", "30s", "InvalidValue", None),
    ("OCPPCommCtrlr", "HeartbeatInterval", "1.5", "InvalidValue", None),
    ("OCPPCommCtrlr", "MessageAttempts", "0", "ValueTooLow", "TransactionEvent"),
    ("SmartChargingCtrlr", "LimitChangeSignificance", "100.5", "ValueTooHigh", None),
    ("SmartChargingCtrlr", "LimitChangeSignificance", "nan", "InvalidValue", None),
    ("SmartChargingCtrlr", "Enabled", "yes", "InvalidValue", None),
    ("SampledDataCtrlr", "TxUpdatedMeasurands", "Voltage,Temperature", "InvalidValue", None),
    ("SampledDataCtrlr", "TxUpdatedMeasurands", "Voltage,Voltage", "InvalidValue", None),
    ("TxCtrlr", "TxStartPoint", "Authorized", "InvalidValue", None),
    ("TxCtrlr", "TxStopPoint", "", "ValueTooLow", None),
    ("ClockCtrlr", "TimeSource", "NTP", "InvalidValue", None),
    ("SecurityCtrlr", "OrganizationName", "", "ValueTooLow", None),
    ("SecurityCtrlr", "OrganizationName", "x" * 65, "ValueTooHigh", None),
    ("SecurityCtrlr", "BasicAuthPassword", "short", "ValueTooLow", None),
])
def test_b05_fr_07_bad_value_rejected(dm, component, variable, value, reason, instance):
    """B05.FR.07: a value outside the range (minLimit/maxLimit), of the wrong dataType, not
    in the valuesList (OptionList/MemberList/SequenceList, no member twice), or too short or
    long a string -> Rejected with a reasonCode; the value stays."""
    cp = _ChargePoint(dm)
    before = dm.get(component, variable, instance=instance)
    r = _set(cp, _sv(component, variable, value, instance=instance))[0]
    assert r["attributeStatus"] == "Rejected"
    assert r["attributeStatusInfo"] == {"reasonCode": reason}
    assert dm.get(component, variable, instance=instance) == before


def test_b05_fr_08_read_only_rejected(dm):
    """B05.FR.08: a ReadOnly variable (SecurityProfile, ItemsPerMessage, EVSE Power,
    Connector ConnectorType) -> Rejected, reasonCode ReadOnly."""
    cp = _ChargePoint(dm)
    r = _set(cp, _sv("SecurityCtrlr", "SecurityProfile", "0"),
             _sv("DeviceDataCtrlr", "ItemsPerMessage", "99", instance="GetVariables"),
             _sv("EVSE", "Power", "5", evse=1),
             _sv("Connector", "ConnectorType", "sType2", evse=2, connector=1))
    assert [x["attributeStatus"] for x in r] == ["Rejected"] * 4
    assert {x["attributeStatusInfo"]["reasonCode"] for x in r} == {"ReadOnly"}
    assert dm.get("SecurityCtrlr", "SecurityProfile") == ("Accepted", "1")


def test_b05_fr_09_reboot_required(store, monkeypatch):
    """B05.FR.09: a variable that takes effect only after a reboot (marked `reboot` in the
    table: NetworkConfigurationPriority) -> RebootRequired when the value changes, stored;
    setting the value it has -> Accepted. The table is widened here to a second slot: the
    built station has one connection profile, so its only value is the one it has."""
    real = dmod._definitions

    def two_slots(*args):
        return [v._replace(values=("1", "2")) if v.variable == "NetworkConfigurationPriority"
                else v for v in real(*args)]
    monkeypatch.setattr(dmod, "_definitions", two_slots)
    cp = _ChargePoint(DeviceModel(store, EVSES, "CS-7"))
    r = _set(cp, _sv("OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1"))[0]
    assert r["attributeStatus"] == "RebootRequired"
    r = _set(cp, _sv("OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1"))[0]
    assert r["attributeStatus"] == "Accepted"
    assert DeviceModel(store, EVSES, "CS-7").members(
        "OCPPCommCtrlr", "NetworkConfigurationPriority") == ("2", "1")


def test_b05_fr_11_items_per_message_set_variables(dm):
    """B05.FR.11 seen from the station: more SetVariableData than ItemsPerMessageSetVariables
    -> CALLERROR OccurrenceConstraintViolation, nothing set."""
    cp = _ChargePoint(dm)
    dm.set_actual("DeviceDataCtrlr", "ItemsPerMessage", "1", instance="SetVariables")
    frame = _request(cp, "SetVariables", {"setVariableData": [
        _sv("OCPPCommCtrlr", "HeartbeatInterval", "20"), _sv("TxCtrlr", "EVConnectionTimeOut",
                                                             "20")]})
    assert frame[2] == "OccurrenceConstraintViolation"
    assert dm.number("OCPPCommCtrlr", "HeartbeatInterval") == 300


# --- the model's own API ----------------------------------------------------------------

def test_set_actual_bypasses_mutability_and_tells_listeners(store, dm):
    """set_actual writes a ReadOnly variable (the gateway's own knowledge, e.g. AuthCtrlr
    Enabled false under free vend) and a HeartbeatInterval from BootNotification; persisted;
    on_change listeners hear every successful set; a bad value is a ValueError, an unknown
    variable a KeyError; a failing listener does not stop the set."""
    heard = []
    dm.on_change(lambda *a: 1 / 0)
    dm.on_change(lambda *a: heard.append(a))
    dm.set_actual("AuthCtrlr", "Enabled", "false")
    dm.set_actual("OCPPCommCtrlr", "HeartbeatInterval", "120")
    assert dm.set("TxCtrlr", "StopTxOnInvalidId", "false") == "Accepted"
    assert heard == [("AuthCtrlr", "Enabled", None, "false"),
                     ("OCPPCommCtrlr", "HeartbeatInterval", None, "120"),
                     ("TxCtrlr", "StopTxOnInvalidId", None, "false")]
    again = DeviceModel(store, EVSES, "CS-7")
    assert again.flag("AuthCtrlr", "Enabled") is False
    assert again.number("OCPPCommCtrlr", "HeartbeatInterval") == 120
    with pytest.raises(ValueError, match="HeartbeatInterval"):
        dm.set_actual("OCPPCommCtrlr", "HeartbeatInterval", "-5")
    with pytest.raises(KeyError):
        dm.set_actual("OCPPCommCtrlr", "Nope", "1")


def test_typed_reads_and_defaults(dm):
    """Defaults taken from the 1.6 keys (gateway/config16.py) and the constructor; number()
    is an int for integer and a float for decimal variables."""
    assert dm.number("OCPPCommCtrlr", "HeartbeatInterval") == 300
    assert dm.number("SampledDataCtrlr", "TxUpdatedInterval") == 60
    assert dm.number("AlignedDataCtrlr", "Interval") == 0
    assert dm.number("OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent") == 10
    assert dm.number("TxCtrlr", "EVConnectionTimeOut") == 60
    assert isinstance(dm.number("SmartChargingCtrlr", "LimitChangeSignificance"), float)
    assert dm.members("SmartChargingCtrlr", "RateUnit") == ("A", "W")
    assert dm.members("TxCtrlr", "TxStopPoint") == ("EVConnected", "Authorized")
    assert set(dm.members("SampledDataCtrlr", "TxUpdatedMeasurands")) <= set(MEASURANDS)
    assert dm.text("ChargingStation", "VendorName") == "smartevse-ref"
    assert dm.text("ChargingStation", "Model") == "gateway"
    assert dm.flag("SmartChargingCtrlr", "ACPhaseSwitchingSupported") is False


def test_providers_give_dynamic_read_only_values(store):
    """provide(): EVSE AvailabilityState per EVSE, the ChargingProfiles Entries and the
    CertificateEntries are read from the gateway at every get and report; ClockCtrlr
    DateTime is the clock now; a failing provider -> Rejected (InternalError) and no value
    in the report; providing an unknown variable is a KeyError."""
    states = {1: "Occupied", 2: "Unavailable"}
    dm = DeviceModel(store, EVSES, "CS-7", providers={
        ("SmartChargingCtrlr", "Entries", None, None): lambda: 4})
    for e in (1, 2):
        dm.provide("EVSE", "AvailabilityState", lambda e=e: states[e], evse=e)
    assert dm.get("EVSE", "AvailabilityState", evse=2) == ("Accepted", "Unavailable")
    states[2] = "Available"
    assert dm.get("EVSE", "AvailabilityState", evse=2) == ("Accepted", "Available")
    assert dm.get("Connector", "AvailabilityState", evse=1, connector=1) == \
        ("Accepted", "Available")  # no provider: the default
    assert dm.get("SmartChargingCtrlr", "Entries", instance="ChargingProfiles") == \
        ("Accepted", "4")
    assert dm.get("SecurityCtrlr", "CertificateEntries") == ("Accepted", "0")
    status, now = dm.get("ClockCtrlr", "DateTime")
    assert status == "Accepted" and now.endswith("Z") and now[:2] == "20"
    dm.provide("EVSE", "Power", lambda: 1 / 0, evse=1)
    assert dm.get_result("EVSE", "Power", evse=1) == ("Rejected", None, "InternalError")
    power = [d for d in dm.report("FullInventory") if d["component"].get("evse") == {"id": 1}
             and d["variable"]["name"] == "Power"][0]
    assert "value" not in power["variableAttribute"][0]
    with pytest.raises(KeyError):
        dm.provide("EVSE", "Nope", lambda: "1", evse=1)


def test_corrupt_persisted_data_gives_defaults(store, caplog):
    """Corrupt persisted variables never crash the gateway: a stored value that is not an
    object, a value no longer valid (warning, default used), an unknown key (ignored), a
    meta row that is not JSON at all (warning, defaults)."""
    store.set_meta(dmod.META_KEY, ["not", "an", "object"])
    with caplog.at_level(logging.WARNING):
        assert DeviceModel(store, EVSES, "CS-7").number("OCPPCommCtrlr",
                                                        "HeartbeatInterval") == 300
    assert "not an object" in caplog.text
    store.set_meta(dmod.META_KEY, {"OCPPCommCtrlr/HeartbeatInterval": "-1",
                                   "OCPPCommCtrlr/Gone": "5",
                                   "TxCtrlr/EVConnectionTimeOut": "33"})
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        dm = DeviceModel(store, EVSES, "CS-7")
    assert dm.number("OCPPCommCtrlr", "HeartbeatInterval") == 300
    assert dm.number("TxCtrlr", "EVConnectionTimeOut") == 33
    assert "HeartbeatInterval" in caplog.text and "Gone" not in caplog.text
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE meta SET value = '{broken' WHERE key = ?", (dmod.META_KEY,))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        dm = DeviceModel(store, EVSES, "CS-7")
    assert dm.number("TxCtrlr", "EVConnectionTimeOut") == 60
    assert "unreadable" in caplog.text


# --- B07 GetBaseReport + NotifyReport ---------------------------------------------------

def _schema_valid(action, payload):
    asyncio.run(validate_payload(Call("x", action, payload), "2.0.1"))


def test_b07_full_inventory_has_every_variable(dm):
    """B07 FullInventory: every variable of every component (station, each EVSE, each
    connector) with its characteristics (dataType, supportsMonitoring, unit, limits,
    valuesList) and its Actual attribute (mutability, persistent, constant, value);
    B07.FR.03: a WriteOnly variable without its value. Schema-valid ReportData."""
    full = dm.report("FullInventory")
    per_evse = [v for v in dmod._definitions(1, "CS-7", "v", "m") if v.scope != "station"]
    station = [v for v in dmod._definitions(1, "CS-7", "v", "m") if v.scope == "station"]
    assert len(full) == len(station) + EVSES * len(per_evse)
    by = {(d["component"]["name"], json.dumps(d["component"].get("evse")),
           d["variable"]["name"], d["variable"].get("instance")): d for d in full}
    assert len(by) == len(full)
    hb = by[("OCPPCommCtrlr", "null", "HeartbeatInterval", None)]
    assert hb["variableCharacteristics"] == {"dataType": "integer", "supportsMonitoring": False,
                                             "unit": "s", "minLimit": 1, "maxLimit": 86400}
    assert hb["variableAttribute"] == [{"type": "Actual", "mutability": "ReadWrite",
                                        "persistent": True, "constant": False, "value": "300"}]
    tx = by[("TxCtrlr", "null", "TxStartPoint", None)]["variableCharacteristics"]
    assert tx["dataType"] == "MemberList" and tx["valuesList"] == "PowerPathClosed"
    power = by[("EVSE", '{"id": 2}', "Power", None)]["variableCharacteristics"]
    assert power["maxLimit"] == 22080 and power["unit"] == "W"
    assert ("Connector", '{"id": 2, "connectorId": 1}', "ConnectorType", None) in by
    pw = by[("SecurityCtrlr", "null", "BasicAuthPassword", None)]["variableAttribute"][0]
    assert pw["mutability"] == "WriteOnly" and "value" not in pw
    for d in full:
        assert {"dataType", "supportsMonitoring"} <= set(d["variableCharacteristics"])
    _schema_valid("NotifyReport", {"requestId": 1, "generatedAt": "2026-01-01T00:00:00Z",
                                   "seqNo": 0, "reportData": full})


def test_b07_configuration_and_summary_inventory(dm):
    """B07 ConfigurationInventory: only the variables the CSMS can write (ReadWrite, and
    WriteOnly without a value); SummaryInventory: the AvailabilityState of the station,
    each EVSE and each connector; an unknown base -> None (NotSupported)."""
    conf = dm.report("ConfigurationInventory")
    modes = {d["variableAttribute"][0]["mutability"] for d in conf}
    assert modes == {"ReadWrite", "WriteOnly"}
    assert len([d for d in conf if d["variableAttribute"][0]["mutability"] == "ReadWrite"]) \
        == len([d for d in dm.report("FullInventory")
                if d["variableAttribute"][0]["mutability"] == "ReadWrite"])
    summary = dm.report("SummaryInventory")
    assert [d["component"]["name"] for d in summary] == \
        ["ChargingStation"] + ["EVSE"] * EVSES + ["Connector"] * EVSES
    assert {d["variable"]["name"] for d in summary} == {"AvailabilityState"}
    assert dm.report("SomethingElse") is None


def test_b07_fr_04_10_notify_report_split_by_items_per_message(dm):
    """B07: GetBaseReport(FullInventory) -> Accepted, then NotifyReport messages with the
    request's requestId (B07.FR.04), seqNo 0, 1, ... (B07.FR.10), one generatedAt, tbc true
    on all but the last, at most ItemsPerMessageGetReport ReportData each, together the
    whole report; each schema-valid."""
    cp = _ChargePoint(dm)
    dm.set_actual("DeviceDataCtrlr", "ItemsPerMessage", "10", instance="GetReport")
    full = dm.report("FullInventory")
    r = _request(cp, "GetBaseReport", {"requestId": 77, "reportBase": "FullInventory"})
    assert r == {"status": "Accepted"}
    assert len(cp.calls) == -(-len(full) // 10) > 1
    assert [c.seq_no for c in cp.calls] == list(range(len(cp.calls)))
    assert {c.request_id for c in cp.calls} == {77}
    assert len({c.generated_at for c in cp.calls}) == 1
    assert [c.tbc for c in cp.calls] == [True] * (len(cp.calls) - 1) + [False]
    assert all(len(c.report_data) <= 10 for c in cp.calls)
    got = [d for c in cp.calls for d in c.report_data]
    assert [(d["component"], d["variable"]) for d in got] == \
        [(d["component"], d["variable"]) for d in full]
    for c in cp.calls:
        _schema_valid("NotifyReport", {"requestId": c.request_id,
                                       "generatedAt": c.generated_at, "seqNo": c.seq_no,
                                       "reportData": c.report_data, "tbc": c.tbc})


def test_b07_configuration_inventory_one_message(dm):
    """B07: ConfigurationInventory within ItemsPerMessageGetReport -> Accepted and one
    NotifyReport, seqNo 0, tbc false."""
    cp = _ChargePoint(dm)
    dm.set_actual("DeviceDataCtrlr", "ItemsPerMessage", "100", instance="GetReport")
    r = _request(cp, "GetBaseReport", {"requestId": 3, "reportBase": "ConfigurationInventory"})
    assert r == {"status": "Accepted"}
    assert len(cp.calls) == 1 and cp.calls[0].seq_no == 0 and cp.calls[0].tbc is False
    assert len(cp.calls[0].report_data) == len(dm.report("ConfigurationInventory"))


def test_b07_notify_report_failure_stops_quietly(dm, caplog):
    """A NotifyReport that cannot be sent (offline, CALLERROR) ends the report with a
    warning: the rest is not sent and nothing raises out of the after-handler."""
    class Failing(_ChargePoint):
        async def call(self, payload, *args, **kwargs):
            self.calls.append(payload)
            raise TimeoutError("no answer")
    cp = Failing(dm)
    dm.set_actual("DeviceDataCtrlr", "ItemsPerMessage", "5", instance="GetReport")
    with caplog.at_level(logging.WARNING):
        r = _request(cp, "GetBaseReport", {"requestId": 4, "reportBase": "FullInventory"})
    assert r == {"status": "Accepted"} and len(cp.calls) == 1
    assert "not sent" in caplog.text


def test_every_variable_is_in_docs_ocpp_md():
    """docs/ocpp.md "OCPP 2.0.1 device model" lists every variable of the table with its
    dataType and mutability (the doc says what exists)."""
    from pathlib import Path
    doc = (Path(__file__).resolve().parents[2] / "docs" / "ocpp.md").read_text()
    rows = [line for line in doc.splitlines() if line.startswith("| ")]
    for v in dmod._definitions(0, "ID", "smartevse-ref", "gateway"):
        name = v.variable + (" (" + v.instance + ")" if v.instance else "")
        assert any(r.split("|")[1].strip().startswith(v.component)
                   and r.split("|")[2].strip() == name
                   and "| %s | %s |" % (v.data_type, v.mutability) in r for r in rows), name
