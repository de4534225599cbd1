"""The composite pushed to the firmware as a SCHEDULE (protocols/LINK.md §4 0x21:
start_unix_s, duration_s, repeat_s, at most 28 (start_offset_s, limit_ma) periods,
LIMIT_NONE = unconstrained) and the station limit shared between EVSEs (issue 6:
site load management; DESIGN §5: never an offer under 6 A, pause instead)."""

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from gateway.smart.composite import composite_schedule
from gateway.smart.profiles import (
    ABSOLUTE,
    DAILY,
    RECURRING,
    STATION_MAX,
    TX,
    TX_DEFAULT,
    ChargingProfile,
    Period,
    Schedule,
    Transaction,
    parse_time,
)
from gateway.smart.to_link import (
    LINK_MAX_PERIODS,
    EvseInfo,
    SiteEvse,
    link_schedule,
    ma_periods,
    plan,
    share_at,
    share_site,
)
from protocols import link
from protocols import link_messages as lm

T0 = parse_time("2026-01-05T00:00:00Z")
H = 3600
NONE = lm.LIMIT_NONE


def prof(pid, purpose, periods, stack=0, evse=None, kind=ABSOLUTE, start=T0, duration=None,
         recurrency=None, unit="A", valid_to=None, tx=None):
    evse = (0 if purpose == STATION_MAX else 1) if evse is None else evse
    ps = tuple(Period(s, Fraction(str(v))) for s, v in periods)
    return ChargingProfile(pid, stack, purpose, kind, Schedule(unit, ps, start, duration), evse,
                           recurrency, None, valid_to, tx)


def test_no_profile_gives_one_unconstrained_period():
    s = plan([], [EvseInfo(1)], T0).schedules[1]
    assert s.periods == ((0, NONE),) and s.repeat_s == 0 and s.duration_s == 0
    assert s.next_change_s is None


def test_periods_are_integer_milliamps_rounded_down():
    c = composite_schedule([prof(1, TX_DEFAULT, [(0, 10000)], unit="W")], 1, T0, H)
    assert ma_periods(c) == [(0, 14492)]  # 10000 / 690 = 14.4927… A
    s = link_schedule(T0, ma_periods(c))
    assert s.periods == ((0, 14492),) and all(isinstance(v, int) for _, v in s.periods)


def test_limits_at_or_above_the_evse_rating_or_80_a_are_limit_none():
    periods = [(0, 16000), (60, 32000), (120, 90000), (180, None), (240, 0)]
    s = link_schedule(T0, periods, max_current_ma=32000)
    assert s.periods == ((0, 16000), (60, NONE), (240, 0))
    assert link_schedule(T0, periods).periods == (
        (0, 16000), (60, 32000), (120, NONE), (240, 0))


