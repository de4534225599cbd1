"""Charging profiles: reading the `ocpp` library's payloads (1.6 and 2.0.1) and
every SetChargingProfile rule with its reason (OCPP 1.6 SetChargingProfile /
§3.13 and the configuration keys of DESIGN §8; 2.0.1 K01 requirement IDs);
ClearChargingProfile (TC_067, K10) and GetChargingProfiles (K09) on the store.
OCTT 1.6: TC_056 TxDefaultProfile, TC_057 TxProfile, TC_058_1 no ongoing
transaction, TC_058_2 wrong transactionId, TC_059 remote start with a profile,
TC_067 clear, TC_072 stacking, TC_082 TxDefaultProfile with a transaction."""

import dataclasses
from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st
from ocpp.charge_point import snake_to_camel_case
from ocpp.messages import Call, _validate_payload
from ocpp.v16 import call as call16
from ocpp.v16 import datatypes as dt16
from ocpp.v201 import call as call201

from gateway.smart.model import snake_case
from gateway.smart.profiles import (
    EXTERNAL,
    STATION_MAX,
    TX,
    TX_DEFAULT,
    V201,
    ProfileStore,
    Refusal,
    SmartConfig,
    StationState,
    Transaction,
    check_profile,
    parse_time,
    profile_from_ocpp16,
    profile_from_ocpp201,
    rate_units,
)

T0 = parse_time("2026-01-05T00:00:00Z")
START = "2026-01-05T00:00:00Z"
IDLE = StationState((1, 2))
CHARGING = StationState((1, 2), {1: Transaction("77", T0)})
C201 = SmartConfig(ocpp_version=V201)


def p16(pid=1, purpose="TxDefaultProfile", stack=0, kind="Absolute", periods=((0, 16),),
        unit="A", start=START, **extra):
    """A 1.6 csChargingProfiles dict, camelCase as on the wire."""
    sched = {"chargingRateUnit": unit,
             "chargingSchedulePeriod": [dict({"startPeriod": s, "limit": lim}, **(
                 {"numberPhases": x[0]} if x else {})) for s, lim, *x in periods]}
    if start is not None:
        sched["startSchedule"] = start
    sched.update(extra.pop("schedule", {}))
    d = {"chargingProfileId": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
         "chargingProfileKind": kind, "chargingSchedule": sched}
    d.update(extra)
    return d


def p201(pid=1, purpose="TxDefaultProfile", stack=0, kind="Absolute", periods=((0, 16),),
         unit="A", start=START, **extra):
    d = p16(pid, purpose, stack, kind, periods, unit, start, **extra)
    d["id"] = d.pop("chargingProfileId")
    d["chargingSchedule"] = [dict(d["chargingSchedule"], id=1)]
    return d


def read16(connector, d, now=T0):
    p, refusal = profile_from_ocpp16(connector, d, now)
    assert refusal is None, refusal
    return p


def read201(evse, d):
    p, refusal = profile_from_ocpp201(evse, d)
    assert refusal is None, refusal
    return p


def refused16(connector, d, state=IDLE, config=None, installed=(), **kw):
    """The Refusal of a 1.6 profile, from reading or from the rules."""
    p, refusal = profile_from_ocpp16(connector, d, T0)
    if refusal is None:
        refusal = check_profile(p, state, config or SmartConfig(), installed, **kw)
    assert isinstance(refusal, Refusal), "accepted: %r" % (p,)
    return refusal


def refused201(evse, d, state=IDLE, installed=(), **kw):
    p, refusal = profile_from_ocpp201(evse, d)
    if refusal is None:
        refusal = check_profile(p, state, C201, installed, **kw)
    assert isinstance(refusal, Refusal), "accepted: %r" % (p,)
    return refusal


# --- reading the library's payloads ----------------------------------------------------

def test_1_6_snake_case_as_on_handlers_receive_it_camel_case_and_dataclass_agree():
    d = p16(periods=((0, 16), (3600, 6.5, 1)), validTo="2026-02-01T00:00:00Z")
    from_camel = read16(1, d)
    assert read16(1, snake_case(d)) == from_camel
    lib = dt16.ChargingProfile(
        charging_profile_id=1, stack_level=0, charging_profile_purpose="TxDefaultProfile",
        charging_profile_kind="Absolute", valid_to="2026-02-01T00:00:00Z",
        charging_schedule=dt16.ChargingSchedule(
            charging_rate_unit="A", start_schedule=START, charging_schedule_period=[
                dt16.ChargingSchedulePeriod(start_period=0, limit=16),
                dt16.ChargingSchedulePeriod(start_period=3600, limit=6.5, number_phases=1)]))
    assert read16(1, call16.SetChargingProfile(1, lib).cs_charging_profiles) == from_camel
    assert from_camel.schedule.periods[1].limit == Fraction(13, 2)
    assert from_camel.schedule.periods[1].number_phases == 1
    assert from_camel.valid_to == parse_time("2026-02-01T00:00:00Z")


