"""Known-answer composite schedules (DESIGN §8; OCPP 1.6 §3.13 / GetCompositeSchedule
TC_066; 2.0.1 K08): stacking (TC_072), the minimum across purposes, TxProfile over
TxDefaultProfile (TC_056, TC_057, TC_082), Recurring Daily across midnight and
Weekly, Relative to the transaction start, validFrom/validTo, the end of a
duration, A <-> W with 1 and 3 phases, merged periods, EVSE 0."""

from fractions import Fraction

from ocpp.charge_point import snake_to_camel_case
from ocpp.messages import CallResult, _validate_payload

from gateway.smart.composite import composite_schedule, periodicity
from gateway.smart.profiles import (
    ABSOLUTE,
    DAILY,
    EXTERNAL,
    RECURRING,
    RELATIVE,
    STATION_MAX,
    TX,
    TX_DEFAULT,
    WEEKLY,
    ChargingProfile,
    Period,
    Schedule,
    Transaction,
    parse_time,
)

T0 = parse_time("2026-01-05T00:00:00Z")  # a Monday, midnight UTC
H = 3600
_ids = iter(range(1, 10**6))


def prof(purpose, periods, stack=0, evse=None, kind=ABSOLUTE, start=T0, duration=None, unit="A",
         recurrency=None, valid_from=None, valid_to=None, tx=None):
    """periods: [(start_s, limit) or (start_s, limit, number_phases)]."""
    if evse is None:
        evse = 0 if purpose == STATION_MAX else 1
    ps = tuple(Period(s, Fraction(str(lim)), n[0] if n else None) for s, lim, *n in periods)
    return ChargingProfile(next(_ids), stack, purpose, kind,
                           Schedule(unit, ps, None if kind == RELATIVE else start, duration),
                           evse, recurrency, valid_from, valid_to, tx)


def answer(profiles, start=T0, duration=24 * H, evse=1, unit="A", **kw):
    """[(offset_s, limit as float or None, phases)] of the composite."""
    c = composite_schedule(profiles, evse, start, duration, unit, **kw)
    return [(p.start_offset_s, None if p.limit is None else float(p.limit), p.number_phases)
            for p in c.periods]


def test_no_profile_is_unconstrained():
    assert answer([]) == [(0, None, 3)]
    assert answer([], phases=1) == [(0, None, 1)]


def test_tc_072_stacking_the_highest_stack_level_in_force_wins():
    base = prof(TX_DEFAULT, [(0, 16)], stack=0)
    top = prof(TX_DEFAULT, [(0, 10), (H, 20)], stack=1, duration=2 * H)
    assert answer([base, top]) == [(0, 10, 3), (H, 20, 3), (2 * H, 16, 3)]
    # a higher stack level wins even when it is higher in current
    assert answer([prof(TX_DEFAULT, [(0, 32)], stack=5), base]) == [(0, 32, 3)]


def test_stack_level_before_a_schedule_starts_lower_level_applies():
    base = prof(TX_DEFAULT, [(0, 16)], stack=0)
    later = prof(TX_DEFAULT, [(0, 8)], stack=3, start=T0 + 2 * H)
    assert answer([base, later]) == [(0, 16, 3), (2 * H, 8, 3)]


def test_across_purposes_the_minimum_wins():
    cap = prof(STATION_MAX, [(0, 20), (8 * H, 10)])
    dflt = prof(TX_DEFAULT, [(0, 16), (4 * H, 32)])
    assert answer([cap, dflt]) == [(0, 16, 3), (4 * H, 20, 3), (8 * H, 10, 3)]


def test_station_max_profile_applies_to_every_evse():
    cap = prof(STATION_MAX, [(0, 10)])
    for evse in (1, 2, 3):
        assert answer([cap], evse=evse) == [(0, 10, 3)]


def test_external_constraints_take_part_in_the_minimum():
    ext = prof(EXTERNAL, [(0, 7)], evse=0)
    assert answer([prof(TX_DEFAULT, [(0, 16)]), ext]) == [(0, 7, 3)]


def test_tc_057_tx_profile_overrides_tx_default_during_its_transaction():
    dflt = prof(TX_DEFAULT, [(0, 6)], stack=9)
    txp = prof(TX, [(0, 20)], stack=0, tx="77")
    tx = {1: Transaction("77", T0 - H)}
    assert answer([dflt, txp], transactions=tx) == [(0, 20, 3)]
    assert answer([dflt, txp, prof(STATION_MAX, [(0, 16)])], transactions=tx) == [(0, 16, 3)]
    # not its transaction, or none: the TxDefaultProfile
    assert answer([dflt, txp], transactions={1: Transaction("78", T0)}) == [(0, 6, 3)]
    assert answer([dflt, txp]) == [(0, 6, 3)]
    assert answer([dflt, txp], transactions=tx, evse=2) == [(0, None, 3)]  # both on EVSE 1


