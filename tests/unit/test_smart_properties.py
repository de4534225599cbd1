"""Property tests of the composite schedule (DESIGN §8) against a brute-force
evaluator written from the rules alone: at any instant, the composite limit is
the minimum over purposes of the limit of the highest-stackLevel profile in
force then (TxProfile over TxDefaultProfile), converted to the asked unit; EVSE 0
is the station limits over the sum of its EVSEs. And the firmware, following the
pushed SCHEDULE, offers at every instant what the composite allows."""

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.smart.composite import composite_schedule
from gateway.smart.profiles import (
    ABSOLUTE,
    EXTERNAL,
    RECURRING,
    RELATIVE,
    STATION_MAX,
    TX,
    TX_DEFAULT,
    ChargingProfile,
    Period,
    Schedule,
    Transaction,
)
from gateway.smart.to_link import link_schedule, ma_periods
from protocols import link_messages as lm

T0 = 1767571200  # 2026-01-05T00:00:00Z
DAY = 86400
CYCLE = {"Daily": DAY, "Weekly": 7 * DAY}


# --- brute force: the rules, step by step, no shared code -----------------------------

def bf_period(p, t, anchor):
    if p.valid_from is not None and t < p.valid_from:
        return None
    if p.valid_to is not None and t >= p.valid_to:
        return None
    s = p.schedule
    if p.kind == RELATIVE:
        origin = anchor
    elif p.kind == ABSOLUTE:
        origin = s.start_s
    else:
        cycle = CYCLE[p.recurrency]
        origin = s.start_s
        while origin > t:
            origin -= cycle
        while origin + cycle <= t:
            origin += cycle
    off = t - origin
    if off < 0:
        return None
    end = s.duration_s
    if p.kind == RECURRING:
        end = CYCLE[p.recurrency] if end is None else min(end, CYCLE[p.recurrency])
    if end is not None and off >= end:
        return None
    found = None
    for period in s.periods:
        if period.start_s <= off:
            found = period
    return found


def bf_best(cands, t, anchor):
    live = [(p, bf_period(p, t, anchor)) for p in cands]
    live = [(p, x) for p, x in live if x is not None]
    if not live:
        return None
    top = max(p.stack_level for p, _ in live)
    live = [(p, x) for p, x in live if p.stack_level == top]
    own = [(p, x) for p, x in live if p.evse_id != 0]
    return (own or live)[0]


def bf_limit(profiles, evse, t, tx, window_start, unit, volts, phases):
    anchor = tx.start_s if tx else window_start
    groups = [[p for p in profiles if p.purpose == STATION_MAX and p.evse_id == 0],
              [p for p in profiles if p.purpose == EXTERNAL and p.evse_id in (0, evse)]]
    if evse:
        txp = [p for p in profiles if p.purpose == TX and p.evse_id == evse and tx
               and p.transaction_id in (None, tx.transaction_id)]
        txd = [p for p in profiles if p.purpose == TX_DEFAULT and p.evse_id in (0, evse)]
        groups.append(None if bf_best(txp, t, anchor) is None else txp)
        if groups[-1] is None:
            groups[-1] = txd
    values = []
    used = []
    for g in groups:
        w = bf_best(g, t, anchor)
        if w is None:
            continue
        p, period = w
        n = min(period.number_phases or 3, phases)
        v = period.limit
        if p.schedule.unit == "A" and unit == "W":
            v = v * volts * n
        elif p.schedule.unit == "W" and unit == "A":
            v = v / (volts * n)
        values.append(v)
        used.append(n)
    if not values:
        return None, phases
    return min(values), min(used)


# --- generated stations -------------------------------------------------------------

@st.composite
def profiles(draw):
    out = []
    for pid in range(1, draw(st.integers(0, 7)) + 1):
        purpose = draw(st.sampled_from([STATION_MAX, TX_DEFAULT, TX, EXTERNAL]))
        evse = 0 if purpose == STATION_MAX else draw(st.integers(0 if purpose != TX else 1, 2))
        kinds = [ABSOLUTE, RECURRING] + ([] if purpose == STATION_MAX else [RELATIVE])
        kind = draw(st.sampled_from(kinds))
        starts = sorted(set(draw(st.lists(st.integers(1, 30 * 3600), max_size=4))))
        periods = tuple(
            Period(s, Fraction(draw(st.integers(0, 640)), 10),
                   draw(st.sampled_from([None, 1, 2, 3])))
            for s in [0] + starts)
        unit = draw(st.sampled_from(["A", "W"]))
        if unit == "W":
            periods = tuple(Period(x.start_s, x.limit * 230, x.number_phases) for x in periods)
        start = None if kind == RELATIVE else T0 + draw(st.integers(-10 * DAY, 2 * DAY))
        duration = draw(st.one_of(st.none(), st.none(), st.integers(1, 9 * DAY)))
        recurrency = draw(st.sampled_from(["Daily", "Weekly"])) if kind == RECURRING else None
        vf = draw(st.one_of(st.none(), st.none(), st.integers(T0 - 3 * DAY, T0 + 3 * DAY)))
        vt = draw(st.one_of(st.none(), st.none(), st.integers(1, 5 * DAY)))
        vt = None if vt is None else (vf or T0 - DAY) + vt
        tx = draw(st.sampled_from([None, "t1", "t2"])) if purpose == TX else None
        out.append(ChargingProfile(pid, draw(st.integers(0, 2)), purpose, kind,
                                   Schedule(unit, periods, start, duration), evse, recurrency,
                                   vf, vt, tx))
    return out