def test_design_8_decimal_limits_of_the_1_6_library_are_read_exactly():
    """DESIGN §8: the library reads 1.6 profile numbers as Decimal."""
    d = snake_case(p16(periods=((0, Decimal("16.1")),),
                       schedule={"minChargingRate": Decimal("6.0")}))
    p = read16(1, d)
    assert p.schedule.periods[0].limit == Fraction(161, 10)
    assert p.schedule.min_rate == 6
    out = p.to_ocpp16()  # echoed back as plain floats
    assert out["charging_schedule"]["charging_schedule_period"][0]["limit"] == 16.1
    assert isinstance(out["charging_schedule"]["min_charging_rate"], float)


def test_2_0_1_profile_reads_with_string_transaction_id():
    d = p201(purpose="TxProfile", transactionId="tx-9")
    p = read201(1, d)
    assert p.transaction_id == "tx-9" and p.purpose == TX
    assert read201(1, snake_case(d)) == p
    req = call201.SetChargingProfile(evse_id=1, charging_profile=snake_case(d))
    assert read201(req.evse_id, req.charging_profile) == p


def test_1_6_charge_point_max_profile_is_the_neutral_station_max():
    p = read16(0, p16(purpose="ChargePointMaxProfile"))
    assert p.purpose == STATION_MAX
    assert p.to_ocpp16()["charging_profile_purpose"] == "ChargePointMaxProfile"
    assert p.to_ocpp201()["charging_profile_purpose"] == "ChargingStationMaxProfile"


def test_1_6_transaction_id_int_kept_as_text_and_echoed_as_int():
    p = read16(1, p16(purpose="TxProfile", transactionId=77))
    assert p.transaction_id == "77"
    assert p.to_ocpp16()["transaction_id"] == 77


def test_profile_payloads_out_pass_the_official_schemas():
    p = read16(1, p16(periods=((0, 16), (60, 6.5, 1)), kind="Recurring", recurrencyKind="Daily",
                      validFrom="2026-01-01T00:00:00Z", schedule={"duration": 3600}))
    payload = {"connector_id": 1, "cs_charging_profiles": p.to_ocpp16()}
    _validate_payload(Call("1", "SetChargingProfile", snake_to_camel_case(payload)), "1.6")
    q = read201(1, p201(periods=((0, 16), (60, 6.5, 1))))
    req = {"evse_id": 1, "charging_profile": q.to_ocpp201()}
    _validate_payload(Call("2", "SetChargingProfile", snake_to_camel_case(req)), "2.0.1")


def test_1_6_absolute_without_start_schedule_starts_when_installed():
    p = read16(1, p16(start=None), now=T0 + 42)
    assert p.schedule.start_s == T0 + 42


def test_time_formats_utc_offsets_fractions_and_naive():
    assert parse_time("2026-01-05T01:00:00+01:00") == T0
    assert parse_time("2026-01-05T00:00:00.999Z") == T0
    assert parse_time("2026-01-05T00:00:00") == T0


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(
                        st.sampled_from(["chargingProfileId", "id", "stackLevel", "limit",
                                         "chargingProfilePurpose", "chargingProfileKind",
                                         "chargingSchedule", "chargingSchedulePeriod",
                                         "startPeriod", "chargingRateUnit", "startSchedule",
                                         "recurrencyKind", "validFrom", "numberPhases"]),
                        c, max_size=8), max_leaves=20),
       st.integers(-2, 3))
def test_any_payload_gives_a_profile_or_a_refusal_never_an_exception(payload, evse):
    for read in (lambda: profile_from_ocpp16(evse, payload, T0),
                 lambda: profile_from_ocpp201(evse, payload)):
        p, refusal = read()
        assert (p is None) != (refusal is None)
        if refusal is not None:
            assert isinstance(refusal, str) and refusal and refusal.code


# --- the rules, one by one --------------------------------------------------------------

