"""What a bundled CSMS (sim_hardware/csms16.py or csms201.py) knows about its station, as
plain data for its web page (sim_hardware/csms_web.py) and the demo (sim_hardware/demo/):
`snapshot(csms)` reads the messages the CSMS recorded and returns the station (id, boot),
each connector's (2.0.1: EVSE's) last status, the transactions (with their energy) and each
connector's latest meter values; `transactions_of(csms)` the transactions oldest first;
`notices(calls, kind)` the gateway's reports of what the firmware decided on its own (1.6
DataTransfer, 2.0.1 NotifyEvent). Nothing here talks to the station; the payloads are read
as the station sent them (camelCase JSON), one reader per version where they differ
(VIEWS)."""

import json

# OCPP 1.6 §7.31 / 2.0.1 SampledValueType: measurand -> (field on the page, default unit)
MEASURANDS = {
    "Energy.Active.Import.Register": ("energy_wh", "Wh"),
    "Power.Active.Import": ("power_w", "W"),
    "Current.Import": ("current_a", "A"),
    "Current.Offered": ("offered_a", "A"),
    "Voltage": ("voltage_v", "V"),
    "SoC": ("soc_pct", "Percent"),
}
DEFAULT_MEASURAND = "Energy.Active.Import.Register"  # §7.31: measurand absent -> this one
PER_PHASE = ("current_a", "voltage_v")  # shown per phase; the others as one figure
UNIT_SCALE = {"Wh": 1, "kWh": 1000, "W": 1, "kW": 1000, "A": 1, "V": 1, "Percent": 1}


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _unit(sv, default):
    """(unit, power-of-ten multiplier): 1.6 `unit`, 2.0.1 `unitOfMeasure` {unit, multiplier}."""
    of_measure = sv.get("unitOfMeasure") or {}
    return (sv.get("unit") or of_measure.get("unit") or default,
            of_measure.get("multiplier", 0))


def sampled(sampled_values):
    """{field: value} of one MeterValue's sampledValue list, in Wh, W, A, V, %: per-phase
    fields as {phase: value}; a total figure is the phase-less value, else the phases' sum.
    1.6 values are decimal strings, 2.0.1 numbers."""
    out, phased = {}, {}
    for sv in sampled_values:
        field, unit = MEASURANDS.get(sv.get("measurand", DEFAULT_MEASURAND), (None, None))
        value = _number(sv.get("value"))
        unit, multiplier = _unit(sv, unit)
        scale = UNIT_SCALE.get(unit)
        if field is None or value is None or scale is None:
            continue  # a measurand or unit the page does not show
        value *= scale * 10 ** multiplier
        phase = sv.get("phase")
        if field in PER_PHASE:
            out.setdefault(field, {})[phase or "-"] = value
        elif phase is None:
            out[field] = value
        else:
            phased[field] = phased.get(field, 0) + value
    for field, total in phased.items():
        out.setdefault(field, total)
    return out


def _latest(readings):
    """readings: (connector id, transaction id, MeterValue) in arrival order -> per connector
    its last sample, with timestamp and transaction id, by connector id."""
    latest = {}
    for cid, tx_id, mv in readings:
        latest[cid] = dict(sampled(mv.get("sampledValue") or []), connector_id=cid,
                           timestamp=mv.get("timestamp"), transaction_id=tx_id)
    return [latest[c] for c in sorted(latest)]


def latest_meter(meter_calls):
    """Per connector id: its last MeterValues' last sample, with timestamp and transactionId
    (OCPP 1.6 MeterValues)."""
    return _latest((p["connectorId"], p.get("transactionId"), mv)
                   for p in meter_calls for mv in p.get("meterValue") or [])


def _tx_energy_wh(tx_id, meter_calls):
    """The last energy register reading the station sent with tx_id, or None."""
    wh = None
    for p in meter_calls:
        if p.get("transactionId") != tx_id:
            continue
        for mv in p.get("meterValue") or []:
            wh = sampled(mv.get("sampledValue") or []).get("energy_wh", wh)
    return wh


