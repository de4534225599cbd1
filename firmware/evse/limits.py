# Limit arbitration: every source of DESIGN section 5 -> one offered current.
# AG-09 (accept demands to change the current), AG-10 (managed blocks),
# AG-12 (override lifts smart limits only), T7-MULTI (several entities),
# T7-PROFILE (the gateway's limit schedule, followed without the gateway),
# T7-LOG (source, asked, applied and reason of every request).
# Pure and allocation-free per tick: offered_ma()/update() touch only ints and
# the arrays made in __init__; set()/set_schedule() are events and may allocate.
# Wall time is in wall seconds (evse.windows: since 2020-01-01 UTC, small
# ints on the boards; <= 0 = unknown); the uplink converts the link's unix
# seconds on receipt.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from array import array

from evse.windows import EPOCH_UNIX_S

# Limit sources (DESIGN section 5), lowest index wins a tie for binding_source.
SRC_HARDWARE = const(0)  # max_current_ma: the EVSE rating
SRC_CABLE = const(1)  # PP resistor or tethered_cable_ma (IEC-PP)
SRC_SITE = const(2)  # site_limit_ma
SRC_SCHEDULE = const(3)  # the gateway's composite schedule, period in force now
SRC_CSMS = const(4)  # OCPP back-end (AG-09)
SRC_HEMS = const(5)  # home / building energy manager (AG-05)
SRC_DNO = const(6)  # DNO / load management / DSR
SRC_FAILSAFE = const(7)  # failsafe_current_ma, in force only while the link is lost (AG-11)
SRC_WINDOW = const(8)  # default no-charge window (UK-10): 0 A while blocked
SRC_METER = const(9)  # meter-fault action (AG-03)
SRC_POWER_QUALITY = const(10)  # power-quality response (T7-PQ, evse/power_quality.py)
N_SOURCES = const(11)
SOURCE_NAMES = ("hardware", "cable", "site", "schedule", "csms", "hems", "dno", "failsafe",
                "window", "meter", "power_quality")

# AG-12 / DESIGN section 5: override lifts the smart limits, never HARDWARE,
# CABLE, SITE, the meter-fault action, the failsafe or the power-quality
# response (a grid limit, like the site limit).
_LIFTED_MASK = const((1 << SRC_SCHEDULE) | (1 << SRC_CSMS) | (1 << SRC_HEMS) | (1 << SRC_DNO)
                     | (1 << SRC_WINDOW))

MIN_OFFER_MA = const(6000)  # Annex A: minimum offer 6 A; below it the EVSE pauses (x1)
MAX_OFFER_MA = const(80000)  # Annex A: 96-97 % duty = 80 A, the highest current a duty encodes
MAX_PERIODS = const(28)  # LINK.md SCHEDULE: at most 28 periods
SCHEDULE_SKEW_S = const(5)  # a schedule starting this soon is in force already

# T7-LOG reason codes (what happened to a request), reported with EV_LIMIT.
R_APPLIED = const(0)  # the asked limit is what the EVSE offers
R_ROUNDED_TO_STEP = const(1)  # binding, offered rounded down to current_step_ma (AG-10)
R_BELOW_MIN_PAUSED = const(2)  # binding but below 6 A after rounding: EVSE pauses
R_LIFTED_BY_OVERRIDE = const(3)  # stored, ignored while the owner overrides (AG-12)
R_NOT_IN_FORCE = const(4)  # stored, not in force now (failsafe with link up, schedule idle)
R_CLEARED = const(5)  # clear(): the source no longer limits
R_REFUSED_RANGE = const(6)  # refused: limit, duration or schedule out of range (UK-8)
R_REFUSED_SOURCE = const(7)  # refused: unknown source or one that cannot be set/cleared
R_STALE_IGNORED = const(8)  # schedule generation not newer than the one held (latest wins)
R_CAPPED_BY = const(16)  # + source: a lower limit from that source binds
R_CAPPED_BY_HARDWARE = const(R_CAPPED_BY + SRC_HARDWARE)
R_CAPPED_BY_CABLE = const(R_CAPPED_BY + SRC_CABLE)
R_CAPPED_BY_SITE = const(R_CAPPED_BY + SRC_SITE)
R_CAPPED_BY_SCHEDULE = const(R_CAPPED_BY + SRC_SCHEDULE)
R_CAPPED_BY_CSMS = const(R_CAPPED_BY + SRC_CSMS)
R_CAPPED_BY_HEMS = const(R_CAPPED_BY + SRC_HEMS)
R_CAPPED_BY_DNO = const(R_CAPPED_BY + SRC_DNO)
R_CAPPED_BY_FAILSAFE = const(R_CAPPED_BY + SRC_FAILSAFE)
R_CAPPED_BY_WINDOW = const(R_CAPPED_BY + SRC_WINDOW)
R_CAPPED_BY_METER = const(R_CAPPED_BY + SRC_METER)
R_CAPPED_BY_POWER_QUALITY = const(R_CAPPED_BY + SRC_POWER_QUALITY)


