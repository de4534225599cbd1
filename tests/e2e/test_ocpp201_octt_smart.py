"""OCPP 2.0.1 smart charging (Part 2 K01-K10) end to end, named after the OCTT 2.0.1 cases
(Part 6, functional block K) they mirror, the twin of test_ocpp16_octt_smart.py. Real
processes over real sockets: the test CSMS (sim_hardware/csms201.py), `python -m gateway
--ocpp 2.0.1`, `python -m sim_hardware`. Assertions are on the answers and their statusInfo
reasonCodes, the ReportChargingProfiles the CSMS got, the composite schedule, and the pilot
duty the firmware offers (IEC 61851-1 Annex A), which must follow the composite schedule.
Times are scaled down (seconds where the OCTT waits minutes); one gateway per case group.

Covered: TC_K_01, 02, 03, 04, 05, 06, 07, 08, 09, 10, 13, 14, 16, 19, 21, 22, 23, 28, 29-36,
37, 38 (SmartChargingCtrlr.Enabled false), 39, 40, 41, 42 (RateUnit "A"), 47, 60. Not
mirrored here:
- TC_K_52 (EMS control, external charging limit): K11-K13, ChargingStationExternalConstraints,
  tested with gateway/ocpp201/external_limits.py, not here.
- The ISO 15118 cases (TC_K_53 ...): this station has no high-level communication (one
  chargingSchedule per profile, K01.FR.34).
TC_K_39: an unconstrained period is reported as the station's own limit, the EVSEs' rating
(the 1.6 side reports 80 A, docs/smart_charging.md)."""

import time

from ocpp.v201 import call
from ocpp16_fixture import duties_until_drawing as _duties_until_drawing
from ocpp16_fixture import duty

from gateway.smart.model import format_time as _iso
from gateway.smart.model import parse_time as _unix
from gateway.smart.model import snake_case
from protocols.iec61851 import duty_from_current

FREE_DUTY = duty_from_current(32000)  # the sim's 32 A rating, nothing else limiting
# GetCompositeSchedule shows an unconstrained period as the station's own limit (TC_K_39):
# the sim EVSE's 32 A rating from its HELLO
UNCONSTRAINED_A = 32.0
TOKEN = {"idToken": "TAG-K", "type": "Central"}


def _profile(pid, purpose, periods, stack=0, kind="Absolute", start_s=None, duration_s=None,
             tx_id=None, valid=None, recurrency=None, unit="A"):
    """A 2.0.1 ChargingProfileType (snake_case, as the library's call.* take it); periods
    [(startPeriod, limit)]; an Absolute / Recurring one starts 2 s ago unless start_s."""
    sched = {"id": pid, "charging_rate_unit": unit,
             "charging_schedule_period": [{"start_period": s, "limit": float(a)}
                                          for s, a in periods]}
    if kind != "Relative":
        sched["start_schedule"] = _iso(int(time.time()) - 2 if start_s is None else start_s)
    if duration_s is not None:
        sched["duration"] = duration_s
    p = {"id": pid, "stack_level": stack, "charging_profile_purpose": purpose,
         "charging_profile_kind": kind, "charging_schedule": [sched]}
    if tx_id is not None:
        p["transaction_id"] = tx_id
    if valid is not None:
        if valid[0] is not None:
            p["valid_from"] = _iso(valid[0])
        if valid[1] is not None:
            p["valid_to"] = _iso(valid[1])
    if recurrency is not None:
        p["recurrency_kind"] = recurrency
    return p


def _set(csms, evse_id, profile):
    """SetChargingProfile -> (status, statusInfo reasonCode or None)."""
    r = csms.request(call.SetChargingProfile(evse_id=evse_id, charging_profile=profile))
    return r.status, (r.status_info or {}).get("reason_code")


def _clear(csms, profile_id=None, **criteria):
    r = csms.request(call.ClearChargingProfile(
        charging_profile_id=profile_id, charging_profile_criteria=criteria or None))
    return r.status


def _composite(csms, evse_id, duration_s, unit="A"):
    """GetCompositeSchedule -> [(absolute start unix s, limit)], the header checked as
    the OCTT does: evseId, duration, unit, scheduleStart within 2 s of now."""
    r = csms.request(call.GetCompositeSchedule(duration=duration_s, evse_id=evse_id,
                                               charging_rate_unit=unit))
    assert r.status == "Accepted", r
    s = r.schedule
    assert s["evse_id"] == evse_id and s["duration"] == duration_s
    assert s["charging_rate_unit"] == unit
    start = _unix(s["schedule_start"])
    assert abs(start - time.time()) <= 2
    return [(start + p["start_period"], float(p["limit"]))
            for p in s["charging_schedule_period"]]


