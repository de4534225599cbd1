"""Composite schedules -> the firmware's compact SCHEDULE (protocols/LINK.md §4,
0x21), with the station-wide limit shared between EVSEs (site load management).

The firmware follows the pushed schedule on its own while the link or the CSMS
is gone (DESIGN §8 offline rule, UK-7): the schedule is the composite of what
is installed now (the running transaction's TxProfile, else the max / default
profiles, LIMIT_NONE where nothing limits), so it is what OCPP asks offline.

Site sharing policy, in per-phase mA at each instant (`share_at`):
1. No station-wide limit (ChargePointMaxProfile / ChargingStationMaxProfile or
   a station-wide external constraint): every EVSE gets its own composite.
2. Otherwise EVSEs with a transaction are served first, in order of their
   transaction start (then EVSE id): each gets the 6 A minimum while the limit
   allows; one that cannot get it, or whose own composite is under 6 A, gets 0
   (paused, never an illegal offer under 6 A).
3. Idle EVSEs get `idle_reserve_ma` each (0 by default) if it fits.
4. What is left is shared equally between the charging EVSEs, never above an
   EVSE's own composite nor its hardware rating; shares are whole `step_ma`
   blocks (the firmware's current_step_ma, AG-10: it would round a finer share
   down anyway), quantised down, and the blocks that do not divide go to the
   first in order.
5. Anything still left goes to the idle EVSEs the same way (6 A minimum first,
   then equal shares), so an idle EVSE can start at once, even offline.
The shares of all EVSEs never add up to more than the station limit. Currents
on different phases are counted as if on the same phase (conservative).

`raises(old, new, from_s)` says whether a new schedule lets an EVSE offer more
than the one it holds: the gateway pushes the lowering schedules first and the
raising ones only once those were taken, so the sum of the offers stays under
the station limit while the shares move (charging.py).
"""

import dataclasses
import math

from gateway.smart.composite import composite_schedule, periodicity
from gateway.smart.model import UNIT_A
from protocols.link_messages import LIMIT_NONE

LINK_MAX_PERIODS = 28  # LINK.md §4 SCHEDULE: 0..28 periods
MAX_LIMIT_MA = 80000  # LINK.md: limit_ma 0..80000 or LIMIT_NONE
MIN_CHARGE_MA = 6000  # IEC 61851-1 Annex A minimum offer
DAY_S = 86400


def to_ma(limit_a):
    """A (Fraction) -> int mA rounded down; None (unconstrained) stays None."""
    return None if limit_a is None else max(0, math.floor(limit_a * 1000))


def ma_periods(composite):
    """[(start_offset_s, mA or None)] of a composite in A, equal neighbours merged."""
    if composite.unit != UNIT_A:
        raise ValueError("the link carries per-phase current: compute the composite in A")
    return _merge((p.start_offset_s, to_ma(p.limit)) for p in composite.periods)


def _merge(periods):
    out = []
    for off, v in periods:
        if not out or out[-1][1] != v:
            out.append((off, v))
    return out


def _value_at(periods, off):
    v = periods[0][1]
    for o, x in periods:
        if o > off:
            break
        v = x
    return v


@dataclasses.dataclass(frozen=True)
class LinkSchedule:
    """The body of a SCHEDULE message, less entity and generation."""

    start_unix_s: int
    duration_s: int  # 0: the last period lasts until replaced
    repeat_s: int  # 0 once, 86400 daily, 604800 weekly
    periods: tuple  # ((start_offset_s, limit_ma u32 or LIMIT_NONE), ...), <= 28
    next_change_s: int | None  # when the limit next changes (recompute then), None: never

    def fields(self, entity, generation):
        """The SCHEDULE fields for protocols.link.encode; the caller counts the
        generation per entity (LINK.md §5.2)."""
        return {"entity": entity, "generation": generation, "start_unix_s": self.start_unix_s,
                "duration_s": self.duration_s, "repeat_s": self.repeat_s,
                "periods": [tuple(p) for p in self.periods]}

    def limit_ma_at(self, t):
        """What the firmware follows at unix second t: mA, or LIMIT_NONE."""
        off = t - self.start_unix_s
        if off < 0 or not self.periods or (self.duration_s and off >= self.duration_s):
            return LIMIT_NONE
        if self.repeat_s:
            off %= self.repeat_s
        return _value_at(self.periods, off)