def test_tx_profile_that_has_ended_gives_way_to_tx_default():
    dflt = prof(TX_DEFAULT, [(0, 6)])
    txp = prof(TX, [(0, 20)], duration=H, tx="1")
    tx = {1: Transaction("1", T0)}
    assert answer([dflt, txp], transactions=tx) == [(0, 20, 3), (H, 6, 3)]


def test_tc_056_tc_082_tx_default_on_connector_0_applies_to_each_connector():
    dflt = prof(TX_DEFAULT, [(0, 12)], evse=0)
    for evse in (1, 2):
        assert answer([dflt], evse=evse) == [(0, 12, 3)]
    tx = {1: Transaction("5", T0 - 10)}
    assert answer([dflt], transactions=tx) == [(0, 12, 3)]  # TC_082: with a transaction


def test_tx_default_for_a_connector_beats_the_connector_0_one_on_a_tie():
    """1.6: a TxDefaultProfile for a connector replaces the connector-0 one for it."""
    station = prof(TX_DEFAULT, [(0, 12)], evse=0, stack=1)
    own = prof(TX_DEFAULT, [(0, 20)], evse=1, stack=1)
    assert answer([station, own]) == [(0, 20, 3)]
    assert answer([station, own], evse=2) == [(0, 12, 3)]
    lower_own = prof(TX_DEFAULT, [(0, 20)], evse=1, stack=0)
    assert answer([station, lower_own]) == [(0, 12, 3)]


def test_recurring_daily_across_midnight():
    night = prof(TX_DEFAULT, [(0, 32), (4 * H, 16)], kind=RECURRING, recurrency=DAILY,
                 start=T0 - 2 * H, duration=8 * H)  # 22:00 -> 06:00, 16 A from 02:00
    assert answer([night], start=T0 + 20 * H) == [
        (0, None, 3), (2 * H, 32, 3), (6 * H, 16, 3), (10 * H, None, 3)]
    # from 01:00, inside the run that began the evening before
    assert answer([night], start=T0 + H, duration=23 * H) == [
        (0, 32, 3), (H, 16, 3), (5 * H, None, 3), (21 * H, 32, 3)]


def test_recurring_daily_repeats_before_its_start_schedule_too():
    night = prof(TX_DEFAULT, [(0, 10)], kind=RECURRING, recurrency=DAILY,
                 start=T0 + 30 * 86400, duration=H)
    assert answer([night]) == [(0, 10, 3), (H, None, 3)]


def test_recurring_weekly():
    week = prof(TX_DEFAULT, [(0, 32), (5 * 86400, 10)], kind=RECURRING, recurrency=WEEKLY)
    saturday_later = T0 + 2 * 7 * 86400 + 5 * 86400 + 12 * H
    assert answer([week], start=saturday_later, duration=2 * 86400) == [
        (0, 10, 3), (36 * H, 32, 3)]


def test_relative_counts_from_the_transaction_start():
    rel = prof(TX_DEFAULT, [(0, 6), (1800, 16)], kind=RELATIVE)
    tx = {1: Transaction("9", T0 + 600)}
    assert answer([rel], start=T0 + 1000, duration=H, transactions=tx) == [
        (0, 6, 3), (1400, 16, 3)]
    # no transaction: as if one started at the window start
    assert answer([rel], start=T0 + 1000, duration=H) == [(0, 6, 3), (1800, 16, 3)]


def test_relative_tx_profile_with_duration():
    rel = prof(TX, [(0, 10)], kind=RELATIVE, duration=900, tx="9")
    tx = {1: Transaction("9", T0)}
    assert answer([rel], duration=H, transactions=tx) == [(0, 10, 3), (900, None, 3)]


def test_valid_from_and_valid_to_are_honoured():
    base = prof(TX_DEFAULT, [(0, 16)])
    window = prof(TX_DEFAULT, [(0, 6)], stack=1, valid_from=T0 + 100, valid_to=T0 + 200)
    assert answer([base, window]) == [(0, 16, 3), (100, 6, 3), (200, 16, 3)]
    expired = prof(STATION_MAX, [(0, 6)], valid_to=T0)
    assert answer([base, expired]) == [(0, 16, 3)]


def test_duration_ends_a_schedule():
    assert answer([prof(TX_DEFAULT, [(0, 10), (300, 12)], duration=600)]) == [
        (0, 10, 3), (300, 12, 3), (600, None, 3)]


def test_a_period_starting_after_the_duration_never_applies():
    assert answer([prof(TX_DEFAULT, [(0, 10), (900, 12)], duration=600)]) == [
        (0, 10, 3), (600, None, 3)]


def test_watts_to_amps_with_three_and_one_phase():
    """DESIGN §8: A is per phase, W total: A = W / (V x phases); numberPhases
    defaults to 3."""
    assert answer([prof(TX_DEFAULT, [(0, 11040)], unit="W")]) == [(0, 16, 3)]
    assert answer([prof(TX_DEFAULT, [(0, 7360, 1)], unit="W")]) == [(0, 32, 1)]
    # a single-phase EVSE draws the whole power on its one phase
    assert answer([prof(TX_DEFAULT, [(0, 11040)], unit="W")], phases=1) == [(0, 48, 1)]


