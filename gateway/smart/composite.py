"""The composite schedule of DESIGN §8 (OCPP 1.6 §3.13, 2.0.1 K08), pure.

For an EVSE and a window [start_s, start_s + duration_s):
- per purpose, the profile in force with the highest stackLevel wins at each
  instant (validFrom/validTo honoured; a schedule is in force from its start
  until its duration ends; Recurring Daily/Weekly repeats from startSchedule in
  both directions; Relative counts from the start of the EVSE's transaction, or
  from the window start when there is none). A tie on stackLevel between a
  station-wide (EVSE 0) and an EVSE's own profile goes to the EVSE's (1.6: a
  TxDefaultProfile for a connector replaces the connector-0 one for it);
- a TxProfile in force (for the EVSE's running transaction) overrides the
  TxDefaultProfile; across purposes (station max, external constraints,
  Tx/TxDefault) the minimum wins;
- limits are converted to the asked unit with W = A x V x phases, phases being
  the period's numberPhases (default 3) capped by the EVSE's wired phases; the
  result's numberPhases is the smallest of the periods in force;
- EVSE 0 is the station: min(station max, station-wide external constraints,
  the sum of every EVSE's composite), per phase when in A.
An instant with no profile in force is unconstrained (limit None).
"""

import bisect
import dataclasses
import math
from fractions import Fraction

from gateway.smart.model import (
    EXTERNAL,
    RECURRENCE_S,
    RECURRING,
    RELATIVE,
    STATION_MAX,
    TX,
    TX_DEFAULT,
    UNIT_A,
    format_time,
)

PILOT_MAX_A = 80  # Annex A: the highest current a duty encodes; stands for "unconstrained"


@dataclasses.dataclass(frozen=True)
class CompositePeriod:
    start_offset_s: int  # from the schedule start
    limit: Fraction | None  # in the schedule's unit; None = unconstrained
    number_phases: int


@dataclasses.dataclass(frozen=True)
class CompositeSchedule:
    evse_id: int
    start_s: int
    duration_s: int
    unit: str
    periods: tuple  # of CompositePeriod; the first at offset 0; neighbours differ

    def limit_at(self, t):
        """(limit, number_phases) at instant t (the first / last period outside)."""
        i = bisect.bisect_right([p.start_offset_s for p in self.periods], t - self.start_s) - 1
        p = self.periods[max(i, 0)]
        return p.limit, p.number_phases

    def next_change_s(self, after_s):
        """The first instant > after_s at which the result changes, or None."""
        for p in self.periods:
            if self.start_s + p.start_offset_s > after_s:
                return self.start_s + p.start_offset_s
        return None

    def ocpp_periods(self, default_limit=None):
        """chargingSchedulePeriod dicts, limits rounded down to 0.1 (the 1.6
        schema's multipleOf 0.1); unconstrained periods get default_limit
        (default: 80 A per phase, or its power at 230 V on 3 phases)."""
        if default_limit is None:
            default_limit = PILOT_MAX_A if self.unit == UNIT_A else PILOT_MAX_A * 230 * 3
        out = []
        for p in self.periods:
            limit = Fraction(default_limit) if p.limit is None else p.limit
            value = float(Fraction(math.floor(limit * 10), 10))
            if out and out[-1]["limit"] == value and out[-1]["number_phases"] == p.number_phases:
                continue  # equal after rounding: one period
            out.append({"start_period": p.start_offset_s, "limit": value,
                        "number_phases": p.number_phases})
        return out

    def to_ocpp16(self, default_limit=None):
        """GetCompositeSchedule.conf fields besides status (snake_case)."""
        return {"connector_id": self.evse_id, "schedule_start": format_time(self.start_s),
                "charging_schedule": {"duration": self.duration_s,
                                      "start_schedule": format_time(self.start_s),
                                      "charging_rate_unit": self.unit,
                                      "charging_schedule_period": self.ocpp_periods(default_limit)}}

    def to_ocpp201(self, default_limit=None):
        """GetCompositeScheduleResponse.schedule (CompositeScheduleType, snake_case)."""
        return {"evse_id": self.evse_id, "duration": self.duration_s,
                "schedule_start": format_time(self.start_s), "charging_rate_unit": self.unit,
                "charging_schedule_period": self.ocpp_periods(default_limit)}


