"""OCPP 1.6J smart charging end to end (docs/ocpp.md, docs/smart_charging.md): the test CSMS
sets, reads and clears charging profiles; the gateway pushes the composite schedule to the
sim charger's firmware, whose pilot duty follows it (T7-PROFILE, AG-09). Named after the
OCTT cases they mirror."""

import json
import time

from ocpp.v16 import call

from gateway.smart.model import format_time as _iso

DUTY_10_A_PERMILLE = 166  # IEC 61851-1 Annex A: I = 0.6 x duty% -> 10 A = 16.6 %


def _profile(profile_id, purpose, limit_a, start_period_s=0, stack_level=0, tx_id=None):
    p = {"charging_profile_id": profile_id, "stack_level": stack_level,
         "charging_profile_purpose": purpose, "charging_profile_kind": "Absolute",
         "charging_schedule": {"charging_rate_unit": "A", "start_schedule": _iso(time.time() - 60),
                               "charging_schedule_period": [{"start_period": start_period_s,
                                                             "limit": limit_a}]}}
    if tx_id is not None:
        p["transaction_id"] = tx_id
    return p


def _charging(csms, sim, start_gateway):
    """A free-vend session charging on connector 1 -> its unconstrained duty (permille)."""
    g = start_gateway(csms, sim)
    csms.wait_status(1, "Available")
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    csms.wait_for("StartTransaction")
    st = sim.wait(lambda s: s["draw_ma"] > 0, 10, "current to flow")
    return g, st["duty_permille"]


def test_tc_056_tc_066_tc_067_tx_default_profile(csms, sim, start_gateway, tmp_path):
    """TC_056 TxDefaultProfile of 10 A on connector 1: Accepted, the pilot duty becomes the
    10 A duty; TC_066 GetCompositeSchedule returns the 10 A period; TC_067
    ClearChargingProfile: Accepted, the duty returns to the unconstrained value (then
    Unknown for a profile that is gone)."""
    g, free_duty = _charging(csms, sim, start_gateway)
    assert free_duty > DUTY_10_A_PERMILLE
    r = csms.request(call.SetChargingProfile(
        connector_id=1, cs_charging_profiles=_profile(7, "TxDefaultProfile", 10)))
    assert r.status == "Accepted"
    sim.wait(lambda s: s["duty_permille"] == DUTY_10_A_PERMILLE, 10, "the 10 A duty")
    stored = json.loads((tmp_path / "state" / "profiles.json").read_text())
    assert [p["id"] for p in stored["profiles"]] == [7]  # persisted under --state-dir

    r = csms.request(call.GetCompositeSchedule(connector_id=1, duration=3600,
                                               charging_rate_unit="A"))
    assert r.status == "Accepted" and r.connector_id == 1
    sched = r.charging_schedule
    assert sched["charging_rate_unit"] == "A" and sched["duration"] == 3600
    assert [(p["start_period"], float(p["limit"])) for p in sched["charging_schedule_period"]] \
        == [(0, 10.0)]
    r = csms.request(call.GetCompositeSchedule(connector_id=1, duration=600,
                                               charging_rate_unit="W"))
    assert r.status == "Accepted"  # W total: 10 A x 230 V x 3 phases
    assert float(r.charging_schedule["charging_schedule_period"][0]["limit"]) == 6900.0
    r = csms.request(call.GetCompositeSchedule(connector_id=5, duration=600))
    assert r.status == "Rejected"  # no such connector

    r = csms.request(call.ClearChargingProfile(id=7))
    assert r.status == "Accepted"
    sim.wait(lambda s: s["duty_permille"] == free_duty, 10, "the unconstrained duty")
    r = csms.request(call.ClearChargingProfile(id=7))
    assert r.status == "Unknown"
    assert "charging profiles cleared: [7]" in g.log_text()


def test_set_charging_profile_rules_reject(csms, sim, start_gateway):
    """SetChargingProfile that breaks a rule is Rejected with the reason logged: the first
    startPeriod not 0, a TxProfile naming another transaction (TC_058_2), a
    ChargePointMaxProfile on a connector, an unknown connector; a TxProfile for the running
    transaction and a ChargePointMaxProfile on connector 0 are Accepted and reach the duty;
    the TxProfile goes when its transaction ends; GetConfiguration reports the four
    smart-charging keys."""
    g, _ = _charging(csms, sim, start_gateway)
    tx_id = 1  # the test CSMS numbers its transactions from 1
    cases = [
        (1, _profile(1, "TxDefaultProfile", 10, start_period_s=60), "first startPeriod"),
        (1, _profile(2, "TxProfile", 10, tx_id=99), "transactionId 99"),
        (1, _profile(3, "ChargePointMaxProfile", 10), "connector/EVSE 0 only"),
        (4, _profile(4, "TxDefaultProfile", 10), "connector/EVSE 4 does not exist"),
    ]
    for cid, profile, reason in cases:
        r = csms.request(call.SetChargingProfile(connector_id=cid,
                                                 cs_charging_profiles=profile))
        assert r.status == "Rejected", (cid, profile)
        csms.wait_until(lambda reason=reason: reason in g.log_text(), 5, reason)

    r = csms.request(call.SetChargingProfile(
        connector_id=1, cs_charging_profiles=_profile(5, "TxProfile", 12, tx_id=tx_id)))
    assert r.status == "Accepted"
    sim.wait(lambda s: s["duty_permille"] == 200, 10, "the 12 A duty")  # 12 / 0.6
    r = csms.request(call.SetChargingProfile(
        connector_id=0, cs_charging_profiles=_profile(6, "ChargePointMaxProfile", 8)))
    assert r.status == "Accepted"
    sim.wait(lambda s: s["duty_permille"] == 133, 10, "the 8 A duty")  # min of the two
    sim.control("unplug")  # the transaction ends: its TxProfile goes (1.6 §3.13.2)
    csms.wait_for("StopTransaction")
    csms.wait_until(lambda: "TxProfiles [5] removed" in g.log_text(), 5, "TxProfile 5 removed")

    r = csms.request(call.GetConfiguration(key=[
        "ChargeProfileMaxStackLevel", "ChargingScheduleAllowedChargingRateUnit",
        "ChargingScheduleMaxPeriods", "MaxChargingProfilesInstalled", "NoSuchKey"]))
    values = {k["key"]: k["value"] for k in r.configuration_key}
    assert values == {"ChargeProfileMaxStackLevel": "10",
                      "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
                      "ChargingScheduleMaxPeriods": "28", "MaxChargingProfilesInstalled": "20"}
    assert r.unknown_key == ["NoSuchKey"]