def transactions(answered, start_calls, stop_calls, meter_calls):
    """Every transaction the CSMS numbered, newest first. answered: the CSMS's
    (transactionId, connectorId, meterStart, timestamp) records; the idTag comes from the
    StartTransaction with those fields, the end from the StopTransaction with its id."""
    rows = []
    for tx_id, cid, meter_start, started in answered:
        start = next((p for p in start_calls if (p["connectorId"], p["meterStart"],
                                                   p["timestamp"]) == (cid, meter_start,
                                                                       started)), {})
        stop = next((p for p in reversed(stop_calls) if p.get("transactionId") == tx_id), None)
        if stop is not None:
            last_wh = stop["meterStop"]
        else:
            last_wh = _tx_energy_wh(tx_id, meter_calls)
        rows.append({
            "id": tx_id, "connector_id": cid, "id_tag": start.get("idTag"),
            "start": started, "meter_start_wh": meter_start,
            "stop": None if stop is None else stop.get("timestamp"),
            "meter_stop_wh": None if stop is None else stop["meterStop"],
            "reason": None if stop is None else stop.get("reason", "Local"),  # §6.47 default
            "energy_wh": None if last_wh is None else last_wh - meter_start,
            "active": stop is None})
    return rows[::-1]


# StatusNotification field -> its name in 1.6 (§6.48) and 2.0.1 (G01: per EVSE and connector;
# the page shows one connector per EVSE, by evseId)
STATUS_FIELDS = {"1.6": {"id": "connectorId", "status": "status", "error_code": "errorCode",
                         "info": "info"},
                 "2.0.1": {"id": "evseId", "status": "connectorStatus"}}


def connectors(status_calls, version="1.6"):
    """Each connector's last StatusNotification, by connector id (0: the station)."""
    names = STATUS_FIELDS[version]
    last = {p[names["id"]]: p for p in status_calls}
    return [{"id": c, "status": last[c][names["status"]],
             "error_code": last[c].get(names.get("error_code")),
             "info": last[c].get(names.get("info")), "timestamp": last[c].get("timestamp")}
            for c in sorted(last)]


# --- OCPP 2.0.1: TransactionEvent (E01-E15) ---------------------------------------------------

TX_REGISTER = ("Transaction.Begin", "Transaction.End")  # the start / end reading's context


def _whole(x):
    return int(x) if x is not None and x == int(x) else x


def _energy_wh(meter_values, contexts=None):
    """The last energy register reading in a list of MeterValueType (of those contexts)."""
    wh = None
    for mv in meter_values or []:
        svs = [sv for sv in mv.get("sampledValue") or []
               if contexts is None or sv.get("context") in contexts]
        wh = sampled(svs).get("energy_wh", wh)
    return _whole(wh)


def _new_tx(tx_id):
    return {"id": tx_id, "connector_id": None, "id_tag": None, "start": None,
            "meter_start_wh": None, "stop": None, "meter_stop_wh": None, "reason": None,
            "energy_wh": None, "active": True, "last_wh": None}


def transactions201(events):
    """Every transaction of the TransactionEvents (arrival order; a copy sent again changes
    nothing), newest first: energy = Transaction.End (or, while it runs, the last register
    reading) - Transaction.Begin; stoppedReason absent is Local (E06)."""
    txs = {}
    for e in events:
        info = e["transactionInfo"]
        t = txs.setdefault(info["transactionId"], _new_tx(info["transactionId"]))
        if e.get("evse"):
            t["connector_id"] = e["evse"]["id"]
        if e.get("idToken"):
            t["id_tag"] = e["idToken"].get("idToken")
        wh = _energy_wh(e.get("meterValue"))
        if e["eventType"] == "Started":
            t["start"] = e["timestamp"]
            t["meter_start_wh"] = _energy_wh(e.get("meterValue"), TX_REGISTER[:1])
        elif e["eventType"] == "Ended":
            t.update(stop=e["timestamp"], active=False,
                     meter_stop_wh=_energy_wh(e.get("meterValue"), TX_REGISTER[1:]),
                     reason=info.get("stoppedReason", "Local"))
        if wh is not None:
            t["last_wh"] = wh
    for t in txs.values():
        end = t["meter_stop_wh"] if t["meter_stop_wh"] is not None else t["last_wh"]
        if end is not None and t["meter_start_wh"] is not None:
            t["energy_wh"] = end - t["meter_start_wh"]
    return list(txs.values())[::-1]