def _limits(csms, evse_id, duration_s=300):
    return [lim for _, lim in _composite(csms, evse_id, duration_s)]


_request_ids = iter(range(100, 10**6))


def _get_profiles(csms, evse_id=None, **criterion):
    """GetChargingProfiles -> (status, the ReportChargingProfiles payloads of its requestId,
    in order, once the one with tbc false came; [] for NoProfiles)."""
    rid = next(_request_ids)
    r = csms.request(call.GetChargingProfiles(request_id=rid, charging_profile=criterion,
                                              evse_id=evse_id))
    if r.status != "Accepted":
        return r.status, []
    csms.wait_for("ReportChargingProfiles", 10,
                  lambda p: p["requestId"] == rid and not p.get("tbc", False))
    return r.status, [p for p in csms.calls("ReportChargingProfiles") if p["requestId"] == rid]


def _reported(reports):
    """{profile id: (evseId, chargingLimitSource, the profile snake_case)} of reports, every
    report but the last with tbc true [K09.FR.02]."""
    assert [bool(p.get("tbc")) for p in reports] == [True] * (len(reports) - 1) + [False]
    return {p["id"]: (r["evseId"], r["chargingLimitSource"], snake_case(p))
            for r in reports for p in r["chargingProfile"]}


def _started(csms):
    return csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started")


def _charging(csms, sim, start_gateway, config=None):
    """A free-vend session charging on EVSE 1 -> (gateway, the station's transactionId)."""
    g = start_gateway(csms, sim, config)
    csms.wait_status(1, "Available")
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    tx_id = _started(csms)["transactionInfo"]["transactionId"]
    sim.wait(lambda s: s["draw_ma"] > 0 and s["duty_permille"] == FREE_DUTY, 10, "charging")
    return g, tx_id


def _offers(trace):
    return [d for d in trace if 0 < d < 1000]  # PWM on: a current is offered


def _trace(sim, until_s):
    out = []
    while time.time() < until_s:
        out.append((time.time(), sim.status()["duty_permille"]))
        time.sleep(0.05)
    return out


def _assert_offers(offers, a):
    """Every PWM offer from the plug-in until the EV draws is the profile's a amps (a
    schedule pushed at the plug-in limits at once: firmware/evse/limits.py SCHEDULE_SKEW_S)."""
    assert offers and set(offers) == {duty(a)}, offers


def _wait_duty(sim, a, what, timeout_s=10):
    sim.wait(lambda s: s["duty_permille"] == duty(a), timeout_s, what)


def test_tc_k_01_tc_k_04_tx_default_profile_on_an_evse_then_replaced(csms201, sim,
                                                                      start_gateway):
    """TC_K_01_CS (TxDefaultProfile on a specific EVSE): SetChargingProfile evseId 1 is
    Accepted and GetChargingProfiles by its id reports it as sent (requestId, evseId 1,
    chargingLimitSource CSO); the composite schedule is its 10 A and the first PWM offer after
    the plug-in is 10 A. TC_K_04_CS (replace by chargingProfileId): the same id with 8 A
    replaces it (reported with 8 A, one profile), and the charging EV's duty follows."""
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    p = _profile(11, "TxDefaultProfile", [(0, 10)], duration_s=3600)
    assert _set(csms201, 1, p) == ("Accepted", None)
    status, reports = _get_profiles(csms201, charging_profile_id=[11])
    assert status == "Accepted"
    assert _reported(reports) == {11: (1, "CSO", p)}
    assert _limits(csms201, 1)[0] == 10.0

    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    _assert_offers(_offers(_duties_until_drawing(sim)), 10)

    p8 = _profile(11, "TxDefaultProfile", [(0, 8)], duration_s=3600)
    assert _set(csms201, 1, p8) == ("Accepted", None)
    _wait_duty(sim, 8, "the replacing profile's 8 A")
    assert _reported(_get_profiles(csms201, evse_id=1, charging_limit_source=["CSO"])[1]) \
        == {11: (1, "CSO", p8)}
    assert _limits(csms201, 1)[0] == 8.0