def _check_ma(limit_ma, what):
    if not isinstance(limit_ma, int) or limit_ma < 0 or limit_ma > MAX_OFFER_MA:
        raise ValueError("%s must be 0..%d mA, got %r" % (what, MAX_OFFER_MA, limit_ma))


class Limits:
    def __init__(self, max_current_ma=32000, site_limit_ma=32000, current_step_ma=1000,
                 pwm_min_interval_ms=5000):
        self._limit_ma = array("i", [-1] * N_SOURCES)  # -1 = no limit from that source
        self._expires_ms = [0] * N_SOURCES  # 0 = never; a list: ticks may exceed 2**31
        self.current_step_ma = 1000
        self.pwm_min_interval_ms = 5000
        self._increase_ok_ms = 0  # an increase may apply from this tick on
        self.configure(current_step_ma, pwm_min_interval_ms)
        # Schedule (T7-PROFILE): periods (start_offset_s, limit_ma) from start_wall_s.
        self._sched_offset_s = array("i", [0] * MAX_PERIODS)
        self._sched_ma = array("i", [0] * MAX_PERIODS)
        self._sched_n = 0
        self._sched_start_s = 0
        self._sched_repeat_s = 0
        self._sched_end_s = None  # None: the last period lasts until replaced
        self.schedule_generation = -1
        self._cache_from_s = 1  # [from, to) in wall s where _cache_ma holds; to -1 = open
        self._cache_to_s = 0
        self._cache_ma = -1
        self._held_ma = -1  # schedule value last found with a valid wall time
        self.schedule_ma = -1  # the schedule's period in force now (-1 none), before any hold
        self.schedule_held = False  # UK-11: a schedule rate change waits out the random delay
        self._hold_ma = -1
        # Arbitration results (read them after offered_ma / update).
        self.target_ma = 0  # offered current after steps and the 6 A rule
        self.raw_ma = 0  # minimum before rounding
        self.binding_source = SRC_HARDWARE
        self.dno_active = False  # a DNO / DSR limit is being followed (UK-11 delay rule)
        self.expired_mask = 0  # bit per source whose limit expired; take_expired() reads it
        self.applied_ma = 0  # what the PWM offers now, after the Annex A rate limit
        self._changed = False
        self._override = False  # context of the last offered_ma(), for set() records
        self._link_lost = False
        self._wall_s = 0  # wall time of the last arbitration, for set() records
        # T7-LOG record of the last set()/clear()/set_schedule().
        self.rec_source = -1
        self.rec_asked_ma = -1
        self.rec_applied_ma = 0
        self.rec_reason = R_APPLIED
        self.set(SRC_HARDWARE, max_current_ma, 0)
        self.set(SRC_SITE, site_limit_ma, 0)

    def configure(self, current_step_ma, pwm_min_interval_ms):
        """AG-10 block size and the Annex A minimum time between duty changes."""
        if not isinstance(current_step_ma, int) or not 100 <= current_step_ma <= 6000:
            raise ValueError("current_step_ma must be 100..6000, got %r" % (current_step_ma,))
        if not isinstance(pwm_min_interval_ms, int) or not 0 <= pwm_min_interval_ms <= 60000:
            raise ValueError("pwm_min_interval_ms must be 0..60000, got %r"
                             % (pwm_min_interval_ms,))
        self.current_step_ma = current_step_ma
        # a pending increase waits the new interval from the last change
        self._increase_ok_ms += pwm_min_interval_ms - self.pwm_min_interval_ms
        self.pwm_min_interval_ms = pwm_min_interval_ms

    # --- requests (events: may allocate) ----------------------------------

    def set(self, source, limit_ma, now_ms, duration_ms=0):
        """AG-09 / T7-MULTI: `source` limits the offer to limit_ma (0 = pause)
        until now_ms + duration_ms (0 = until changed). Returns the reason code;
        rec_* hold the T7-LOG record. ValueError (recorded as R_REFUSED_*) on an
        unknown source, SRC_SCHEDULE (use set_schedule) or an out-of-range value."""
        if not isinstance(source, int) or not 0 <= source < N_SOURCES or source == SRC_SCHEDULE:
            self._record(source, limit_ma, R_REFUSED_SOURCE)
            raise ValueError("unknown or not settable limit source %r" % (source,))
        ok = isinstance(limit_ma, int) and 0 <= limit_ma <= MAX_OFFER_MA
        if not ok or not isinstance(duration_ms, int) or duration_ms < 0:
            self._record(source, limit_ma, R_REFUSED_RANGE)
            _check_ma(limit_ma, SOURCE_NAMES[source] + " limit")
            raise ValueError("duration_ms must be >= 0, got %r" % (duration_ms,))
        self._limit_ma[source] = limit_ma
        self._expires_ms[source] = now_ms + duration_ms if duration_ms else 0
        return self._arbitrated_record(source, limit_ma, now_ms)

    def clear(self, source, now_ms=0):
        """The source no longer limits (SRC_SCHEDULE: drop the schedule, keep
        its generation so older ones stay ignored). HARDWARE cannot be cleared."""
        if not isinstance(source, int) or not 0 < source < N_SOURCES:
            self._record(source, -1, R_REFUSED_SOURCE)
            raise ValueError("unknown or not clearable limit source %r" % (source,))
        self._limit_ma[source] = -1
        self._expires_ms[source] = 0
        if source == SRC_SCHEDULE:
            self._sched_n = 0
            self._held_ma = -1
        self.offered_ma(now_ms, self._wall_s, self._override, self._link_lost)
        return self._record(source, -1, R_CLEARED)

    def set_schedule(self, generation, start_wall_s, periods, duration_s=0, now_ms=0,
                     repeat_s=0):
        """T7-PROFILE: the gateway's compact schedule, periods = ascending
        (start_offset_s, limit_ma) from start_wall_s (wall seconds: the uplink
        converts the link's start_unix_s), at most 28; duration_s 0 =
        the last period lasts until replaced; repeat_s > 0 restarts the periods
        every repeat_s from the start (a daily or weekly OCPP Recurring profile
        followed offline for as long as it lasts). Idempotent, latest wins: a
        generation not newer than the one held is ignored (returns
        R_STALE_IGNORED), so the gateway numbers schedules monotonically."""
        if not isinstance(generation, int) or generation < 0:
            self._record(SRC_SCHEDULE, -1, R_REFUSED_RANGE)
            raise ValueError("schedule generation must be an int >= 0, got %r" % (generation,))
        if generation <= self.schedule_generation:
            return self._record(SRC_SCHEDULE, -1, R_STALE_IGNORED)
        try:
            _check_schedule(start_wall_s, periods, duration_s, repeat_s)
        except ValueError:
            self._record(SRC_SCHEDULE, -1, R_REFUSED_RANGE)
            raise
        i = 0
        for offset_s, limit_ma in periods:
            self._sched_offset_s[i] = offset_s
            self._sched_ma[i] = limit_ma
            i += 1
        self._sched_n = i
        self._sched_start_s = start_wall_s
        self._sched_end_s = start_wall_s + duration_s if duration_s else None
        self._sched_repeat_s = repeat_s
        self.schedule_generation = generation
        self._cache_from_s = 1  # force a lookup
        self._cache_to_s = 0
        self._held_ma = -1
        asked = self._schedule_ma(self._wall_s) if i else -1
        return self._arbitrated_record(SRC_SCHEDULE, asked, now_ms)

    def hold_schedule(self, limit_ma):
        """UK-11: a schedule-driven rate change waits out the random delay.
        While held, SRC_SCHEDULE contributes limit_ma (the rate before the
        change, -1 = none) instead of the period in force; schedule_ma still
        shows the new period, so the controller sees when it changes."""
        if not isinstance(limit_ma, int) or not -1 <= limit_ma <= MAX_OFFER_MA:
            raise ValueError("held schedule limit must be -1..%d mA" % MAX_OFFER_MA)
        self.schedule_held = True
        self._hold_ma = limit_ma

    def release_schedule(self):
        """The delay is over (or cancelled): the period in force applies."""
        self.schedule_held = False

    def limit_ma(self, source):
        """Limit of a source in force at the last arbitration (-1 none), for
        status(); for SRC_SCHEDULE the period (or held value) then in force."""
        return self._limit_ma[source]

    def take_expired(self):
        """Bit mask of sources whose limit expired since the last call (T7-LOG)."""
        mask = self.expired_mask
        self.expired_mask = 0
        return mask

    # --- per tick (no allocation) ------------------------------------------

    def offered_ma(self, now_ms, now_wall_s=0, override=False, link_lost=False):
        """DESIGN section 5: min over every source in force, rounded down to
        current_step_ma (AG-10), 0 below 6 A. Entity limits vanish at their
        expiry instant: a limit set at t for d ms binds for t <= now < t + d.
        now_wall_s: wall seconds (evse.windows), <= 0 unknown."""
        self._override = override
        self._link_lost = link_lost
        self._wall_s = now_wall_s
        lim = self._limit_ma
        exp = self._expires_ms
        sched = self._schedule_ma(now_wall_s) if self._sched_n else -1
        self.schedule_ma = sched
        lim[SRC_SCHEDULE] = self._hold_ma if self.schedule_held else sched
        lifted = _LIFTED_MASK if override else 0
        best = MAX_OFFER_MA
        binding = SRC_HARDWARE
        s = 0
        while s < N_SOURCES:
            v = lim[s]
            if v >= 0:
                e = exp[s]
                if e and now_ms >= e:
                    lim[s] = -1
                    exp[s] = 0
                    self.expired_mask |= 1 << s
                elif v < best and not (lifted >> s) & 1 and (s != SRC_FAILSAFE or link_lost):
                    best = v
                    binding = s
            s += 1
        self.raw_ma = best
        self.binding_source = binding
        self.dno_active = lim[SRC_DNO] >= 0 and not override
        best -= best % self.current_step_ma
        if best < MIN_OFFER_MA:
            best = 0
        self.target_ma = best
        return best

    def update(self, now_ms, now_wall_s=0, override=False, link_lost=False):
        """Move applied_ma towards the arbitrated target. Annex A: the duty
        changes at most every pwm_min_interval_ms for load-driven changes, so
        an increase waits that long after the last change; a decrease applies
        at once (and restarts the wait). Returns applied_ma."""
        target = self.offered_ma(now_ms, now_wall_s, override, link_lost)
        applied = self.applied_ma
        if target < applied or (target > applied and (
                not self._changed or now_ms >= self._increase_ok_ms)):
            self.applied_ma = target
            self._changed = True
            self._increase_ok_ms = now_ms + self.pwm_min_interval_ms
        return self.applied_ma

    def _schedule_ma(self, now_wall_s):
        # The lookup result is cached for the [from, to) span it holds for, so a
        # steady tick only compares; a lookup at a period boundary is small-int
        # arithmetic on wall seconds (no allocation either).
        if now_wall_s <= 0:
            # No valid wall time: keep the period last found with a valid time
            # (the controller's clock runs on ticks once synced, so this is the
            # boot before the first sync). With none, the schedule does not
            # limit, as OCPP charges unconstrained with no usable profile and
            # UK-7 wants charging without a network; hardware, cable, site,
            # DNO and failsafe limits still hold.
            return self._held_ma
        if self._cache_from_s <= now_wall_s and (self._cache_to_s < 0
                                                 or now_wall_s < self._cache_to_s):
            return self._cache_ma
        start = self._sched_start_s
        end = self._sched_end_s
        # The gateway's schedules start at its "now"; this wall clock may lag it by up to
        # SCHEDULE_SKEW_S, and until then the new schedule must already limit (its first
        # period), never leave the offer unconstrained for that instant.
        t = start if start - SCHEDULE_SKEW_S <= now_wall_s < start else now_wall_s
        if t < start:
            ma, lo, hi = -1, 0, start - SCHEDULE_SKEW_S
        elif end is not None and t >= end:
            ma, lo, hi = -1, end, -1
        else:
            off = t - start
            repeat = self._sched_repeat_s
            if repeat:  # the cycle in force: small ints only
                off -= off // repeat * repeat
            cycle = t - off
            n = self._sched_n
            i = 0
            while i < n and self._sched_offset_s[i] <= off:
                i += 1
            if i < n:
                hi = cycle + self._sched_offset_s[i]
            elif repeat:
                hi = cycle + repeat  # the first period of the next cycle
            else:
                hi = -1  # holds until replaced
            if end is not None and (hi < 0 or hi > end):
                hi = end
            if i == 0:  # before the first period (first offset > 0)
                ma, lo = -1, cycle
            else:
                ma, lo = self._sched_ma[i - 1], cycle + self._sched_offset_s[i - 1]
            if lo > now_wall_s:  # within the skew before the start
                lo = now_wall_s
        self._cache_ma = ma
        self._cache_from_s = lo
        self._cache_to_s = hi
        self._held_ma = ma
        return ma

    # --- T7-LOG records ----------------------------------------------------

    def _record(self, source, asked_ma, reason):
        self.rec_source = source if isinstance(source, int) else -1
        self.rec_asked_ma = asked_ma if isinstance(asked_ma, int) else -1
        self.rec_applied_ma = self.target_ma
        self.rec_reason = reason
        return reason

    def _arbitrated_record(self, source, asked_ma, now_ms):
        # Arbitrate with the context (wall time, override, link) of the last tick.
        self.offered_ma(now_ms, self._wall_s, self._override, self._link_lost)
        if asked_ma < 0:
            reason = R_NOT_IN_FORCE
        elif self._override and (_LIFTED_MASK >> source) & 1:
            reason = R_LIFTED_BY_OVERRIDE
        elif source == SRC_FAILSAFE and not self._link_lost:
            reason = R_NOT_IN_FORCE
        elif self.raw_ma < asked_ma:
            reason = R_CAPPED_BY + self.binding_source
        elif self.target_ma == 0:
            reason = R_BELOW_MIN_PAUSED
        elif self.target_ma < asked_ma:
            reason = R_ROUNDED_TO_STEP
        else:
            reason = R_APPLIED
        return self._record(source, asked_ma, reason)