# --- one profile -------------------------------------------------------------

def schedule_origin(profile, t, anchor_s):
    """Start of the run of `profile`'s schedule that instant t falls in."""
    s = profile.schedule
    if profile.kind == RELATIVE:
        return anchor_s
    if profile.kind == RECURRING:
        cycle = RECURRENCE_S[profile.recurrency]
        return s.start_s + (t - s.start_s) // cycle * cycle
    return s.start_s


def run_length_s(profile):
    """How long one run lasts: duration (a recurrence at most), None = open."""
    d = profile.schedule.duration_s
    if profile.kind == RECURRING:
        cycle = RECURRENCE_S[profile.recurrency]
        return cycle if d is None else min(d, cycle)
    return d


def period_at(profile, t, anchor_s):
    """The Period of `profile` in force at t, or None (not valid at t, not
    started, or its duration is over). anchor_s: start of a Relative schedule."""
    if profile.valid_from is not None and t < profile.valid_from:
        return None
    if profile.valid_to is not None and t >= profile.valid_to:
        return None
    off = t - schedule_origin(profile, t, anchor_s)
    span = run_length_s(profile)
    if off < 0 or (span is not None and off >= span):
        return None
    periods = profile.schedule.periods
    return periods[bisect.bisect_right([p.start_s for p in periods], off) - 1]


def boundaries(profile, start_s, end_s, anchor_s):
    """Instants in (start_s, end_s) where `profile`'s contribution may change."""
    out = {v for v in (profile.valid_from, profile.valid_to) if v is not None}
    starts = [p.start_s for p in profile.schedule.periods]
    span = run_length_s(profile)
    origin = schedule_origin(profile, start_s, anchor_s)
    if profile.kind == RECURRING:
        cycle = RECURRENCE_S[profile.recurrency]
        while origin < end_s:
            out.update(origin + sp for sp in starts if sp < span)
            out.add(origin + span)
            origin += cycle
    else:
        out.update(origin + sp for sp in starts if span is None or sp < span)
        if span is not None:
            out.add(origin + span)
    return {b for b in out if start_s < b < end_s}


def convert(limit, from_unit, to_unit, voltage_v, phases):
    """A per phase <-> W total: W = A x V x phases."""
    if from_unit == to_unit:
        return limit
    if from_unit == UNIT_A:
        return limit * voltage_v * phases
    return limit / (voltage_v * phases)


# --- per EVSE ------------------------------------------------------------------

@dataclasses.dataclass
class _Context:
    groups: dict  # "max", "external", "tx", "tx_default" -> profiles that may apply
    anchor_s: int  # start of Relative schedules
    phases: int  # wired phases


def _groups(profiles, evse_id, transaction):
    g = {"max": [], "external": [], "tx_default": [], "tx": []}
    for p in profiles:
        if p.purpose == STATION_MAX and p.evse_id == 0:
            g["max"].append(p)
        elif p.purpose == EXTERNAL and p.evse_id in (0, evse_id):
            g["external"].append(p)
        elif evse_id and p.purpose == TX_DEFAULT and p.evse_id in (0, evse_id):
            g["tx_default"].append(p)
        elif (evse_id and p.purpose == TX and p.evse_id == evse_id and transaction is not None
              and p.transaction_id in (None, transaction.transaction_id)):
            g["tx"].append(p)
    return g


def _context(profiles, evse_id, transaction, window_start_s, phases):
    anchor = transaction.start_s if transaction is not None else window_start_s
    return _Context(_groups(profiles, evse_id, transaction), anchor, phases)