def test_tc_k_02_tc_k_14_refused_profiles_and_their_reason_codes(csms201, sim, start_gateway):
    """TC_K_02_CS (TxProfile without an ongoing transaction) and TC_K_14_CS (unknown
    evseId) are Rejected; so is every profile breaking a K01 rule, each with its statusInfo
    reasonCode: TxNotFound (K01.FR.09), MissingParam (TxProfile without transactionId,
    K01.FR.03), UnknownEvse (K01.FR.28), InvalidValue (TxProfile on EVSE 0, K01.FR.16; a
    ChargingStationMaxProfile on an EVSE; ChargingStationExternalConstraints from the CSMS,
    K01.FR.22), InvalidStackLevel (above ProfileStackLevel 10), InvalidSchedule (first
    startPeriod not 0, K01.FR.31; startPeriods not increasing, K01.FR.35; Absolute without
    startSchedule, K01.FR.40), DuplicateProfile (same purpose, stackLevel and EVSE with an
    overlapping validity, K01.FR.06). Nothing refused is installed: GetChargingProfiles
    answers NoProfiles and the composite stays unconstrained."""
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    no_start = _profile(9, "TxDefaultProfile", [(0, 6)])
    del no_start["charging_schedule"][0]["start_schedule"]
    refused = [
        (1, _profile(1, "TxProfile", [(0, 6)], tx_id="no-such-tx"), "TxNotFound"),
        (1, _profile(2, "TxProfile", [(0, 6)]), "MissingParam"),
        (2, _profile(3, "TxDefaultProfile", [(0, 6)]), "UnknownEvse"),
        (0, _profile(4, "TxProfile", [(0, 6)], tx_id="x"), "InvalidValue"),
        (1, _profile(5, "ChargingStationMaxProfile", [(0, 6)]), "InvalidValue"),
        (0, _profile(6, "ChargingStationExternalConstraints", [(0, 6)]), "InvalidValue"),
        (1, _profile(7, "TxDefaultProfile", [(0, 6)], stack=11), "InvalidStackLevel"),
        (1, _profile(8, "TxDefaultProfile", [(10, 6)]), "InvalidSchedule"),
        (1, _profile(10, "TxDefaultProfile", [(0, 6), (0, 8)]), "InvalidSchedule"),
        (1, no_start, "InvalidSchedule"),
    ]
    for evse_id, p, code in refused:
        assert _set(csms201, evse_id, p) == ("Rejected", code), (p, code)
    assert _get_profiles(csms201, charging_limit_source=["CSO"]) == ("NoProfiles", [])
    assert _limits(csms201, 1) == [UNCONSTRAINED_A]

    assert _set(csms201, 1, _profile(20, "TxDefaultProfile", [(0, 6)])) == ("Accepted", None)
    assert _set(csms201, 1, _profile(21, "TxDefaultProfile", [(0, 7)])) \
        == ("Rejected", "DuplicateProfile")
    assert set(_reported(_get_profiles(csms201, evse_id=1, stack_level=0)[1])) == {20}


def test_tc_k_03_tc_k_10_station_wide_profiles(csms201, sim, start_gateway):
    """TC_K_03_CS (ChargingStationMaxProfile) and TC_K_10_CS (TxDefaultProfile for all
    EVSEs), both on evseId 0: Accepted and reported with evseId 0 [K09.FR.05: evseId 0 reports
    the station-wide ones only]. The composite of EVSE 1 is their minimum (16 A max, 20 A
    default: 16 A; default lowered to 10 A: 10 A), that of EVSE 0 the max profile, and the
    charging EV's pilot duty follows: 16 A, then 10 A."""
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    mx = _profile(31, "ChargingStationMaxProfile", [(0, 16)], duration_s=3600)
    assert _set(csms201, 0, mx) == ("Accepted", None)
    default = _profile(32, "TxDefaultProfile", [(0, 20)])
    assert _set(csms201, 0, default) == ("Accepted", None)
    status, reports = _get_profiles(csms201, evse_id=0, charging_limit_source=["CSO"])
    assert status == "Accepted" and len(reports) == 1
    assert _reported(reports) == {31: (0, "CSO", mx), 32: (0, "CSO", default)}
    assert _get_profiles(csms201, evse_id=1, charging_limit_source=["CSO"])[0] == "NoProfiles"
    assert _limits(csms201, 1)[0] == 16.0
    assert _limits(csms201, 0)[0] == 16.0
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    _assert_offers(_offers(_duties_until_drawing(sim)), 16)
    assert _set(csms201, 0, _profile(32, "TxDefaultProfile", [(0, 10)])) == ("Accepted", None)
    _wait_duty(sim, 10, "the station-wide default's 10 A")
    assert _limits(csms201, 1)[0] == 10.0


