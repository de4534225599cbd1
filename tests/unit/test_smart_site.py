"""Site load management (issue 6): a station-wide limit (ChargePointMaxProfile on connector 0)
split between several EVSEs in whole current steps (AG-10), never an offer under 6 A
(DESIGN §5: pause instead), recomputed as sessions start and end; and the order of the
pushes (`raises`): a schedule that lowers an offer goes before one that raises another."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.smart.profiles import (
    ABSOLUTE,
    STATION_MAX,
    TX,
    ChargingProfile,
    Period,
    Schedule,
    Transaction,
    parse_time,
)
from gateway.smart.to_link import EvseInfo, LinkSchedule, SiteEvse, plan, raises, share_at
from protocols import link_messages as lm

T0 = parse_time("2026-01-05T00:00:00Z")
NONE = lm.LIMIT_NONE
STEP = 1000  # the firmware's default current_step_ma


def site_max(limit_a, pid=1):
    return ChargingProfile(pid, 0, STATION_MAX, ABSOLUTE,
                           Schedule("A", (Period(0, Fraction(limit_a)),), T0 - 60, None), 0)


def active(i, since_s=0, hw=None):
    return SiteEvse(i, (), True, max_current_ma=hw, since_s=since_s)


def idle(i, hw=None):
    return SiteEvse(i, (), False, max_current_ma=hw)


def test_site_equal_shares_in_whole_steps_quantised_down():
    caps = [(active(1, 1), None), (active(2, 2), None)]
    assert share_at(20000, caps, step_ma=STEP) == {1: 10000, 2: 10000}
    # 15.5 A: 15 whole amps; the amp that does not divide goes to the earlier session
    assert share_at(15500, caps, step_ma=STEP) == {1: 8000, 2: 7000}
    assert share_at(15500, caps) == {1: 7750, 2: 7750}  # step 1 mA: the old split


def test_site_a_share_under_6_a_pauses_that_evse_instead():
    caps = [(active(1, 1), None), (active(2, 2), None), (active(3, 3), None)]
    # 16 A for three: 6 A each does not fit; the latest session pauses (0, x1 steady)
    assert share_at(16000, caps, step_ma=STEP) == {1: 8000, 2: 8000, 3: 0}
    assert share_at(18000, caps, step_ma=STEP) == {1: 6000, 2: 6000, 3: 6000}
    assert share_at(5999, caps[:1], step_ma=STEP) == {1: 0}


def test_site_minimum_is_6_a_rounded_up_to_a_step():
    assert share_at(10000, [(active(1), None)], step_ma=4000) == {1: 8000}
    assert share_at(7000, [(active(1), None)], step_ma=4000) == {1: 0}  # 4 A would be illegal


def test_site_own_composite_and_rating_are_quantised_down_too():
    caps = [(active(1, 1), 10500), (active(2, 2, hw=16000), None)]
    assert share_at(32000, caps, step_ma=STEP) == {1: 10000, 2: 16000}


def test_site_bad_step_is_refused():
    with pytest.raises(ValueError, match="step_ma"):
        share_at(20000, [(active(1), None)], step_ma=0)


@given(st.integers(0, 120000),
       st.lists(st.tuples(st.booleans(), st.one_of(st.none(), st.integers(0, 40000)),
                          st.one_of(st.none(), st.integers(6000, 80000))),
                min_size=1, max_size=6),
       st.sampled_from([100, 500, 1000, 2000]))
def test_site_shares_are_whole_steps_legal_and_within_the_limit(limit, rows, step):
    caps = [(SiteEvse(i + 1, (), act, max_current_ma=hw, since_s=i), cap)
            for i, (act, cap, hw) in enumerate(rows)]
    got = share_at(limit, caps, step_ma=step)
    assert sum(got.values()) <= limit
    for e, cap in caps:
        v = got[e.evse_id]
        assert v % step == 0
        assert v == 0 or v >= 6000
        assert all(b is None or v <= b for b in (cap, e.max_current_ma))
    # no whole step wasted while a charging EVSE could take one more
    left = limit - sum(got.values())
    for e, cap in caps:
        own = min(x for x in (cap, e.max_current_ma, limit) if x is not None) // step * step
        if e.active and got[e.evse_id] and left >= step:
            assert got[e.evse_id] == own


def _shares(profiles, txs, now_s=T0):
    p = plan(profiles, [EvseInfo(i, transaction=txs.get(i)) for i in (1, 2)], now_s,
             step_ma=STEP)
    return {i: s.periods for i, s in p.schedules.items()}, p.site_limited


def test_plan_split_recomputed_as_sessions_start_and_end():
    """20 A for the station: both idle -> 10 A each (ready for a plug-in, even offline);
    one charging -> it gets 20 A; both -> 10 A each; the first ends -> the other 20 A. A
    transaction not numbered by the CSMS yet (id None) counts as charging."""
    cap = [site_max(20)]
    assert _shares(cap, {}) == ({1: ((0, 10000),), 2: ((0, 10000),)}, True)
    one = {1: Transaction(None, T0 - 5)}
    assert _shares(cap, one)[0] == {1: ((0, 20000),), 2: ((0, 0),)}
    both = {1: Transaction("1", T0 - 5), 2: Transaction(None, T0)}
    assert _shares(cap, both)[0] == {1: ((0, 10000),), 2: ((0, 10000),)}
    assert _shares(cap, {2: Transaction("2", T0)})[0] == {1: ((0, 0),), 2: ((0, 20000),)}


def test_plan_without_a_station_limit_is_not_site_limited():
    got, limited = _shares([], {1: Transaction("1", T0)})
    assert got == {1: ((0, NONE),), 2: ((0, NONE),)} and not limited


def test_plan_pending_transaction_follows_its_unnamed_tx_profile():
    """A remote start's TxProfile has no transactionId: it applies to the transaction on its
    EVSE before the CSMS numbered it."""
    txp = ChargingProfile(9, 0, TX, ABSOLUTE,
                          Schedule("A", (Period(0, Fraction(10)),), T0 - 60, None), 1)
    assert _shares([txp], {1: Transaction(None, T0)})[0][1] == ((0, 10000),)
    assert _shares([txp], {})[0][1] == ((0, NONE),)  # no transaction: not in force


def sched(periods, start=T0, repeat_s=0, duration_s=0):
    return LinkSchedule(start, duration_s, repeat_s, tuple(periods), None)


def test_raises_compares_what_the_firmware_may_offer_from_now_on():
    old = sched([(0, 20000)])
    assert not raises(old, sched([(0, 10000)], T0 + 5), T0 + 5)
    assert raises(old, sched([(0, 10000), (60, 32000)], T0 + 5), T0 + 5)  # later rise
    assert raises(old, sched([(0, NONE)], T0 + 5), T0 + 5)  # unconstrained is more
    assert not raises(sched([(0, NONE)]), sched([(0, 32000)]), T0)
    assert raises(None, sched([(0, 0)]), T0)  # unknown: may rise


def test_raises_follows_old_schedules_changes_and_repeats():
    old = sched([(0, 6000), (100, 16000)])  # rises to 16 A at T0 + 100
    new = sched([(0, 10000)], T0 + 10)
    assert raises(old, new, T0 + 10)  # 10 A is more than 6 A now
    assert not raises(sched([(0, 16000), (100, 6000)]), sched([(0, 6000)], T0 + 10),
                      T0 + 10)
    daily_old = sched([(0, 8000), (3600, 16000)], repeat_s=86400)
    daily_new = sched([(0, 8000), (7200, 16000)], repeat_s=86400)
    assert not raises(daily_old, daily_new, T0 + 86400 * 3)
    assert raises(daily_new, daily_old, T0 + 86400 * 3 + 10)  # 1 h earlier at 16 A
