"""Small OCPP 2.0.1 building blocks of the station's modules: the dateTime format, the
connector status of a version-neutral ConnectorStatus, the idToken of an id tag, and the
MeterValue of the version-neutral sampler's (gateway/ocpp16/meter_values.py) values."""

from decimal import Decimal

from ocpp.v201 import call

from gateway.ocpp16.pdus import VENDOR_ID, iso  # noqa: F401 (one dateTime format, one vendor)

# gateway.station SESSION_STATUS values (the 1.6 ChargePointStatus) -> 2.0.1
# ConnectorStatusEnumType (Part 2 G01): 2.0.1 tells an occupied connector's session state
# in TransactionEvent chargingState instead
CONNECTOR_STATUS = {
    "Available": "Available",
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEV": "Occupied",
    "SuspendedEVSE": "Occupied",
    "Finishing": "Occupied",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}

# the same -> ChargingStateEnumType of a transaction (E01-E03: EVConnected while plugged in
# without energy flowing for another reason than the EV or the EVSE)
CHARGING_STATE = {
    "Charging": "Charging",
    "SuspendedEV": "SuspendedEV",
    "SuspendedEVSE": "SuspendedEVSE",
    "Preparing": "EVConnected",
    "Finishing": "EVConnected",
}

CONNECTOR_ID = 1  # one connector per EVSE (an EvseLink is one firmware controller)


def connector_status(st):
    return CONNECTOR_STATUS.get(st.status, "Unavailable")


def status_call(evse_id, st, unix_s):
    return call.StatusNotification(timestamp=iso(unix_s), connector_status=connector_status(st),
                                   evse_id=evse_id, connector_id=CONNECTOR_ID)


def id_token(id_tag):
    """The IdTokenType of a transaction's id tag, or None: the free-vend tag (a str, the
    station's own) is no authorisation; a remote start's is the CSMS's idToken (a dict)."""
    if isinstance(id_tag, dict):
        return id_tag.get("idToken")
    return None


def remote_start_id(id_tag):
    return id_tag.get("remoteStartId") if isinstance(id_tag, dict) else None


def _number(text):
    """A sampled value's decimal string -> JSON number (int when whole: "16.000" -> 16)."""
    d = Decimal(text)
    return int(d) if d == d.to_integral_value() else float(d)


def sampled_value(sv):
    """A 1.6-shaped SampledValue dict (snake_case, value a decimal string) -> 2.0.1
    SampledValueType (camelCase, value a number, unitOfMeasure; Hz has a unit in 2.0.1)."""
    out = {"value": _number(sv["value"]), "context": sv["context"],
           "measurand": sv["measurand"], "location": sv.get("location", "Outlet")}
    unit = sv.get("unit") or ("Hz" if sv["measurand"] == "Frequency" else None)
    if unit is not None:
        out["unitOfMeasure"] = {"unit": unit}
    if sv.get("phase"):
        out["phase"] = sv["phase"]
    return out


def meter_value(mv):
    """{"timestamp", "sampled_value": [...]} of the sampler -> MeterValueType."""
    return {"timestamp": mv["timestamp"],
            "sampledValue": [sampled_value(sv) for sv in mv["sampled_value"]]}


def energy_meter_value(wh, context, unix_s):
    """The import register at a transaction's begin or end (TxStarted/TxEndedMeasurands)."""
    return {"timestamp": iso(unix_s),
            "sampledValue": [{"value": int(wh), "context": context,
                              "measurand": "Energy.Active.Import.Register",
                              "location": "Outlet", "unitOfMeasure": {"unit": "Wh"}}]}