def test_payload_refusals_name_what_is_wrong():
    cases = [
        (p16(periods=((0, "16"),)), "limit must be a number"),
        (p16(periods=((0, True),)), "limit must be a number"),
        (p16(periods=((0, -1),)), "limit must be >= 0"),
        (p16(periods=()), "at least one period"),
        (p16(purpose="Sometimes"), "chargingProfilePurpose must be one of"),
        (p16(kind="Never"), "chargingProfileKind must be one of"),
        (p16(unit="kW"), "chargingRateUnit must be one of"),
        (p16(start="yesterday"), "startSchedule is not an ISO 8601"),
        (p16(stack=-1), "stackLevel must be >= 0"),
        (p16(schedule={"duration": 0}), "duration must be > 0"),
        (p16(periods=((0, 16, 4),)), "numberPhases must be 1..3"),
        (p16(validFrom="2026-02-01T00:00:00Z", validTo="2026-01-01T00:00:00Z"),
         "validTo must be after validFrom"),
        (p16(transactionId=5), "only a TxProfile may carry a transactionId"),
        (p16(purpose="ChargingStationExternalConstraints"), "chargingProfilePurpose"),
    ]
    for d, words in cases:
        refusal = refused16(1, d)
        assert words in refusal, (words, refusal)


def test_k01_fr_31_first_start_period_is_zero():
    r = refused16(1, p16(periods=((60, 16),)))
    assert "K01.FR.31" in r and r.code == "InvalidSchedule"


def test_k01_fr_35_start_periods_increase():
    r = refused16(1, p16(periods=((0, 16), (600, 10), (600, 8))))
    assert "K01.FR.35" in r and "600 after 600" in r


def test_charging_schedule_max_periods():
    config = SmartConfig(max_periods=2)
    r = refused16(1, p16(periods=((0, 16), (60, 10), (120, 8))), config=config)
    assert "ChargingScheduleMaxPeriods 2" in r


def test_k01_fr_26_charging_rate_unit_must_be_allowed():
    config = SmartConfig(rate_units=rate_units("Current"))
    r = refused16(1, p16(unit="W", periods=((0, 11000),)), config=config)
    assert "K01.FR.26" in r and r.code == "UnsupportedRateUnit"
    assert rate_units("Current,Power") == rate_units("A, W") == ("A", "W")


def test_charge_profile_max_stack_level():
    r = refused16(1, p16(stack=11))
    assert "ChargeProfileMaxStackLevel 10" in r and r.code == "InvalidStackLevel"
    assert check_profile(read16(1, p16(stack=10)), IDLE, SmartConfig()) is None


def test_recurring_needs_recurrency_kind_and_start_schedule():
    assert "needs recurrencyKind" in refused16(1, p16(kind="Recurring"))
    r = refused16(1, p16(kind="Recurring", recurrencyKind="Daily", start=None))
    assert "K01.FR.40" in r


def test_k01_fr_40_2_0_1_absolute_needs_start_schedule():
    assert "K01.FR.40" in refused201(1, p201(start=None))


def test_k01_fr_41_relative_has_no_start_schedule():
    assert "K01.FR.41" in refused16(1, p16(kind="Relative"))
    assert "K01.FR.41" in refused201(1, p201(kind="Relative"))


def test_k01_fr_45_number_phases_within_the_supply():
    r = refused16(1, p16(periods=((0, 16, 3),)), config=SmartConfig(supply_phases=1))
    assert "K01.FR.45" in r


def test_k01_fr_20_phase_to_use_needs_phase_switching():
    d = p201()
    d["chargingSchedule"][0]["chargingSchedulePeriod"][0].update(numberPhases=1, phaseToUse=2)
    assert "K01.FR.20" in refused201(1, d)


def test_k01_fr_34_one_charging_schedule_only():
    d = p201()
    d["chargingSchedule"].append(dict(d["chargingSchedule"][0], id=2))
    assert "K01.FR.34" in refused201(1, d)


def test_k01_fr_28_unknown_connector_is_rejected():
    r = refused16(3, p16())
    assert "K01.FR.28" in r and r.code == "UnknownEvse"


def test_charge_point_max_profile_only_on_connector_0():
    r = refused16(1, p16(purpose="ChargePointMaxProfile"))
    assert "ChargePointMaxProfile applies to the whole station" in r
    assert "ChargingStationMaxProfile" in refused201(2, p201(purpose="ChargingStationMaxProfile"))


def test_k01_fr_38_station_max_profile_cannot_be_relative():
    r = refused16(0, p16(purpose="ChargePointMaxProfile", kind="Relative", start=None))
    assert "K01.FR.38" in r


def test_tx_default_profile_on_connector_0_or_a_connector():
    for connector in (0, 1, 2):
        assert check_profile(read16(connector, p16()), IDLE, SmartConfig()) is None


def test_k01_fr_16_tx_profile_needs_a_connector():
    assert "K01.FR.16" in refused16(0, p16(purpose="TxProfile"), CHARGING)