def link_schedule(start_s, periods, horizon_s=DAY_S, max_periods=LINK_MAX_PERIODS, repeat_s=0,
                  max_current_ma=None):
    """One EVSE's [(offset_s, mA or None)] from start_s -> LinkSchedule.
    repeat_s > 0 (the schedule is known to repeat from start_s): one cycle,
    repeated by the firmware, when it fits in max_periods. Else the periods
    starting within horizon_s; the last lasts until the next push. Limits at or
    above max_current_ma (or 80 A) become LIMIT_NONE. Over max_periods, the
    first max_periods - 1 are kept and the last holds the lowest limit of the
    rest, so the firmware never offers more than the composite allows."""
    def lim(v):
        top = MAX_LIMIT_MA if max_current_ma is None else min(max_current_ma, MAX_LIMIT_MA)
        return LIMIT_NONE if v is None or v >= top else v

    cycle = [(o, lim(v)) for o, v in periods if o < repeat_s] if repeat_s else []
    cycle = _merge(cycle)
    if repeat_s and len(cycle) <= max_periods:
        out, repeat = cycle, repeat_s
        nxt = start_s + out[1][0] if len(out) > 1 else None
    else:
        out, repeat = _merge((o, lim(v)) for o, v in periods if o < horizon_s), 0
        nxt = start_s + out[1][0] if len(out) > 1 else None
        if len(out) > max_periods:
            rest = [v for _, v in out[max_periods - 1:]]
            out = out[:max_periods - 1] + [(out[max_periods - 1][0], min(rest))]
            out = _merge(out)
    return LinkSchedule(start_s, 0, repeat, tuple(out), nxt)


# --- site load management --------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SiteEvse:
    evse_id: int
    periods: tuple  # its own composite: ((offset_s, mA or None), ...) from the common start
    active: bool = False  # a transaction runs on it
    max_current_ma: int | None = None  # hardware rating from its HELLO
    since_s: int = 0  # start of its transaction: earlier ones keep charging first