def test_at_most_28_periods_and_the_last_one_never_offers_more_than_the_rest():
    periods = [(i * 60, 6000 + (i % 7) * 1000) for i in range(40)]
    s = link_schedule(T0, periods)
    assert len(s.periods) == LINK_MAX_PERIODS
    assert s.periods[:27] == tuple(periods[:27])
    assert s.periods[27] == (27 * 60, min(v for _, v in periods[27:]))
    for off in range(0, 40 * 60, 30):
        fw = s.limit_ma_at(T0 + off)
        assert fw <= dict(periods)[off // 60 * 60]  # never above the composite
    assert len(link_schedule(T0, periods, max_periods=24).periods) == 24


def test_only_the_horizon_is_sent_and_the_last_period_lasts():
    periods = [(0, 10000), (H, 16000), (30 * H, 6000)]
    s = link_schedule(T0, periods, horizon_s=24 * H)
    assert s.periods == ((0, 10000), (H, 16000)) and s.duration_s == 0
    assert s.limit_ma_at(T0 + 40 * H) == 16000
    assert s.next_change_s == T0 + H


def test_schedule_fields_encode_as_a_link_schedule_message():
    s = plan([prof(1, TX_DEFAULT, [(0, 16), (H, 6)])], [EvseInfo(1)], T0).schedules[1]
    payload = link.encode(lm.SCHEDULE, s.fields(lm.SRC_CSMS, 43), tag=6)
    status, mtype, tag, fields = link.decode(payload)
    assert (status, mtype, tag) == (lm.OK, lm.SCHEDULE, 6)
    assert fields["start_unix_s"] == T0 and fields["generation"] == 43
    assert [tuple(p) for p in fields["periods"]] == [(0, 16000), (H, 6000)]


def test_recurring_daily_is_sent_once_with_repeat_s_when_the_firmware_takes_it():
    """LINK.md: repeat_s 86400 restarts the periods every day from start: the
    firmware keeps the UK off-peak pattern offline for days."""
    daily = prof(1, TX_DEFAULT, [(0, 6), (8 * H, 32)], kind=RECURRING, recurrency=DAILY,
                 duration=16 * H)
    now = T0 + 10 * H
    s = plan([daily], [EvseInfo(1)], now, allow_repeat=True).schedules[1]
    assert s.repeat_s == 86400
    assert s.periods == ((0, 32000), (6 * H, NONE), (14 * H, 6000), (22 * H, 32000))
    for day in range(5):
        for hour in (1, 9, 17, 23):
            t = T0 + day * 86400 + hour * H
            if t >= now:
                expect = 6000 if hour < 8 else 32000 if hour < 16 else NONE
                assert s.limit_ma_at(t) == expect, (day, hour)
    # without repeat_s (the firmware of today answers ST_UNSUPPORTED): a 24 h horizon
    plain = plan([daily], [EvseInfo(1)], now).schedules[1]
    assert plain.repeat_s == 0 and plain.periods[-1] == (22 * H, 32000)


def test_no_repeat_while_a_one_off_change_is_ahead():
    daily = prof(1, TX_DEFAULT, [(0, 6)], kind=RECURRING, recurrency=DAILY, duration=H,
                 valid_to=T0 + 3 * 86400)
    s = plan([daily], [EvseInfo(1)], T0, allow_repeat=True).schedules[1]
    assert s.repeat_s == 0


def test_site_two_evses_share_the_station_limit_equally():
    cap = prof(1, STATION_MAX, [(0, 32)])
    both = [EvseInfo(1, transaction=Transaction("a", T0 - 60)),
            EvseInfo(2, transaction=Transaction("b", T0 - 30))]
    got = plan([cap], both, T0).schedules
    assert got[1].periods == ((0, 16000),) and got[2].periods == ((0, 16000),)


def test_site_one_charging_evse_gets_it_all_and_the_idle_one_the_rest():
    cap = prof(1, STATION_MAX, [(0, 32)])
    evses = [EvseInfo(1, transaction=Transaction("a", T0)), EvseInfo(2)]
    got = plan([cap], evses, T0).schedules
    assert got[1].periods == ((0, 32000),) and got[2].periods == ((0, 0),)
    # its own TxProfile holds it at 10 A: the idle EVSE can use the other 22 A
    txp = prof(2, TX, [(0, 10)], tx="a")
    got = plan([cap, txp], evses, T0).schedules
    assert got[1].periods == ((0, 10000),) and got[2].periods == ((0, 22000),)


def test_site_never_below_6_a_per_charging_evse_pause_instead():
    evses = [SiteEvse(1, ((0, None),), True, since_s=20), SiteEvse(2, ((0, None),), True,
                                                                 since_s=10)]
    got = share_site([(0, 10000)], evses)
    assert got == {2: [(0, 10000)], 1: [(0, 0)]}  # the earlier session keeps charging
    got = share_site([(0, 13001)], evses)
    assert got == {2: [(0, 6501)], 1: [(0, 6500)]}  # the odd mA to the first in order


def test_site_limit_changing_over_time_and_an_own_cap_under_6_a():
    a = SiteEvse(1, ((0, None),), True)
    b = SiteEvse(2, ((0, 5000), (H, None)), True)
    got = share_site([(0, 20000), (2 * H, None)], [a, b])
    assert got[1] == [(0, 20000), (H, 10000), (2 * H, None)]
    assert got[2] == [(0, 0), (H, 10000), (2 * H, None)]


def test_site_idle_reserve():
    caps = [(SiteEvse(1, (), True), None), (SiteEvse(2, (), False), None)]
    assert share_at(32000, caps) == {1: 32000, 2: 0}
    assert share_at(32000, caps, idle_reserve_ma=6000) == {1: 26000, 2: 6000}
    assert share_at(10000, caps, idle_reserve_ma=6000) == {1: 10000, 2: 0}


def test_site_with_nobody_charging_shares_between_the_idle_evses():
    caps = [(SiteEvse(i, (), False, max_current_ma=16000), None) for i in (1, 2, 3)]
    assert share_at(40000, caps) == {1: 13334, 2: 13333, 3: 13333}
    assert share_at(60000, caps) == {1: 16000, 2: 16000, 3: 16000}  # hardware ratings


@given(st.one_of(st.none(), st.integers(0, 200000)),
       st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 80000)), st.booleans(),
                          st.one_of(st.none(), st.integers(6000, 80000)),
                          st.integers(0, 10)), min_size=1, max_size=8),
       st.sampled_from([0, 6000, 10000]))
