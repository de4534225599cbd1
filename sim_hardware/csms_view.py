"""What the bundled CSMS (sim_hardware/csms16.py) knows about its station, as plain data for
its web page (sim_hardware/csms_web.py): `snapshot(csms)` reads the messages the CSMS
recorded and returns the station (id, boot), each connector's last status, the transactions
(with their energy) and each connector's latest meter values. Nothing here talks to the
station; the OCPP 1.6 payloads are read as the station sent them (camelCase JSON)."""

# OCPP 1.6 §7.31 SampledValue: measurand -> (field on the page, default unit)
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


def sampled(sampled_values):
    """{field: value} of one MeterValue's sampledValue list, in Wh, W, A, V, %: per-phase
    fields as {phase: value}; a total figure is the phase-less value, else the phases' sum."""
    out, phased = {}, {}
    for sv in sampled_values:
        field, unit = MEASURANDS.get(sv.get("measurand", DEFAULT_MEASURAND), (None, None))
        value = _number(sv.get("value"))
        scale = UNIT_SCALE.get(sv.get("unit", unit))
        if field is None or value is None or scale is None:
            continue  # a measurand or unit the page does not show
        value *= scale
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


def latest_meter(meter_calls):
    """Per connector id: its last MeterValues' last sample, with timestamp and transactionId."""
    latest = {}
    for p in meter_calls:
        for mv in p.get("meterValue") or []:
            latest[p["connectorId"]] = dict(sampled(mv.get("sampledValue") or []),
                                            connector_id=p["connectorId"],
                                            timestamp=mv.get("timestamp"),
                                            transaction_id=p.get("transactionId"))
    return [latest[c] for c in sorted(latest)]


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


def connectors(status_calls):
    """Each connector's last StatusNotification, by connector id (0: the station)."""
    last = {p["connectorId"]: p for p in status_calls}
    return [{"id": c, "status": last[c]["status"], "error_code": last[c].get("errorCode"),
             "info": last[c].get("info"), "timestamp": last[c].get("timestamp")}
            for c in sorted(last)]


def snapshot(csms):
    """The page's data from what csms (a Csms16) recorded."""
    meter_calls = csms.calls("MeterValues")
    boots = csms.calls("BootNotification")
    return {
        "station": {"id": csms.station_ids[-1] if csms.station_ids else None,
                    "connected": csms.connected, "connections": csms.connections,
                    "boot": boots[-1] if boots else None, "boots": len(boots),
                    "messages": len(csms.messages)},
        "connectors": connectors(csms.calls("StatusNotification")),
        "transactions": transactions(list(csms.transactions), csms.calls("StartTransaction"),
                                     csms.calls("StopTransaction"), meter_calls),
        "meter": latest_meter(meter_calls),
    }
