"""OCPP 2.0.1 external charging limits (Part 2 K11-K13; gateway/ocpp201/external_limits.py)
end to end: a real mosquitto broker, `python -m gateway --ocpp 2.0.1 --hems mqtt://…`, the
emulated charger (`python -m sim_hardware`) and the test CSMS (sim_hardware/csms201.py). The
test is both the energy manager (limits over MQTT, tests/hems_fixture.py) and the CSMS.

The OCTT 2.0.1 test cases of the Charging Station have no case for K11-K13 (the external
system is outside OCPP), so the tests are named after the requirement IDs they check."""

import time

import pytest
from hems_fixture import EnergyManager
from mosquitto_fixture import broker_fixture
from ocpp.v201 import call
from ocpp16_fixture import Gateway

from gateway.ocpp201.external_limits import ID_BASE
from gateway.smart.model import format_time

PREFIX = "evcharger/CS001"
GATEWAY = ("gateway", "gw-5c1e9a7d3b2f8e64")
HEMS = ("hems", "hm-2f8b6e1a9c4d7e53")
DUTY_10_A = 166  # IEC 61851-1 Annex A: 10 A = 16.6 % duty
DUTY_7_A = 116
SC = "SmartChargingCtrlr"

broker = broker_fixture(dict((GATEWAY, HEMS)))


@pytest.fixture
def hems(broker):
    m = EnergyManager(broker.port, *HEMS)
    yield m
    m.close()


@pytest.fixture
def gateway(csms201, sim, broker, hems, tmp_path):
    url = "mqtt://%s:%s@127.0.0.1:%d/%s" % (*GATEWAY, broker.port, PREFIX)
    g = Gateway(csms201.url, [sim.link_url], tmp_path / "state", ocpp="2.0.1",
                extra_args=("--hems", url, "--hems-no-discovery"))
    csms201.wait_status(1, "Available", timeout_s=20)
    yield g
    g.stop()
    print(g.log_text()[-6000:])


def _limit(hems, source, current_ma, duration_s=0):
    r = hems.command(PREFIX, 1, "limit", {"source": source, "current_ma": current_ma,
                                          "duration_s": duration_s})
    assert r["ok"], r
    return r


def _set(csms, variable, value):
    r = csms.request(call.SetVariables(set_variable_data=[
        {"attribute_value": value, "component": {"name": SC}, "variable": {"name": variable}}]))
    assert r.set_variable_result[0]["attribute_status"] == "Accepted", r


def _notified(csms, source, count=1):
    return csms.wait_for("NotifyChargingLimit", 15, lambda p: p["chargingLimit"][
        "chargingLimitSource"] == source, count)


def _notifies(csms, source):
    return [p for p in csms.calls("NotifyChargingLimit")
            if p["chargingLimit"]["chargingLimitSource"] == source]


def _cleared(csms, source, count=1):
    return csms.wait_for("ClearedChargingLimit", 20,
                         lambda p: p["chargingLimitSource"] == source, count)


def _composite(csms, evse_id=1):
    r = csms.request(call.GetCompositeSchedule(duration=600, evse_id=evse_id,
                                               charging_rate_unit="A"))
    assert r.status == "Accepted", r
    return r.schedule["charging_schedule_period"]


def _report(csms, request_id, **criteria):
    r = csms.request(call.GetChargingProfiles(request_id=request_id,
                                              charging_profile=criteria, evse_id=1))
    if r.status == "NoProfiles":
        return []
    assert r.status == "Accepted", r
    csms.wait_for("ReportChargingProfiles", 10, lambda p: p["requestId"] == request_id
                  and not p.get("tbc"))
    return [p for p in csms.calls("ReportChargingProfiles") if p["requestId"] == request_id]


def _charging(csms, sim):
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    started = csms.wait_for("TransactionEvent", 20, lambda p: p["eventType"] == "Started")
    st = sim.wait(lambda s: s["draw_ma"] > 0, 15, "current to flow")
    return started["transactionInfo"]["transactionId"], st["duty_permille"]