def _check_schedule(start_wall_s, periods, duration_s, repeat_s=0):
    # start: any time from 1970 on (unix seconds >= 0, as the link's u32 allows)
    if not isinstance(start_wall_s, int) or start_wall_s < -EPOCH_UNIX_S:
        raise ValueError("schedule start must be wall seconds >= %d (1970), got %r"
                         % (-EPOCH_UNIX_S, start_wall_s))
    if not isinstance(duration_s, int) or duration_s < 0:
        raise ValueError("schedule duration must be >= 0 s, got %r" % (duration_s,))
    if not isinstance(repeat_s, int) or not (repeat_s == 0 or 60 <= repeat_s <= 604800):
        raise ValueError("schedule repeat must be 0 or 60..604800 s, got %r" % (repeat_s,))
    if not isinstance(periods, (list, tuple)):
        raise ValueError("schedule periods must be a list, got %r" % (periods,))
    if len(periods) > MAX_PERIODS:
        raise ValueError("a schedule has at most %d periods, got %d" % (MAX_PERIODS, len(periods)))
    last = -1
    for period in periods:
        if not isinstance(period, (list, tuple)) or len(period) != 2:
            raise ValueError("a period is (start_offset_s, limit_ma), got %r" % (period,))
        offset_s, limit_ma = period
        if not isinstance(offset_s, int) or offset_s <= last or offset_s > 0x7FFFFFFF:
            raise ValueError("period offsets must ascend from 0, got %r" % (offset_s,))
        if duration_s and offset_s >= duration_s:
            raise ValueError("period at %d s starts after the schedule ends" % offset_s)
        if repeat_s and offset_s >= repeat_s:
            raise ValueError("period at %d s starts after its %d s cycle" % (offset_s, repeat_s))
        _check_ma(limit_ma, "period limit")
        last = offset_s