def test_amps_to_watts_with_three_and_one_phase():
    assert answer([prof(TX_DEFAULT, [(0, 16)])], unit="W") == [(0, 11040, 3)]
    assert answer([prof(TX_DEFAULT, [(0, 16, 1)])], unit="W") == [(0, 3680, 1)]
    assert answer([prof(TX_DEFAULT, [(0, 16)])], unit="W", voltage_v=240) == [(0, 11520, 3)]


def test_mixed_units_compare_in_the_asked_unit():
    cap = prof(STATION_MAX, [(0, 6900)], unit="W")  # 10 A on 3 phases
    assert answer([cap, prof(TX_DEFAULT, [(0, 16)])]) == [(0, 10, 3)]
    assert answer([cap, prof(TX_DEFAULT, [(0, 8)])], unit="W") == [(0, 5520, 3)]


def test_equal_consecutive_periods_are_merged():
    a = prof(TX_DEFAULT, [(0, 16), (H, 10), (2 * H, 10), (3 * H, 16)])
    cap = prof(STATION_MAX, [(0, 10)], duration=H)
    assert answer([a, cap]) == [(0, 10, 3), (3 * H, 16, 3)]


def test_evse_0_is_the_station_the_sum_of_its_evses_under_its_own_limits():
    evse1 = prof(TX_DEFAULT, [(0, 16)], evse=1)
    evse2 = prof(TX_DEFAULT, [(0, 10), (H, 20)], evse=2)
    cap = prof(STATION_MAX, [(0, 32)])
    got = answer([evse1, evse2, cap], evse=0, duration=2 * H, evse_ids=(1, 2))
    assert got == [(0, 26, 3), (H, 32, 3)]
    # an unconstrained EVSE makes the sum unconstrained: only the station limit is left
    assert answer([evse1, cap], evse=0, evse_ids=(1, 2)) == [(0, 32, 3)]
    # without EVSEs, EVSE 0 is the station-wide limits alone
    assert answer([evse1, cap], evse=0) == [(0, 32, 3)]


def test_tc_066_get_composite_schedule_payloads_pass_the_official_schemas():
    profiles = [prof(STATION_MAX, [(0, 6900)], unit="W"), prof(TX_DEFAULT, [(0, 16)]),
                prof(TX_DEFAULT, [(0, 10000)], stack=1, unit="W", valid_from=T0 + H)]
    c = composite_schedule(profiles, 1, T0, 2 * H)
    out16 = c.to_ocpp16()
    # 10000 W / 690 = 14.49… A: rounded down to the schema's 0.1
    assert [p["limit"] for p in out16["charging_schedule"]["charging_schedule_period"]] == [10.0]
    payload = dict(out16, status="Accepted")
    _validate_payload(CallResult("1", snake_to_camel_case(payload), "GetCompositeSchedule"),
                      "1.6")
    alone = composite_schedule(profiles[2:], 1, T0, 2 * H).to_ocpp16()
    limits = [(p["start_period"], p["limit"])
              for p in alone["charging_schedule"]["charging_schedule_period"]]
    assert limits == [(0, 80.0), (H, 14.4)]  # unconstrained shown as the pilot's 80 A
    resp = {"status": "Accepted", "schedule": c.to_ocpp201(default_limit=32)}
    _validate_payload(CallResult("2", snake_to_camel_case(resp), "GetCompositeSchedule"),
                      "2.0.1")
    assert resp["schedule"]["schedule_start"] == "2026-01-05T00:00:00Z"


def test_limit_at_and_next_change():
    c = composite_schedule([prof(TX_DEFAULT, [(0, 10), (H, 16)])], 1, T0, 2 * H)
    assert c.limit_at(T0 + H - 1) == (10, 3) and c.limit_at(T0 + H) == (16, 3)
    assert c.next_change_s(T0) == T0 + H and c.next_change_s(T0 + H) is None


def test_periodicity_marks_when_the_composite_starts_repeating():
    daily = prof(TX_DEFAULT, [(0, 10)], kind=RECURRING, recurrency=DAILY, duration=H)
    weekly = prof(STATION_MAX, [(0, 10)], kind=RECURRING, recurrency=WEEKLY)
    assert periodicity([daily], 1, T0) == (None, 86400)
    assert periodicity([daily, weekly], 1, T0) == (None, 7 * 86400)
    once = prof(TX_DEFAULT, [(0, 10), (H, 12)], stack=1, start=T0 + H)
    assert periodicity([daily, once], 1, T0) == (T0 + 2 * H, 86400)
    bounded = prof(TX_DEFAULT, [(0, 10)], kind=RECURRING, recurrency=DAILY, valid_to=T0 + 5)
    assert periodicity([bounded], 1, T0) == (T0 + 5, 86400)
    assert periodicity([], 1, T0) == (None, 0)