def test_site_shares_never_exceed_the_limit_nor_each_own_composite(limit, rows, reserve):
    caps = [(SiteEvse(i + 1, (), act, max_current_ma=hw, since_s=since), cap)
            for i, (cap, act, hw, since) in enumerate(rows)]
    got = share_at(limit, caps, idle_reserve_ma=reserve)
    if limit is None:
        assert got == {e.evse_id: cap for e, cap in caps}
        return
    assert sum(got.values()) <= limit
    for e, cap in caps:
        v = got[e.evse_id]
        assert v == 0 or v >= 6000  # never an illegal offer under 6 A
        for bound in (cap, e.max_current_ma):
            assert bound is None or v <= bound
    # nothing is wasted while a charging EVSE could take more
    if limit - sum(got.values()) >= 1:
        for e, cap in caps:
            own = min(x for x in (cap, e.max_current_ma, limit) if x is not None)
            if e.active and got[e.evse_id]:
                assert got[e.evse_id] == own


def test_plan_recomputes_at_the_next_period_boundary():
    cap = prof(1, STATION_MAX, [(0, 32), (2 * H, 16)])
    dflt = prof(2, TX_DEFAULT, [(0, 10), (H, 20)], evse=2)
    p = plan([cap, dflt], [EvseInfo(1), EvseInfo(2)], T0)
    assert p.next_recompute_s == T0 + H
    assert plan([], [EvseInfo(1)], T0, horizon_s=600).next_recompute_s == T0 + 600


def test_plan_offline_rule_running_transaction_keeps_its_tx_profile():
    """DESIGN §8 offline: keep the TxProfile of a running transaction, else the
    installed max/default profiles; with none, unconstrained."""
    dflt = prof(1, TX_DEFAULT, [(0, 8)], evse=0)
    txp = prof(2, TX, [(0, 20)], tx="t")
    evses = [EvseInfo(1, transaction=Transaction("t", T0)), EvseInfo(2)]
    got = plan([dflt, txp], evses, T0).schedules
    assert got[1].periods == ((0, 20000),) and got[2].periods == ((0, 8000),)
    assert plan([], evses, T0).schedules[2].periods == ((0, NONE),)


def test_single_phase_evse_gets_the_power_limit_on_its_one_phase():
    cap = prof(1, STATION_MAX, [(0, 7360)], unit="W")
    got = plan([cap], [EvseInfo(1, phases=1, transaction=Transaction("x", T0))], T0,
               supply_phases=1).schedules[1]
    assert got.periods == ((0, 32000),)