def test_tc_058_1_tx_profile_without_transaction_is_rejected():
    """TC_058_1 / K01.FR.09: a TxProfile on a connector with no transaction."""
    r = refused16(2, p16(purpose="TxProfile"), CHARGING)
    assert "K01.FR.09" in r and r.code == "TxNotFound"


def test_tc_058_2_tx_profile_with_wrong_transaction_id_is_rejected():
    r = refused16(1, p16(purpose="TxProfile", transactionId=78), CHARGING)
    assert "K01.FR.33" in r and "78" in r


def test_tc_057_tx_profile_for_the_running_transaction_is_accepted():
    for d in (p16(purpose="TxProfile", transactionId=77), p16(purpose="TxProfile")):
        assert check_profile(read16(1, d), CHARGING, SmartConfig()) is None


def test_k01_fr_03_2_0_1_tx_profile_needs_transaction_id():
    r = refused201(1, p201(purpose="TxProfile"), CHARGING)
    assert "K01.FR.03" in r and r.code == "MissingParam"


def test_tc_059_remote_start_profile_needs_no_transaction_but_must_be_tx_profile():
    p = read16(1, p16(purpose="TxProfile", kind="Relative", start=None))
    assert check_profile(p, IDLE, SmartConfig(), remote_start=True) is None
    assert "must be a TxProfile" in refused16(1, p16(), remote_start=True)
    r = refused16(1, p16(purpose="TxProfile", transactionId=1), remote_start=True)
    assert "cannot name a transactionId" in r


def test_k01_fr_22_csms_cannot_set_external_constraints():
    d = p201(purpose="ChargingStationExternalConstraints")
    assert "K01.FR.22" in refused201(0, d)
    p = read201(0, d)
    assert check_profile(p, IDLE, C201, from_csms=False) is None


def test_k01_fr_06_same_stack_level_overlapping_validity_is_rejected_in_2_0_1():
    old = read201(1, p201(pid=1, validTo="2026-02-01T00:00:00Z"))
    r = refused201(1, p201(pid=2, validFrom="2026-01-20T00:00:00Z"), installed=[old])
    assert "K01.FR.06" in r and r.code == "DuplicateProfile"
    later = read201(1, p201(pid=2, validFrom="2026-02-01T00:00:00Z"))
    assert check_profile(later, IDLE, C201, [old]) is None


def test_k01_fr_39_tx_profile_same_stack_level_same_transaction_is_rejected():
    state = StationState((1,), {1: Transaction("t1", T0)})
    old = read201(1, p201(pid=1, purpose="TxProfile", transactionId="t1"))
    r = refused201(1, p201(pid=2, purpose="TxProfile", transactionId="t1"), state, [old])
    assert "K01.FR.39" in r and r.code == "InvalidStackLevel"


def test_k01_fr_52_53_tx_default_same_stack_level_on_evse_0_and_an_evse():
    on_evse = read201(1, p201(pid=1))
    assert "K01.FR.52/53" in refused201(0, p201(pid=2), installed=[on_evse])
    on_station = read201(0, p201(pid=3))
    assert "K01.FR.52/53" in refused201(2, p201(pid=4), installed=[on_station])
    assert check_profile(read201(2, p201(pid=4, stack=1)), IDLE, C201, [on_station]) is None


def test_k01_fr_05_same_id_replaces_but_not_an_external_constraint():
    ext = read201(0, p201(pid=9, purpose="ChargingStationExternalConstraints"))
    r = refused201(0, p201(pid=9, purpose="ChargingStationMaxProfile"), installed=[ext])
    assert "K01.FR.05" in r
    old = read201(1, p201(pid=5))
    assert check_profile(read201(1, p201(pid=5, periods=((0, 8),))), IDLE, C201, [old]) is None


def test_max_charging_profiles_installed():
    store = ProfileStore(config=SmartConfig(max_profiles=2))
    assert store.install(read16(1, p16(pid=1)), IDLE) is None
    assert store.install(read16(2, p16(pid=2)), IDLE) is None
    r = store.install(read16(0, p16(pid=3)), IDLE)
    assert "MaxChargingProfilesInstalled (2)" in r
    assert store.install(read16(1, p16(pid=1, periods=((0, 10),))), IDLE) is None  # replaces


# --- the store: installing, replacing, clearing, querying ---------------------------------