def test_tc_k_05_to_tc_k_08_clear_charging_profile(csms201, sim, start_gateway):
    """TC_K_08_CS: ClearChargingProfile without any profile installed -> Unknown. TC_K_05_CS:
    by chargingProfileId -> Accepted, only that one gone. TC_K_07_CS: criteria no profile
    matches (unknown stackLevel / purpose) -> Unknown, nothing cleared. TC_K_06_CS: by
    stackLevel and purpose -> Accepted, the matching one gone (and by evseId the rest, K10).
    Each step checked with GetChargingProfiles and the composite schedule."""
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    assert _clear(csms201, 99) == "Unknown"
    assert _clear(csms201, stack_level=0, charging_profile_purpose="TxDefaultProfile") \
        == "Unknown"
    for pid, evse_id, purpose, stack, a in ((51, 1, "TxDefaultProfile", 0, 12),
                                             (52, 1, "TxDefaultProfile", 1, 10),
                                             (53, 0, "ChargingStationMaxProfile", 0, 16)):
        assert _set(csms201, evse_id, _profile(pid, purpose, [(0, a)], stack=stack)) \
            == ("Accepted", None)
    assert _limits(csms201, 1)[0] == 10.0

    assert _clear(csms201, 52) == "Accepted"  # TC_K_05
    assert set(_reported(_get_profiles(csms201, charging_limit_source=["CSO"])[1])) \
        == {51, 53}
    assert _limits(csms201, 1)[0] == 12.0
    assert _get_profiles(csms201, charging_profile_id=[52]) == ("NoProfiles", [])

    assert _clear(csms201, stack_level=5, charging_profile_purpose="TxDefaultProfile") \
        == "Unknown"  # TC_K_07
    assert _clear(csms201, charging_profile_purpose="TxProfile") == "Unknown"
    assert set(_reported(_get_profiles(csms201, charging_limit_source=["CSO"])[1])) \
        == {51, 53}

    assert _clear(csms201, stack_level=0, charging_profile_purpose="TxDefaultProfile") \
        == "Accepted"  # TC_K_06
    assert set(_reported(_get_profiles(csms201, charging_limit_source=["CSO"])[1])) == {53}
    assert _limits(csms201, 1)[0] == 16.0
    assert _clear(csms201, evse_id=0) == "Accepted"
    assert _get_profiles(csms201, charging_limit_source=["CSO"]) == ("NoProfiles", [])
    assert _limits(csms201, 1) == [UNCONSTRAINED_A]


def test_tc_k_28_tc_k_09_tx_default_profile_during_a_transaction(csms201, sim, start_gateway):
    """TC_K_28_CS: a TxDefaultProfile set while a transaction runs applies to it: Accepted,
    the composite schedule is its 6 A and the pilot duty goes to 6 A. TC_K_09_CS: clearing
    that TxDefaultProfile during the transaction -> Accepted, the composite is unconstrained
    again and the duty back to the EVSE's own 32 A."""
    _charging(csms201, sim, start_gateway)
    assert _set(csms201, 1, _profile(61, "TxDefaultProfile", [(0, 6)], duration_s=402)) \
        == ("Accepted", None)
    _wait_duty(sim, 6, "the TxDefaultProfile's 6 A")
    assert _limits(csms201, 1)[0] == 6.0
    assert _clear(csms201, 61) == "Accepted"
    sim.wait(lambda s: s["duty_permille"] == FREE_DUTY, 10, "the unconstrained duty")
    assert _limits(csms201, 1) == [UNCONSTRAINED_A]


def test_tc_k_13_profiles_persist_over_a_restart(csms201, sim, start_gateway):
    """TC_K_13_CS (persistent over reboot): a TxDefaultProfile on EVSE 1 and a
    ChargingStationMaxProfile survive a gateway restart (the process stopped and started
    again on its state directory): GetChargingProfiles reports both as set, the composite is
    unchanged, and the first PWM offer after a plug-in follows them."""
    g = start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    default = _profile(71, "TxDefaultProfile", [(0, 10)], duration_s=3600)
    mx = _profile(72, "ChargingStationMaxProfile", [(0, 16)])
    assert _set(csms201, 1, default) == ("Accepted", None)
    assert _set(csms201, 0, mx) == ("Accepted", None)
    g.stop()
    start_gateway(csms201, sim)
    csms201.wait_for("BootNotification", count=2)
    csms201.wait_status(1, "Available")
    assert _reported(_get_profiles(csms201, charging_limit_source=["CSO"])[1]) \
        == {72: (0, "CSO", mx), 71: (1, "CSO", default)}
    assert _limits(csms201, 1)[0] == 10.0
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    _assert_offers(_offers(_duties_until_drawing(sim)), 10)