def share_at(limit_ma, caps, min_ma=MIN_CHARGE_MA, idle_reserve_ma=0, step_ma=1):
    """The policy of this module's docstring at one instant. caps: [(SiteEvse,
    own limit mA or None)]. Returns evse_id -> mA (or None when limit_ma is None
    and the EVSE's own composite is unconstrained). With a limit, every share is
    a multiple of step_ma (quantised down); the minimum is min_ma rounded up to
    whole steps."""
    if limit_ma is None:
        return {e.evse_id: cap for e, cap in caps}
    if step_ma < 1:
        raise ValueError("step_ma must be >= 1, got %r" % (step_ma,))
    # the whole policy in units of step_ma: a share is never a fraction of a step
    cap = {}
    for e, c in caps:
        cap[e.evse_id] = min(x for x in (c, e.max_current_ma, limit_ma) if x is not None) // step_ma
    min_u = -(-min_ma // step_ma)
    out = {e.evse_id: 0 for e, _ in caps}
    left = [limit_ma // step_ma]

    def grant_minimum(ids):
        got = []
        for i in ids:
            if cap[i] >= min_u and left[0] >= min_u:
                out[i] = min_u
                left[0] -= min_u
                got.append(i)
        return got

    def fill(ids):
        while left[0] > 0:
            open_ = [i for i in ids if out[i] < cap[i]]
            if not open_:
                return
            each = left[0] // len(open_)
            if each == 0:
                for i in open_[:left[0]]:
                    out[i] += 1
                left[0] = 0
                return
            for i in open_:
                add = min(each, cap[i] - out[i])
                out[i] += add
                left[0] -= add

    actives = [e.evse_id for e, _ in sorted(
        (x for x in caps if x[0].active), key=lambda x: (x[0].since_s, x[0].evse_id))]
    idle = sorted(e.evse_id for e, _ in caps if not e.active)
    charging = grant_minimum(actives)
    reserved = []
    for i in idle:
        r = min(idle_reserve_ma // step_ma, cap[i])
        if r >= min_u and left[0] >= r:
            out[i] = r
            left[0] -= r
            reserved.append(i)
    fill(charging)
    fill(reserved + grant_minimum([i for i in idle if i not in reserved]))
    return {i: v * step_ma for i, v in out.items()}


def share_site(station_periods, evses, min_ma=MIN_CHARGE_MA, idle_reserve_ma=0, step_ma=1):
    """Piecewise share_at over time: station_periods [(offset, mA or None)] (the
    station-wide limit), evses [SiteEvse] on the same start. Returns evse_id ->
    [(offset, mA or None)]."""
    times = sorted({o for o, _ in station_periods}.union(*({o for o, _ in e.periods}
                                                           for e in evses)))
    out = {e.evse_id: [] for e in evses}
    for t in times:
        shares = share_at(_value_at(station_periods, t),
                          [(e, _value_at(e.periods, t)) for e in evses], min_ma, idle_reserve_ma,
                          step_ma)
        for i, v in shares.items():
            out[i].append((t, v))
    return {i: _merge(p) for i, p in out.items()}


# --- the whole station -------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class EvseInfo:
    evse_id: int
    phases: int = 3  # wired phases (HELLO)
    max_current_ma: int | None = None  # hardware rating (HELLO)
    transaction: object = None  # rules.Transaction running on it, or None


@dataclasses.dataclass(frozen=True)
class Plan:
    schedules: dict  # evse_id -> LinkSchedule to push (SCHEDULE is idempotent: latest wins)
    next_recompute_s: int  # recompute (and push what changed) at this instant at the latest
    site_limited: bool = False  # a station-wide limit is shared within the horizon


def plan(profiles, evses, now_s, horizon_s=DAY_S, voltage_v=230, supply_phases=3,
         max_periods=LINK_MAX_PERIODS, allow_repeat=False, min_ma=MIN_CHARGE_MA,
         idle_reserve_ma=0, step_ma=1):
    """What to push to every EVSE now: each EVSE's composite (A), the station
    limit shared by the site policy (shares in step_ma blocks), mapped to a
    LinkSchedule. allow_repeat: the firmware takes repeat_s (else a horizon_s
    schedule whose last period lasts). Call it on every profile, transaction or
    EVSE change and at next_recompute_s."""
    profiles = list(profiles)
    since, repeat = periodicity(profiles, 0, now_s)
    for e in evses:
        s, r = periodicity(profiles, e.evse_id, now_s, e.transaction)
        repeat = max(repeat, r)
        since = s if since is None else (since if s is None else max(since, s))
    use_repeat = repeat if allow_repeat and repeat and (since is None or since <= now_s) else 0
    span = max(horizon_s, use_repeat)
    station = composite_schedule(profiles, 0, now_s, span, UNIT_A, voltage_v=voltage_v,
                                 phases=supply_phases)
    site = []
    for e in evses:
        txs = {e.evse_id: e.transaction} if e.transaction is not None else {}
        c = composite_schedule(profiles, e.evse_id, now_s, span, UNIT_A, txs,
                               voltage_v=voltage_v, phases=e.phases)
        start = e.transaction.start_s if e.transaction is not None else 0
        site.append(SiteEvse(e.evse_id, tuple(ma_periods(c)), e.transaction is not None,
                             e.max_current_ma, start))
    station_ma = ma_periods(station)
    shared = share_site(station_ma, site, min_ma, idle_reserve_ma, step_ma)
    schedules = {}
    for e in evses:
        schedules[e.evse_id] = link_schedule(now_s, shared[e.evse_id], horizon_s, max_periods,
                                             use_repeat, e.max_current_ma)
    changes = [s.next_change_s for s in schedules.values() if s.next_change_s is not None]
    return Plan(schedules, min(changes + [now_s + horizon_s]),
                any(v is not None for _, v in station_ma))


# --- the order of the pushes ------------------------------------------------------------

def _instants(s, from_s, end_s):
    """Instants in [from_s, end_s) at which what `s` offers may change."""
    out = set()
    if s.repeat_s:
        k = max(0, (from_s - s.start_unix_s) // s.repeat_s)
        while s.start_unix_s + k * s.repeat_s < end_s:
            out.update(s.start_unix_s + k * s.repeat_s + off for off, _ in s.periods)
            k += 1
    else:
        out.update(s.start_unix_s + off for off, _ in s.periods)
    if s.duration_s:
        out.add(s.start_unix_s + s.duration_s)
    return {t for t in out if from_s <= t < end_s}


def raises(old, new, from_s, horizon_s=DAY_S):
    """True when `new` lets the firmware offer more than `old` (the schedule it
    holds; None: unknown) at some instant from from_s on, over horizon_s (a whole
    repeat of either at least). LIMIT_NONE counts as more than any limit."""
    if old is None:
        return True
    end_s = from_s + max(horizon_s, old.repeat_s, new.repeat_s)
    times = {from_s} | _instants(old, from_s, end_s) | _instants(new, from_s, end_s)
    return any(new.limit_ma_at(t) > old.limit_ma_at(t) for t in times)