def test_1_6_same_purpose_stack_level_and_connector_replaces():
    store = ProfileStore()
    assert store.install(read16(1, p16(pid=1, stack=2)), IDLE) is None
    assert store.install(read16(2, p16(pid=2, stack=2)), IDLE) is None  # other connector
    assert store.install(read16(1, p16(pid=3, stack=2, periods=((0, 8),))), IDLE) is None
    assert sorted(p.id for p in store) == [2, 3]


def test_same_id_replaces_in_both_versions():
    for config, read, mk in ((SmartConfig(), read16, p16), (C201, read201, p201)):
        store = ProfileStore(config=config)
        assert store.install(read(1, mk(pid=4)), IDLE) is None
        assert store.install(read(2, mk(pid=4, stack=3)), IDLE) is None
        assert [(p.id, p.evse_id, p.stack_level) for p in store] == [(4, 2, 3)]


def test_refused_install_changes_nothing():
    store = ProfileStore()
    assert store.install(read16(1, p16(pid=1)), IDLE) is None
    assert store.install(read16(1, p16(pid=1, purpose="TxProfile")), IDLE)  # refused
    assert store.get(1).purpose == TX_DEFAULT


def _filled_store():
    store = ProfileStore(config=C201)
    state = StationState((1, 2), {1: Transaction("t1", T0)})
    ext = dataclasses.replace(
        read201(0, p201(pid=50, purpose="ChargingStationExternalConstraints")), source="EMS")
    for evse, d in ((0, p201(pid=1, purpose="ChargingStationMaxProfile")),
                    (0, p201(pid=2, stack=1)), (1, p201(pid=3, stack=2)),
                    (2, p201(pid=4, stack=2)), (1, p201(pid=5, purpose="TxProfile",
                                                        transactionId="t1"))):
        assert store.install(read201(evse, d), state) is None
    assert store.install(ext, state, from_csms=False) is None
    return store


def test_tc_067_k10_clear_by_id_ignores_the_criteria():
    store = _filled_store()
    assert store.clear(profile_id=3, evse_id=2) == [3]
    assert store.clear(profile_id=3) == []  # gone: Unknown


def test_k10_clear_by_criteria_all_must_match():
    store = _filled_store()
    assert store.clear(evse_id=1, purpose=TX_DEFAULT) == [3]
    assert store.clear(stack_level=2) == [4]
    assert sorted(store.clear(evse_id=0)) == [1, 2]  # not the external constraint
    assert store.clear(purpose=TX) == [5]
    assert store.clear() == []  # only the external constraint is left
    assert [p.id for p in store] == [50]
    assert store.clear(purpose=EXTERNAL, from_csms=False) == [50]


def test_k10_clear_everything_and_never_external_constraints_from_the_csms():
    store = _filled_store()
    assert sorted(store.clear()) == [1, 2, 3, 4, 5]
    assert store.clear(profile_id=50) == []


def test_k09_get_charging_profiles_filters():
    store = _filled_store()
    assert sorted(p.id for p in store.query()) == [1, 2, 3, 4, 5, 50]
    assert sorted(p.id for p in store.query(evse_id=0)) == [1, 2, 50]  # K09.FR.05
    assert sorted(p.id for p in store.query(evse_id=1)) == [3, 5]  # K09.FR.04
    assert [p.id for p in store.query(purpose=TX_DEFAULT, stack_level=2, evse_id=2)] == [4]
    assert sorted(p.id for p in store.query(ids=[1, 4, 99])) == [1, 4]
    assert [p.id for p in store.query(sources=["CSO"], purpose=STATION_MAX)] == [1]
    assert [p.id for p in store.query(sources=["EMS", "SO"])] == [50]


def test_end_transaction_removes_its_tx_profiles_and_bind_names_the_remote_start_one():
    store = ProfileStore()
    p = read16(1, p16(pid=1, purpose="TxProfile", kind="Relative", start=None))
    assert store.install(p, IDLE, remote_start=True) is None
    assert store.bind_transaction(1, 77) == [1]
    assert store.get(1).transaction_id == "77"
    assert store.install(read16(1, p16(pid=2)), IDLE) is None
    assert store.end_transaction(1, 77) == [1]
    assert [q.id for q in store] == [2]


def test_purge_expired_drops_what_can_never_apply_again():
    store = ProfileStore()
    for d, c in ((p16(pid=1, validTo="2026-01-05T01:00:00Z"), 1),
                 (p16(pid=2, schedule={"duration": 600}), 2), (p16(pid=3, stack=1), 1)):
        assert store.install(read16(c, d), IDLE) is None
    assert store.purge_expired(T0 + 599) == []
    assert store.purge_expired(T0 + 600) == [2]
    assert store.purge_expired(T0 + 3600) == [1]
    assert [p.id for p in store] == [3]