def test_tc_k_16_tc_k_60_tx_profile_of_the_running_transaction(csms201, sim, start_gateway):
    """TC_K_16_CS: a TxProfile naming an unknown transactionId is Rejected (TxNotFound).
    TC_K_60_CS: a TxProfile naming the transactionId of the Started TransactionEvent (the
    station chose it) on that EVSE is Accepted, reported with that transactionId, and the
    duty follows its 10 A. A second TxProfile with the same stackLevel for the transaction is
    Rejected (InvalidStackLevel, K01.FR.39). When the transaction ends its TxProfile goes
    (GetChargingProfiles: NoProfiles)."""
    _, tx_id = _charging(csms201, sim, start_gateway)
    assert _set(csms201, 1, _profile(81, "TxProfile", [(0, 10)], tx_id="no-such-tx")) \
        == ("Rejected", "TxNotFound")
    p = _profile(82, "TxProfile", [(0, 10)], kind="Relative", tx_id=tx_id)
    assert _set(csms201, 1, p) == ("Accepted", None)
    _wait_duty(sim, 10, "the TxProfile's 10 A")
    assert _reported(_get_profiles(csms201, evse_id=1, charging_profile_purpose="TxProfile")[1]) \
        == {82: (1, "CSO", p)}
    assert _limits(csms201, 1)[0] == 10.0
    assert _set(csms201, 1, _profile(83, "TxProfile", [(0, 8)], kind="Relative",
                                     tx_id=tx_id)) == ("Rejected", "InvalidStackLevel")
    sim.control("unplug")
    csms201.wait_for("TransactionEvent", where=lambda e: e["eventType"] == "Ended")
    csms201.wait_until(lambda: _get_profiles(csms201, charging_profile_purpose="TxProfile")[0]
                       == "NoProfiles", 10, "the TxProfile to go with its transaction")


def test_tc_k_41_combining_charging_profile_purposes(csms201, sim, start_gateway):
    """TC_K_41_CS (combining chargingProfilePurposes): during a transaction, with a
    ChargingStationMaxProfile of 16 A, a TxDefaultProfile of 12 A and a TxProfile of 20 A the
    composite is 16 A (the TxProfile replaces the default, the max profile caps it); the
    TxProfile lowered to 8 A (same id) makes it 8 A. The duty follows each step; EVSE 0's
    composite is the max profile."""
    _, tx_id = _charging(csms201, sim, start_gateway)
    assert _set(csms201, 0, _profile(91, "ChargingStationMaxProfile", [(0, 16)])) \
        == ("Accepted", None)
    assert _set(csms201, 1, _profile(92, "TxDefaultProfile", [(0, 12)])) == ("Accepted", None)
    _wait_duty(sim, 12, "the TxDefaultProfile's 12 A")
    assert _limits(csms201, 1)[0] == 12.0
    assert _set(csms201, 1, _profile(93, "TxProfile", [(0, 20)], tx_id=tx_id)) \
        == ("Accepted", None)
    _wait_duty(sim, 16, "the max profile's 16 A over the TxProfile's 20 A")
    assert _limits(csms201, 1)[0] == 16.0
    assert _limits(csms201, 0)[0] == 16.0
    assert _set(csms201, 1, _profile(93, "TxProfile", [(0, 8)], tx_id=tx_id)) \
        == ("Accepted", None)
    _wait_duty(sim, 8, "the TxProfile's 8 A")
    assert _limits(csms201, 1)[0] == 8.0


