"""OCPP 1.6J MeterValues and configuration keys end to end: the test CSMS, `python -m gateway`
and `python -m sim_hardware --meter SDM630` (the firmware polls an emulated MID meter, so the
TELEMETRY carries real readings), named after the OCTT cases they mirror."""

from ocpp.v16 import call


def _values(mv, measurand):
    return [sv for sv in mv["sampledValue"] if sv.get("measurand") == measurand]


def _register_wh(mv):
    return int(_values(mv, "Energy.Active.Import.Register")[0]["value"])


def test_tc_021_sampled_meter_values_during_a_transaction(csms, meter_sim, start_gateway):
    """TC_021 Regular charging session with MeterValues: MeterValueSampleInterval changed to
    1 s (Accepted, effective at once); while the EV draws 16 A on 3 phases the station sends
    MeterValues with the transactionId, context Sample.Periodic, an increasing
    Energy.Active.Import.Register and Current.Import near 16 A on L1..L3; the
    StopTransaction carries the register at begin and end (StopTxnSampledData)."""
    start_gateway(csms, meter_sim)
    csms.wait_status(1, "Available")
    r = csms.request(call.ChangeConfiguration(key="MeterValueSampleInterval", value="1"))
    assert r.status == "Accepted"
    meter_sim.control("plug", state="B", pp_ohms=220)
    meter_sim.control("draw", a=16, phases=3)
    start = csms.wait_for("StartTransaction")
    csms.wait_status(1, "Charging")
    meter_sim.wait(lambda s: s["draw_ma"] > 15000, 10, "16 A to flow")

    def drawing(p):
        return any(float(sv["value"]) > 15 for sv in _values(p["meterValue"][0],
                                                               "Current.Import"))

    first = csms.wait_for("MeterValues", timeout_s=10, where=drawing)
    last = csms.wait_for("MeterValues", timeout_s=10, where=drawing, count=4)
    for p in (first, last):
        assert p["connectorId"] == 1 and p["transactionId"] == 1
        mv = p["meterValue"][0]
        assert {sv["context"] for sv in mv["sampledValue"]} == {"Sample.Periodic"}
        currents = _values(mv, "Current.Import")
        assert [sv["phase"] for sv in currents] == ["L1", "L2", "L3"]
        assert all(sv["unit"] == "A" and 15.0 <= float(sv["value"]) <= 17.0
                   for sv in currents), currents
        assert 200.0 <= float(_values(mv, "Voltage")[0]["value"]) <= 260.0
        assert 9000 <= int(_values(mv, "Power.Active.Import")[0]["value"]) <= 12500
        assert _values(mv, "Current.Offered")[0]["unit"] == "A"
    assert start["meterStart"] <= _register_wh(first["meterValue"][0])
    assert _register_wh(last["meterValue"][0]) > _register_wh(first["meterValue"][0])
    meter_sim.control("unplug")
    stop = csms.wait_for("StopTransaction")
    assert stop["meterStop"] >= _register_wh(last["meterValue"][0])
    data = stop["transactionData"]
    contexts = [mv["sampledValue"][0]["context"] for mv in data]
    assert contexts == ["Transaction.Begin", "Transaction.End"]
    assert int(data[0]["sampledValue"][0]["value"]) == start["meterStart"]
    assert int(data[1]["sampledValue"][0]["value"]) == stop["meterStop"]


def test_tc_019_get_and_change_configuration(csms, meter_sim, start_gateway):
    """TC_019 Retrieve configuration (an unknown key is listed in unknownKey), and
    ChangeConfiguration: a bad value or an unknown measurand Rejected, a read-only key
    Rejected, an unknown key NotSupported; an accepted value is effective (clock-aligned
    MeterValues, no transaction) and survives a gateway restart (--state-dir)."""
    gw = start_gateway(csms, meter_sim)
    csms.wait_status(1, "Available")
    r = csms.request(call.GetConfiguration(key=["MeterValueSampleInterval", "NoSuchKey"]))
    assert r.configuration_key == [
        {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"}]
    assert r.unknown_key == ["NoSuchKey"]
    every = {k["key"]: k for k in csms.request(call.GetConfiguration()).configuration_key}
    assert every["NumberOfConnectors"] == {"key": "NumberOfConnectors", "readonly": True,
                                           "value": "1"}
    assert "Core" in every["SupportedFeatureProfiles"]["value"].split(",")
    assert every["HeartbeatInterval"]["value"] == "60"  # from the BootNotification.conf
    for key, value, status in [
        ("MeterValueSampleInterval", "abc", "Rejected"),
        ("MeterValueSampleInterval", "-5", "Rejected"),
        ("MeterValuesSampledData", "Energy.Active.Import.Register,Bogus", "Rejected"),
        ("NumberOfConnectors", "2", "Rejected"),
        ("NoSuchKey", "1", "NotSupported"),
        ("MeterValuesAlignedData", "Energy.Active.Import.Register,Frequency", "Accepted"),
        ("ClockAlignedDataInterval", "1", "Accepted"),
    ]:
        r = csms.request(call.ChangeConfiguration(key=key, value=value))
        assert r.status == status, (key, value, r.status)
    aligned = csms.wait_for("MeterValues", timeout_s=5)
    assert "transactionId" not in aligned and aligned["connectorId"] == 1
    mv = aligned["meterValue"][0]
    assert {sv["context"] for sv in mv["sampledValue"]} == {"Sample.Clock"}
    assert 49.0 <= float(_values(mv, "Frequency")[0]["value"]) <= 51.0
    assert csms.request(call.ChangeConfiguration(key="ClockAlignedDataInterval",
                                                 value="0")).status == "Accepted"
    gw.stop()
    start_gateway(csms, meter_sim)
    csms.wait_for("BootNotification", count=2)
    r = csms.request(call.GetConfiguration(key=["MeterValuesAlignedData",
                                                "ClockAlignedDataInterval"]))
    assert [k["value"] for k in r.configuration_key] == [
        "Energy.Active.Import.Register,Frequency", "0"]


def test_stale_meter_values_are_not_reported(csms, meter_sim, start_gateway):
    """The meter falls silent during a transaction: once the firmware flags its readings
    stale, the sampled MeterValues carry Current.Offered only (no stale register, current,
    voltage or power); when the meter answers again the readings come back."""
    start_gateway(csms, meter_sim)
    csms.wait_status(1, "Available")
    assert csms.request(call.ChangeConfiguration(key="MeterValueSampleInterval",
                                                 value="1")).status == "Accepted"
    meter_sim.control("plug", state="B", pp_ohms=220)
    meter_sim.control("draw", a=16, phases=3)
    csms.wait_for("MeterValues", timeout_s=10,
                  where=lambda p: _values(p["meterValue"][0], "Energy.Active.Import.Register"))
    meter_sim.control("meter_fault", kind="silence", count=-1)

    def measurands(p):
        return {sv["measurand"] for sv in p["meterValue"][0]["sampledValue"]}

    stale = csms.wait_for("MeterValues", timeout_s=15,
                          where=lambda p: measurands(p) == {"Current.Offered"})
    assert stale["transactionId"] == 1
    def fresh(p):
        return "Energy.Active.Import.Register" in measurands(p)

    n = len([p for p in csms.calls("MeterValues") if fresh(p)])
    meter_sim.control("meter_fault", kind="clear")
    back = csms.wait_for("MeterValues", timeout_s=15, count=n + 1, where=fresh)
    assert back["transactionId"] == 1