transactions = st.dictionaries(
    st.integers(1, 2), st.builds(Transaction, st.sampled_from(["t1", "t2"]),
                                 st.integers(T0 - 2 * DAY, T0 + DAY)), max_size=2)


def probe_times(c, extra):
    times = set(extra)
    for p in c.periods:
        t = c.start_s + p.start_offset_s
        times.update((t - 1, t, t + 1))
    return [t for t in times if c.start_s <= t < c.start_s + c.duration_s]


@settings(max_examples=300)
@given(profiles(), transactions, st.integers(1, 2), st.integers(T0 - DAY, T0 + 2 * DAY),
       st.integers(60, 3 * DAY), st.sampled_from(["A", "W"]), st.sampled_from([1, 3]),
       st.lists(st.integers(0, 3 * DAY), max_size=10))
def test_composite_is_the_min_over_purposes_of_the_top_stack_level(
        profs, txs, evse, start, duration, unit, phases, offsets):
    c = composite_schedule(profs, evse, start, duration, unit, txs, phases=phases)
    assert c.periods[0].start_offset_s == 0
    for a, b in zip(c.periods, c.periods[1:], strict=False):
        assert a.start_offset_s < b.start_offset_s
        assert (a.limit, a.number_phases) != (b.limit, b.number_phases)  # merged
    for t in probe_times(c, [start + o for o in offsets]):
        want = bf_limit(profs, evse, t, txs.get(evse), start, unit, 230, phases)
        assert c.limit_at(t) == want, (t - start, want)


@settings(max_examples=150)
@given(profiles(), transactions, st.integers(T0 - DAY, T0 + DAY), st.integers(60, 2 * DAY),
       st.lists(st.integers(0, 2 * DAY), max_size=6))
def test_evse_0_is_the_station_limits_over_the_sum_of_the_evses(profs, txs, start, duration,
                                                                 offsets):
    c = composite_schedule(profs, 0, start, duration, "A", txs, evse_ids=(1, 2))
    for t in probe_times(c, [start + o for o in offsets]):
        station, n = bf_limit(profs, 0, t, None, start, "A", 230, 3)
        parts = [bf_limit(profs, e, t, txs.get(e), start, "A", 230, 3)[0] for e in (1, 2)]
        total = None if None in parts else sum(parts)
        want = station if total is None else total if station is None else min(station, total)
        assert c.limit_at(t)[0] == want


@settings(max_examples=150)
@given(profiles(), transactions, st.integers(T0 - DAY, T0 + DAY),
       st.sampled_from([None, 16000, 32000]), st.sampled_from([4, 24, 28]),
       st.lists(st.integers(0, DAY - 1), max_size=12))
def test_the_firmware_never_offers_more_than_the_composite(profs, txs, now, hw, max_periods,
                                                           offsets):
    c = composite_schedule(profs, 1, now, DAY, "A", txs)
    s = link_schedule(now, ma_periods(c), DAY, max_periods, 0, hw)
    assert 1 <= len(s.periods) <= max_periods and s.periods[0][0] == 0
    assert all(isinstance(v, int) and (0 <= v <= 80000 or v == lm.LIMIT_NONE)
               for _, v in s.periods)
    exact = len(ma_periods(c)) <= max_periods
    for t in probe_times(c, [now + o for o in offsets]):
        limit = c.limit_at(t)[0]
        fw = s.limit_ma_at(t)
        if limit is None:
            assert fw == lm.LIMIT_NONE or not exact
            continue
        ma = int(limit * 1000)  # floor: limits are >= 0
        if fw != lm.LIMIT_NONE:
            assert fw <= ma
            assert fw == ma or not exact
        else:
            assert hw is not None and ma >= hw or ma >= 80000