def test_tc_k_19_tc_k_21_tc_k_22_tc_k_23_recurring_validity_and_start(csms201, sim,
                                                                     start_gateway):
    """During a charge, one TxDefaultProfile at a time on EVSE 1 (cleared between):
    TC_K_19_CS: a Recurring Daily profile is Accepted and applies (6 A, the duty follows).
    TC_K_21_CS: validFrom 5 s ahead: unconstrained until then, 6 A from then. TC_K_22_CS:
    validTo 300 s ahead: 6 A (the duty follows) until then, unconstrained after. TC_K_23_CS:
    startSchedule 4 s ahead: unconstrained, 8 A from its start; the pilot duty changes at
    that instant."""
    _charging(csms201, sim, start_gateway)
    now = int(time.time())
    rec = _profile(101, "TxDefaultProfile", [(0, 6)], kind="Recurring", recurrency="Daily",
                   start_s=now - 60, duration_s=3600)
    assert _set(csms201, 1, rec) == ("Accepted", None)
    _wait_duty(sim, 6, "the Recurring profile's 6 A")
    got = _composite(csms201, 1, 86400)
    assert got[0][1] == 6.0 and got[1] == (now - 60 + 3600, UNCONSTRAINED_A)
    assert _clear(csms201, 101) == "Accepted"

    now = int(time.time())
    p = _profile(102, "TxDefaultProfile", [(0, 6)], kind="Relative", valid=(now + 5, None))
    assert _set(csms201, 1, p) == ("Accepted", None)
    got = _composite(csms201, 1, 400)
    assert [lim for _, lim in got] == [UNCONSTRAINED_A, 6.0] and got[1][0] == now + 5
    assert _clear(csms201, 102) == "Accepted"

    now = int(time.time())
    p = _profile(103, "TxDefaultProfile", [(0, 6)], valid=(now - 2, now + 300))
    assert _set(csms201, 1, p) == ("Accepted", None)
    _wait_duty(sim, 6, "the 6 A until validTo")
    got = _composite(csms201, 1, 400)
    assert [lim for _, lim in got] == [6.0, UNCONSTRAINED_A] and got[1][0] == now + 300
    assert _clear(csms201, 103) == "Accepted"
    sim.wait(lambda s: s["duty_permille"] == FREE_DUTY, 10, "the unconstrained duty")

    start = int(time.time()) + 4
    p = _profile(104, "TxDefaultProfile", [(0, 8)], start_s=start)
    assert _set(csms201, 1, p) == ("Accepted", None)
    got = _composite(csms201, 1, 300)
    assert [lim for _, lim in got] == [UNCONSTRAINED_A, 8.0] and got[1][0] == start
    trace = _trace(sim, start + 2)
    changed = next(t for t, d in trace if d == duty(8))
    assert start - 1 <= changed <= start + 1.5
    assert {d for _, d in trace} == {FREE_DUTY, duty(8)}


def test_tc_k_29_to_tc_k_36_get_charging_profiles(csms201, sim, start_gateway):
    """GetChargingProfiles (K09) over four profiles (a ChargingStationMaxProfile and a
    TxDefaultProfile on EVSE 0, two TxDefaultProfiles on EVSE 1): TC_K_29_CS evseId 0 -> the
    station-wide ones only [K09.FR.05]; TC_K_30_CS evseId 1 -> that EVSE's [K09.FR.04];
    TC_K_31_CS no evseId -> all, one ReportChargingProfiles per EVSE, tbc true on all but the
    last [K09.FR.02]; TC_K_32_CS by chargingProfileId; TC_K_33_CS evseId + stackLevel;
    TC_K_34_CS evseId + chargingLimitSource (CSO: both; EMS: NoProfiles); TC_K_35_CS evseId +
    chargingProfilePurpose; TC_K_36_CS evseId + purpose + stackLevel. Every report carries
    the request's requestId [K09.FR.01]."""
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    sent = {111: (0, _profile(111, "ChargingStationMaxProfile", [(0, 20)])),
            112: (0, _profile(112, "TxDefaultProfile", [(0, 16)], stack=1)),
            113: (1, _profile(113, "TxDefaultProfile", [(0, 12)])),
            114: (1, _profile(114, "TxDefaultProfile", [(0, 10)], stack=2))}
    for evse_id, p in sent.values():
        assert _set(csms201, evse_id, p) == ("Accepted", None)

    def ids(evse_id=None, **criterion):
        status, reports = _get_profiles(csms201, evse_id, **criterion)
        if status == "NoProfiles":
            return status, set()
        got = _reported(reports)
        for pid, (eid, source, p) in got.items():
            assert (eid, source, p) == (sent[pid][0], "CSO", sent[pid][1])
        return status, set(got)

    assert ids(0, charging_limit_source=["CSO"]) == ("Accepted", {111, 112})  # TC_K_29
    assert ids(1, charging_limit_source=["CSO"]) == ("Accepted", {113, 114})  # TC_K_30
    status, reports = _get_profiles(csms201, charging_limit_source=["CSO"])  # TC_K_31
    assert status == "Accepted" and [r["evseId"] for r in reports] == [0, 1]
    assert set(_reported(reports)) == set(sent)
    assert ids(charging_profile_id=[113, 111]) == ("Accepted", {111, 113})  # TC_K_32
    assert ids(charging_profile_id=[999]) == ("NoProfiles", set())
    assert ids(1, stack_level=2) == ("Accepted", {114})  # TC_K_33
    assert ids(1, charging_limit_source=["EMS"]) == ("NoProfiles", set())  # TC_K_34
    assert ids(1, charging_profile_purpose="TxDefaultProfile") \
        == ("Accepted", {113, 114})  # TC_K_35
    assert ids(1, charging_profile_purpose="ChargingStationMaxProfile") \
        == ("NoProfiles", set())
    assert ids(1, charging_profile_purpose="TxDefaultProfile", stack_level=0) \
        == ("Accepted", {113})  # TC_K_36