def _readings201(messages):
    """(EVSE id, transaction id, MeterValue) of MeterValues and TransactionEvents in arrival
    order, leaving out the transactions' start and end registers."""
    evse_of = {}
    for d, mtype, action, p in messages:
        if d != "in" or mtype != 2:
            continue
        if action == "MeterValues":
            for mv in p.get("meterValue") or []:
                yield p["evseId"], None, mv
        elif action == "TransactionEvent":
            tx_id = p["transactionInfo"]["transactionId"]
            if p.get("evse"):
                evse_of[tx_id] = p["evse"]["id"]
            for mv in p.get("meterValue") or []:
                svs = [sv for sv in mv.get("sampledValue") or []
                       if sv.get("context") not in TX_REGISTER]
                if svs and tx_id in evse_of:
                    yield evse_of[tx_id], tx_id, dict(mv, sampledValue=svs)


# --- the station's reports of the firmware's own decisions (gateway/notices.py) --------------

# 2.0.1 NotifyEvent variable -> the notice kind, where they differ (gateway/ocpp201/events.py)
EVENT_KINDS = {"Problem": "MeterFault", "Tampered": "SecurityEvent"}


def _json(text):
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _data_transfer_notices(p):
    data = _json(p.get("data"))
    return [] if data is None else [(p.get("messageId"), data)]


def _notify_event_notices(p):
    out = []
    for e in p.get("eventData") or []:
        name = e.get("variable", {}).get("name")
        data = _json(e.get("techInfo"))
        if data is not None:
            out.append((EVENT_KINDS.get(name, name), data))
    return out


# action -> fn(payload) -> [(kind, data)]: 1.6 DataTransfer messageId = kind, data = JSON;
# 2.0.1 NotifyEvent variable name = kind, techInfo = the same JSON
NOTICE_READERS = {"DataTransfer": _data_transfer_notices,
                  "NotifyEvent": _notify_event_notices}


def notices_in(action, payload):
    """[(kind, data)] of one call from the station ([] for other actions)."""
    reader = NOTICE_READERS.get(action)
    return reader(payload) if reader else []


def notices(csms, kind):
    """The data of every notice of that kind the station sent, in order."""
    return [data for action in NOTICE_READERS for p in csms.calls(action)
            for k, data in notices_in(action, p) if k == kind]


# --- the snapshot, per version -----------------------------------------------------------------

# BootNotification -> the page's device fields: (1.6 path, 2.0.1 path) inside the payload
DEVICE = {"vendor": (("chargePointVendor",), ("chargingStation", "vendorName")),
          "model": (("chargePointModel",), ("chargingStation", "model")),
          "firmware": (("firmwareVersion",), ("chargingStation", "firmwareVersion")),
          "serial": (("chargePointSerialNumber",), ("chargingStation", "serialNumber"))}


def device(boot, version):
    """The vendor, model, firmware and serial of a BootNotification payload (or None)."""
    if boot is None:
        return None
    out = {}
    for field, paths in DEVICE.items():
        v = boot
        for key in paths[version != "1.6"]:
            v = v.get(key) if isinstance(v, dict) else None
        out[field] = v
    return out


def _view16(csms):
    meter_calls = csms.calls("MeterValues")
    return {"connectors": connectors(csms.calls("StatusNotification")),
            "transactions": transactions(list(csms.transactions),
                                         csms.calls("StartTransaction"),
                                         csms.calls("StopTransaction"), meter_calls),
            "meter": latest_meter(meter_calls)}


def _view201(csms):
    return {"connectors": connectors(csms.calls("StatusNotification"), "2.0.1"),
            "transactions": transactions201(csms.calls("TransactionEvent")),
            "meter": _latest(_readings201(list(csms.messages)))}


VIEWS = {"1.6": _view16, "2.0.1": _view201}


def version_of(csms):
    return getattr(csms, "OCPP_VERSION", "1.6")


def transactions_of(csms):
    """The transactions the CSMS saw, oldest first."""
    return VIEWS[version_of(csms)](csms)["transactions"][::-1]


def snapshot(csms):
    """The page's data from what csms (a Csms16 or Csms201) recorded."""
    version = version_of(csms)
    boots = csms.calls("BootNotification")
    boot = boots[-1] if boots else None
    return dict({
        "ocpp": version,
        "station": {"id": csms.station_ids[-1] if csms.station_ids else None,
                    "connected": csms.connected, "connections": csms.connections,
                    "boot": boot, "device": device(boot, version), "boots": len(boots),
                    "messages": len(csms.messages)}}, **VIEWS[version](csms))