def test_tc_k_52_k11_fr_01_02_04_06_ems_limit_notified_composed_and_reported(
        csms201, sim, hems, gateway):
    """TC_K_52 / K11 (an energy manager's external limit, with a transaction): a CSMS
    TxDefaultProfile of 12 A, then an energy-manager limit of 10 A over MQTT: the duty follows
    it (K11.FR.01, held by the firmware as its HEMS LIMIT); NotifyChargingLimit
    chargingLimitSource EMS, isGridCritical false, evseId 1, no schedule while
    NotifyChargingLimitWithSchedules is false (K11.FR.02/05); a TransactionEvent Updated
    ChargingRateChanged (K11.FR.04); GetCompositeSchedule shows the 10 A as the minimum of the
    CSMS's 12 A and the external constraint; GetChargingProfiles chargingLimitSource EMS reports
    a ChargingStationExternalConstraints profile of 10 A (K11.FR.06), CSO only the CSMS's. With
    NotifyChargingLimitWithSchedules true a change to 7 A is notified with its chargingSchedule
    (K11.FR.03) and the duty follows. The CSMS can neither replace nor clear the external
    constraint by its id (K01.FR.05, K10)."""
    tx, free_duty = _charging(csms201, sim)
    assert free_duty > DUTY_10_A
    start = format_time(int(time.time()) - 60)
    r = csms201.request(call.SetChargingProfile(evse_id=1, charging_profile={
        "id": 11, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute", "chargingSchedule": [{
            "id": 1, "startSchedule": start, "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 12}]}]}))
    assert r.status == "Accepted", r
    assert _composite(csms201)[0]["limit"] == 12

    _limit(hems, "hems", 10000)
    sim.wait(lambda s: s["duty_permille"] == DUTY_10_A, 10, "the 10 A duty")
    n = _notified(csms201, "EMS")
    assert n["chargingLimit"]["isGridCritical"] is False and n["evseId"] == 1
    assert "chargingSchedule" not in n
    csms201.wait_for("TransactionEvent", 15, lambda p: p["triggerReason"]
                     == "ChargingRateChanged" and p["transactionInfo"]["transactionId"] == tx)
    periods = _composite(csms201)
    assert periods[0]["start_period"] == 0 and periods[0]["limit"] == 10, periods

    (rep,) = _report(csms201, 21, charging_limit_source=["EMS"])
    assert rep["chargingLimitSource"] == "EMS" and rep["evseId"] == 1
    (p,) = rep["chargingProfile"]
    assert p["chargingProfilePurpose"] == "ChargingStationExternalConstraints"
    assert p["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 10
    assert p["chargingSchedule"][0]["chargingRateUnit"] == "A"
    (cso,) = _report(csms201, 22, charging_limit_source=["CSO"])
    assert [q["id"] for q in cso["chargingProfile"]] == [11]

    _set(csms201, "NotifyChargingLimitWithSchedules", "true")
    _limit(hems, "hems", 7000)
    n = _notified(csms201, "EMS", 2)
    (schedule,) = n["chargingSchedule"]
    assert schedule["chargingRateUnit"] == "A"
    assert schedule["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 7.0}]
    sim.wait(lambda s: s["duty_permille"] == DUTY_7_A, 10, "the 7 A duty")

    ext_id = p["id"]
    assert ext_id > ID_BASE
    r = csms201.request(call.SetChargingProfile(evse_id=1, charging_profile={
        "id": ext_id, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute", "chargingSchedule": [{
            "id": 1, "startSchedule": start, "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 20}]}]}))
    assert r.status == "Rejected" and r.status_info["reason_code"] == "DuplicateProfile"
    r = csms201.request(call.ClearChargingProfile(charging_profile_id=ext_id))
    assert r.status == "Unknown"
    assert _composite(csms201)[0]["limit"] == 7


def test_k12_fr_02_limit_change_significance_and_k13_fr_02_cleared(csms201, sim, hems,
                                                                   gateway):
    """K12 (no transaction): an energy-manager limit of 16 A is notified (EMS); a change to
    15 A (6 % < LimitChangeSignificance 10 %) is not reported, though GetCompositeSchedule and
    GetChargingProfiles show it; 20 A (25 % of the 16 A last reported) is. Clearing it over
    MQTT -> ClearedChargingLimit EMS evseId 1 (K13.FR.02) and the composite is unconstrained
    again. A DNO limit of 9 A for 4 s -> NotifyChargingLimit SO, isGridCritical true, and when
    it expires ClearedChargingLimit SO."""
    _limit(hems, "hems", 16000)
    assert _notified(csms201, "EMS")["evseId"] == 1
    _limit(hems, "hems", 15000)
    deadline = time.monotonic() + 10
    while _composite(csms201)[0]["limit"] != 15:  # the gateway has read the 15 A
        assert time.monotonic() < deadline, "the 15 A never reached the composite"
        time.sleep(0.5)
    (rep,) = _report(csms201, 31, charging_limit_source=["EMS"])
    assert rep["chargingProfile"][0]["chargingSchedule"][0]["chargingSchedulePeriod"][0][
        "limit"] == 15
    _limit(hems, "hems", 20000)
    _notified(csms201, "EMS", 2)
    assert len(_notifies(csms201, "EMS")) == 2  # 16 A and 20 A; the 15 A was not reported
    assert _composite(csms201)[0]["limit"] == 20

    _limit(hems, "hems", None)
    c = _cleared(csms201, "EMS")
    assert c["evseId"] == 1
    assert _composite(csms201)[0]["limit"] >= 32  # unconstrained: no external constraint
    assert _report(csms201, 32, charging_limit_source=["EMS"]) == []

    _limit(hems, "dno", 9000, duration_s=4)
    n = _notified(csms201, "SO")
    assert n["chargingLimit"]["isGridCritical"] is True and n["evseId"] == 1
    assert _cleared(csms201, "SO")["evseId"] == 1
    assert len(_notifies(csms201, "SO")) == 1


def test_k11_owner_override_reported_as_other(csms201, sim, hems, gateway):
    """AG-12 in 2.0.1: the owner's override on the charger (here over MQTT, as Home
    Assistant's switch sends it) lifts a 10 A energy-manager limit; the CSMS gets
    NotifyChargingLimit chargingLimitSource Other (isGridCritical false) for the EVSE and
    GetChargingProfiles Other lists it as a ChargingStationExternalConstraints of the EVSE's
    rating (what binds while the smart limits are lifted); override off ->
    ClearedChargingLimit Other, and the 10 A is back on the pilot."""
    _, free_duty = _charging(csms201, sim)
    _limit(hems, "hems", 10000)
    sim.wait(lambda s: s["duty_permille"] == DUTY_10_A, 10, "the 10 A duty")
    r = hems.command(PREFIX, 1, "override", {"on": True})
    assert r["ok"], r
    sim.wait(lambda s: s["duty_permille"] == free_duty, 10, "the duty the override allows")
    n = _notified(csms201, "Other")
    assert n["chargingLimit"]["isGridCritical"] is False and n["evseId"] == 1
    (rep,) = _report(csms201, 41, charging_limit_source=["Other"])
    (p,) = rep["chargingProfile"]
    assert p["chargingProfilePurpose"] == "ChargingStationExternalConstraints"
    assert p["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] >= 16
    r = hems.command(PREFIX, 1, "override", {"on": False})
    assert r["ok"], r
    assert _cleared(csms201, "Other")["evseId"] == 1
    sim.wait(lambda s: s["duty_permille"] == DUTY_10_A, 10, "the 10 A duty again")


def test_k01_fr_22_csms_external_constraints_rejected(csms201, sim, hems, gateway):
    """K01.FR.22: a SetChargingProfile of purpose ChargingStationExternalConstraints from the
    CSMS is Rejected (only the station makes those); nothing is installed."""
    r = csms201.request(call.SetChargingProfile(evse_id=1, charging_profile={
        "id": 5, "stackLevel": 0, "chargingProfilePurpose": "ChargingStationExternalConstraints",
        "chargingProfileKind": "Absolute", "chargingSchedule": [{
            "id": 1, "startSchedule": format_time(int(time.time())), "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6}]}]}))
    assert r.status == "Rejected" and "K01.FR.22" in r.status_info["additional_info"]
    assert _report(csms201, 51) == []


def test_external_control_signals_enabled_false_refuses_and_clears(csms201, sim, hems,
                                                                   gateway):
    """SmartChargingCtrlr.ExternalControlSignalsEnabled: with an energy-manager limit held
    (notified EMS), setting it false clears the limit in the firmware (ClearedChargingLimit
    EMS) and a new limit over MQTT is refused with the reason; true again takes limits."""
    _limit(hems, "hems", 10000)
    _notified(csms201, "EMS")
    _set(csms201, "ExternalControlSignalsEnabled", "false")
    _cleared(csms201, "EMS")
    r = hems.command(PREFIX, 1, "limit", {"source": "dno", "current_ma": 8000})
    assert not r["ok"] and "ExternalControlSignalsEnabled" in r["error"], r
    assert _notifies(csms201, "SO") == []
    _set(csms201, "ExternalControlSignalsEnabled", "true")
    _limit(hems, "dno", 8000)
    assert _notified(csms201, "SO")["chargingLimit"]["isGridCritical"] is True