def test_tc_k_37_remote_start_with_a_tx_profile(csms201, sim, start_gateway):
    """TC_K_37_CS (K05, F01.FR.08-12): RequestStartTransaction whose chargingProfile is not a
    TxProfile, or a TxProfile naming a transactionId, is Rejected (InvalidValue) and starts
    nothing. With a TxProfile (Relative, 10 A, no transactionId) it is Accepted: the
    composite is 10 A before the plug-in, the first PWM offer after it is 10 A (never the
    unconstrained one), the Started event carries the idToken and remoteStartId, and
    GetChargingProfiles reports the TxProfile with the station's transactionId."""
    start_gateway(csms201, sim, {"free_vend_id_tag": None})
    csms201.wait_status(1, "Available")
    for bad in (_profile(121, "TxDefaultProfile", [(0, 10)], kind="Relative"),
                _profile(122, "TxProfile", [(0, 10)], kind="Relative", tx_id="x")):
        r = csms201.request(call.RequestStartTransaction(id_token=TOKEN, remote_start_id=1,
                                                         evse_id=1, charging_profile=bad))
        assert r.status == "Rejected" and r.status_info["reason_code"] == "InvalidValue"
    assert _get_profiles(csms201, charging_limit_source=["CSO"]) == ("NoProfiles", [])

    p = _profile(123, "TxProfile", [(0, 10)], stack=1, kind="Relative")
    r = csms201.request(call.RequestStartTransaction(id_token=TOKEN, remote_start_id=2,
                                                     evse_id=1, charging_profile=p))
    assert r.status == "Accepted"
    csms201.wait_until(lambda: _limits(csms201, 1) == [10.0], 10, "the 10 A composite")
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    offers = _offers(_duties_until_drawing(sim))
    assert offers and set(offers) == {duty(10)}, offers  # strict: the remote start path
    started = _started(csms201)  # the plug-in starts it: CablePluggedIn (transactions.py)
    assert started["idToken"] == TOKEN
    assert started["transactionInfo"]["remoteStartId"] == 2
    tx_id = started["transactionInfo"]["transactionId"]
    assert _reported(_get_profiles(csms201, evse_id=1, charging_profile_id=[123])[1]) \
        == {123: (1, "CSO", dict(p, transaction_id=tx_id))}
    assert sim.status()["duty_permille"] == duty(10)