def winner(candidates, t, anchor_s):
    """(profile, period) with the highest stackLevel in force at t (EVSE's own on
    a tie with a station-wide one), or None."""
    best = None
    for p in candidates:
        period = period_at(p, t, anchor_s)
        if period is not None:
            key = (p.stack_level, p.evse_id != 0)
            if best is None or key > best[0]:
                best = (key, p, period)
    return None if best is None else (best[1], best[2])


def _limit_at(ctx, t, unit, voltage_v):
    """(limit or None, phases or None) of one context at t."""
    g = ctx.groups
    found = (winner(g["max"], t, ctx.anchor_s), winner(g["external"], t, ctx.anchor_s),
             winner(g["tx"], t, ctx.anchor_s) or winner(g["tx_default"], t, ctx.anchor_s))
    limit = phases = None
    for w in found:
        if w is None:
            continue
        profile, period = w
        n = min(period.phases, ctx.phases)
        v = convert(period.limit, profile.schedule.unit, unit, voltage_v, n)
        limit = v if limit is None else min(limit, v)
        phases = n if phases is None else min(phases, n)
    return limit, phases


def _phases_of(phases, evse_id):
    return phases.get(evse_id, 3) if isinstance(phases, dict) else phases


def composite_schedule(profiles, evse_id, start_s, duration_s, unit=UNIT_A, transactions=None,
                       evse_ids=(), voltage_v=230, phases=3):
    """The composite schedule of `evse_id` over [start_s, start_s + duration_s).
    transactions: evse_id -> Transaction running now; evse_ids: the EVSEs summed
    for EVSE 0 (none: EVSE 0 gives the station-wide limits alone); phases: wired
    phases, an int or evse_id -> int (EVSE 0: the station's supply)."""
    transactions = transactions or {}
    profiles = list(profiles)
    end_s = start_s + duration_s
    station = _context(profiles, evse_id, transactions.get(evse_id),
                       start_s, _phases_of(phases, evse_id))
    parts = []
    if evse_id == 0:
        parts = [_context(profiles, e, transactions.get(e), start_s, _phases_of(phases, e))
                 for e in evse_ids]
    times = {start_s}
    for ctx in [station] + parts:
        for group in ctx.groups.values():
            for p in group:
                times |= boundaries(p, start_s, end_s, ctx.anchor_s)
    periods = []
    for t in sorted(times):
        limit, n = _limit_at(station, t, unit, voltage_v)
        if parts:
            total = Fraction(0)
            for ctx in parts:
                v = _limit_at(ctx, t, unit, voltage_v)[0]
                if v is None:
                    total = None
                    break
                total += v
            if total is not None and (limit is None or total < limit):
                limit = total
        n = n or station.phases
        if periods and periods[-1].limit == limit and periods[-1].number_phases == n:
            continue
        periods.append(CompositePeriod(t - start_s, limit, n))
    return CompositeSchedule(evse_id, start_s, duration_s, unit, tuple(periods))


def periodicity(profiles, evse_id, now_s, transaction=None):
    """(since_s, repeat_s): from since_s on (None: always) the composite of
    evse_id repeats every repeat_s (0: it no longer changes). Every validity
    bound and every Absolute / Relative period start or end is a one-off
    change; Recurring profiles repeat daily or weekly."""
    ctx = _context(profiles, evse_id, transaction, now_s, 3)
    since = None
    repeat = 0
    for group in ctx.groups.values():
        for p in group:
            events = [v for v in (p.valid_from, p.valid_to) if v is not None]
            if p.kind == RECURRING:
                repeat = max(repeat, RECURRENCE_S[p.recurrency])
            else:
                origin = schedule_origin(p, now_s, ctx.anchor_s)
                span = run_length_s(p)
                events += [origin + x.start_s for x in p.schedule.periods
                           if span is None or x.start_s < span]
                if span is not None:
                    events.append(origin + span)
            if events:
                since = max(events) if since is None else max(since, max(events))
    return since, repeat