def test_tc_k_39_tc_k_40_tc_k_47_get_composite_schedule(csms201, sim, start_gateway):
    """TC_K_39_CS: no profile installed -> Accepted, one unconstrained period. TC_K_40_CS
    (stacking, time-scaled): TxDefaultProfile stackLevel 0 (6 A, 8 A from 20 s, 10 A from
    200 s, 400 s) under one of stackLevel 1 (10 A for 6 s): the composite is the higher
    stackLevel while it runs, then the lower one, also in W (A x 230 V x 3 phases); the
    charging EV's duty goes 10 A -> 6 A at start + 6 s. TC_K_47_CS: an unknown evseId ->
    Rejected (UnknownEvse); so is a duration of 0 (InvalidValue)."""
    _charging(csms201, sim, start_gateway)
    assert _limits(csms201, 1) == [UNCONSTRAINED_A]  # TC_K_39
    assert _limits(csms201, 0) == [UNCONSTRAINED_A]

    s0 = int(time.time()) - 1
    valid = (s0, s0 + 401)
    p1 = _profile(131, "TxDefaultProfile", [(0, 6), (20, 8), (200, 10)], start_s=s0,
                  duration_s=400, valid=valid)
    p2 = _profile(132, "TxDefaultProfile", [(0, 10)], stack=1, start_s=s0, duration_s=6,
                  valid=valid)
    assert _set(csms201, 1, p1) == ("Accepted", None)
    assert _set(csms201, 1, p2) == ("Accepted", None)
    _wait_duty(sim, 10, "the stackLevel 1 profile's 10 A")
    got = _composite(csms201, 1, 400)
    assert got[0][1] == 10.0
    assert got[1:] == [(s0 + 6, 6.0), (s0 + 20, 8.0), (s0 + 200, 10.0),
                       (s0 + 400, UNCONSTRAINED_A)]
    watts = _composite(csms201, 1, 400, unit="W")
    assert [lim for _, lim in watts][:4] == [6900.0, 4140.0, 5520.0, 6900.0]
    trace = _trace(sim, s0 + 8)
    changed = next(t for t, d in trace if d == duty(6))
    assert s0 + 6 - 1 <= changed <= s0 + 6 + 1.5

    for evse_id, duration_s, code in ((2, 300, "UnknownEvse"), (1, 0, "InvalidValue")):
        r = csms201.request(call.GetCompositeSchedule(duration=duration_s, evse_id=evse_id,
                                                      charging_rate_unit="A"))
        assert r.status == "Rejected" and r.status_info["reason_code"] == code


def _set_variable(csms, component, variable, value):
    r = csms.request(call.SetVariables(set_variable_data=[{
        "component": {"name": component}, "variable": {"name": variable},
        "attribute_value": value}]))
    return r.set_variable_result[0]["attribute_status"]


def test_tc_k_38_request_start_profile_ignored_without_smart_charging(csms201, sim,
                                                                      start_gateway):
    """TC_K_38_CS (RequestStartTransaction with a chargingProfile, smart charging not
    enabled): with SmartChargingCtrlr.Enabled false the station takes the remote start and
    ignores its TxProfile: the transaction starts, no profile is installed (GetChargingProfiles
    NoProfiles) and the offer is unconstrained; a SetChargingProfile is Rejected (NotEnabled).
    Enabled true again: profiles are taken."""
    start_gateway(csms201, sim, config={"free_vend_id_tag": None})
    csms201.wait_status(1, "Available")
    assert _set_variable(csms201, "SmartChargingCtrlr", "Enabled", "false") == "Accepted"
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    csms201.wait_status(1, "Occupied")
    tx_profile = _profile(7, "TxProfile", [(0, 10)], kind="Relative")
    r = csms201.request(call.RequestStartTransaction(id_token=TOKEN, remote_start_id=38,
                                                     evse_id=1, charging_profile=tx_profile))
    assert r.status == "Accepted"
    _started(csms201)
    sim.wait(lambda s: s["draw_ma"] > 0, 10, "current to flow")
    assert _get_profiles(csms201)[0] == "NoProfiles"
    time.sleep(1)
    assert sim.status()["duty_permille"] == FREE_DUTY
    assert _set(csms201, 1, _profile(8, "TxDefaultProfile", [(0, 10)])) == ("Rejected",
                                                                            "NotEnabled")
    assert _set_variable(csms201, "SmartChargingCtrlr", "Enabled", "true") == "Accepted"
    assert _set(csms201, 1, _profile(8, "TxDefaultProfile", [(0, 10)])) == ("Accepted", None)
    _wait_duty(sim, 10, "the TxDefaultProfile's 10 A")


def test_tc_k_42_composite_schedule_in_an_unsupported_unit(csms201, sim, start_gateway):
    """TC_K_42_CS (GetCompositeSchedule with an unsupported chargingRateUnit): the station is
    set to support A only (SmartChargingCtrlr.RateUnit "A"): GetCompositeSchedule in W is
    Rejected, in A Accepted; a profile in W is Rejected; RateUnit may not be empty."""
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    assert _set_variable(csms201, "SmartChargingCtrlr", "RateUnit", "") == "Rejected"
    assert _set_variable(csms201, "SmartChargingCtrlr", "RateUnit", "A") == "Accepted"
    r = csms201.request(call.GetCompositeSchedule(duration=300, evse_id=1,
                                                  charging_rate_unit="W"))
    assert r.status == "Rejected"
    assert _limits(csms201, 1)  # in A: Accepted
    status, _ = _set(csms201, 1, _profile(9, "TxDefaultProfile", [(0, 6900)], unit="W"))
    assert status == "Rejected"
