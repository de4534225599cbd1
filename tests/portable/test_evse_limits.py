# Limit arbitration (DESIGN section 5): AG-09, AG-10, AG-11, AG-12, T7-MULTI,
# T7-PROFILE, T7-LOG and the Annex A duty rate limit, on virtual time.
import sys

from evse import limits
from evse.limits import (
    SRC_CABLE,
    SRC_CSMS,
    SRC_DNO,
    SRC_FAILSAFE,
    SRC_HARDWARE,
    SRC_HEMS,
    SRC_METER,
    SRC_SCHEDULE,
    SRC_SITE,
    SRC_WINDOW,
    Limits,
)
from evse.windows import EPOCH_UNIX_S
from mpunit import raises

T0_UNIX = 1774832400  # 2026-03-30T01:00:00Z in unix seconds (the link's unit)
T0_WALL = T0_UNIX - EPOCH_UNIX_S  # the same in wall seconds: what Limits takes


def test_ag09_csms_limit_lowers_and_raises_the_offer():
    """AG-09: accept demands to change the charge current."""
    lim = Limits(max_current_ma=32000, site_limit_ma=32000)
    assert lim.offered_ma(0) == 32000
    assert lim.binding_source == SRC_HARDWARE
    assert lim.set(SRC_CSMS, 16000, 0) == limits.R_APPLIED
    assert lim.offered_ma(1) == 16000
    assert lim.binding_source == SRC_CSMS
    lim.set(SRC_CSMS, 20000, 2)
    assert lim.offered_ma(3) == 20000
    assert lim.clear(SRC_CSMS) == limits.R_CLEARED
    assert lim.offered_ma(4) == 32000
    assert lim.limit_ma(SRC_CSMS) == -1


def test_ag09_zero_amps_is_a_pause():
    """0 A is a valid demand: the EVSE pauses (no PWM current offered)."""
    lim = Limits()
    assert lim.set(SRC_HEMS, 0, 0) == limits.R_BELOW_MIN_PAUSED
    assert lim.offered_ma(0) == 0
    assert lim.binding_source == SRC_HEMS


def test_uk8_set_refuses_unknown_source_and_out_of_range_limits():
    lim = Limits()
    for bad in (-1, 80001, 1000000, "16A", None):
        with raises(ValueError):
            lim.set(SRC_CSMS, bad, 0)
        assert lim.rec_reason == limits.R_REFUSED_RANGE
        assert lim.rec_source == SRC_CSMS
    assert lim.limit_ma(SRC_CSMS) == -1
    with raises(ValueError):
        lim.set(SRC_CSMS, 16000, 0, -5)
    assert lim.rec_reason == limits.R_REFUSED_RANGE
    for src in (-1, limits.N_SOURCES, 99, "csms", SRC_SCHEDULE):
        with raises(ValueError):
            lim.set(src, 16000, 0)
        assert lim.rec_reason == limits.R_REFUSED_SOURCE
    with raises(ValueError):
        lim.clear(SRC_HARDWARE)
    with raises(ValueError):
        lim.clear(42)
    assert lim.offered_ma(0) == 32000
    assert lim.set(SRC_CSMS, 80000, 0) == limits.R_CAPPED_BY_HARDWARE


def test_ag10_steps_quantise_down_to_current_step_ma():
    """AG-10: the charge rate moves in managed blocks of current_step_ma."""
    lim = Limits(current_step_ma=1000)
    assert lim.set(SRC_CSMS, 16500, 0) == limits.R_ROUNDED_TO_STEP
    assert lim.rec_applied_ma == 16000
    assert lim.offered_ma(0) == 16000
    assert lim.raw_ma == 16500
    lim.configure(6000, 5000)
    assert lim.offered_ma(0) == 12000
    lim.configure(100, 5000)
    lim.set(SRC_CSMS, 16550, 0)
    assert lim.offered_ma(0) == 16500
    lim.configure(5000, 5000)
    lim.set(SRC_CSMS, 9999, 0)
    assert lim.offered_ma(0) == 0  # 5000 after rounding: below 6 A, pause


def test_ag10_steps_below_6a_pauses_rather_than_illegal_duty():
    """Annex A: minimum offer 6 A; below it the EVSE pauses (steady +12 V)."""
    lim = Limits()
    lim.set(SRC_DNO, 6000, 0)
    assert lim.offered_ma(0) == 6000
    assert lim.set(SRC_DNO, 5999, 0) == limits.R_BELOW_MIN_PAUSED
    assert lim.rec_applied_ma == 0
    assert lim.offered_ma(0) == 0
    assert lim.binding_source == SRC_DNO


def test_configure_refuses_out_of_range_step_and_interval():
    lim = Limits()
    for step, interval in ((99, 5000), (6001, 5000), (1000, -1), (1000, 60001), ("1", 0)):
        with raises(ValueError):
            lim.configure(step, interval)
    assert lim.current_step_ma == 1000 and lim.pwm_min_interval_ms == 5000
    with raises(ValueError):
        Limits(current_step_ma=50)


def test_t7_multi_min_of_entities_and_binding_source():
    """T7-MULTI: control by more than one entity; the minimum wins and the
    binding source is reported."""
    lim = Limits(max_current_ma=32000, site_limit_ma=25000)
    assert lim.offered_ma(0) == 25000 and lim.binding_source == SRC_SITE
    lim.set(SRC_CABLE, 20000, 0)
    assert lim.offered_ma(0) == 20000 and lim.binding_source == SRC_CABLE
    lim.set(SRC_CSMS, 18000, 0)
    lim.set(SRC_HEMS, 14000, 0)
    lim.set(SRC_DNO, 16000, 0)
    assert lim.offered_ma(0) == 14000 and lim.binding_source == SRC_HEMS
    assert lim.set(SRC_CSMS, 17000, 0) == limits.R_CAPPED_BY_HEMS
    assert lim.rec_source == SRC_CSMS and lim.rec_asked_ma == 17000
    assert lim.rec_applied_ma == 14000
    lim.clear(SRC_HEMS)
    assert lim.offered_ma(0) == 16000 and lim.binding_source == SRC_DNO
    lim.set(SRC_METER, 10000, 0)
    assert lim.offered_ma(0) == 10000 and lim.binding_source == SRC_METER
    # a tie keeps the lower-numbered (more physical) source as binding
    lim.clear(SRC_METER)
    lim.set(SRC_CSMS, 16000, 0)
    assert lim.offered_ma(0) == 16000 and lim.binding_source == SRC_CSMS


def test_t7_multi_entity_limit_expires_at_the_exact_ms():
    """A limit set at t for d ms binds for t <= now < t + d and vanishes at t + d."""
    lim = Limits()
    lim.set(SRC_CSMS, 10000, 1000, 60000)
    lim.set(SRC_HEMS, 12000, 1000, 90000)
    assert lim.offered_ma(1000) == 10000
    assert lim.offered_ma(60999) == 10000
    assert lim.take_expired() == 0
    assert lim.offered_ma(61000) == 12000
    assert lim.binding_source == SRC_HEMS
    assert lim.limit_ma(SRC_CSMS) == -1
    assert lim.take_expired() == 1 << SRC_CSMS
    assert lim.take_expired() == 0
    assert lim.offered_ma(90999) == 12000
    assert lim.offered_ma(91000) == 32000
    assert lim.take_expired() == 1 << SRC_HEMS
    # setting again without a duration never expires and replaces the expiry
    lim.set(SRC_DNO, 8000, 100000, 5000)
    lim.set(SRC_DNO, 8000, 100001)
    assert lim.offered_ma(10 ** 9) == 8000


def test_ag12_override_lifts_smart_limits_not_hardware_cable_site():
    """AG-12 / DESIGN section 5: override lifts schedule, entity limits and
    windows, never the hardware, cable or site limit, nor a meter fault."""
    lim = Limits(max_current_ma=32000, site_limit_ma=30000)
    lim.set(SRC_CABLE, 20000, 0)
    for src in (SRC_CSMS, SRC_HEMS, SRC_DNO):
        lim.set(src, 6000, 0)
    lim.set(SRC_WINDOW, 0, 0)
    lim.set_schedule(1, T0_WALL, [(0, 7000)])
    assert lim.offered_ma(0, T0_WALL, False) == 0
    assert lim.offered_ma(0, T0_WALL, True) == 20000
    assert lim.binding_source == SRC_CABLE
    lim.set(SRC_CABLE, 32000, 0)
    assert lim.offered_ma(0, T0_WALL, True) == 30000 and lim.binding_source == SRC_SITE
    lim.set(SRC_SITE, 40000, 0)
    assert lim.offered_ma(0, T0_WALL, True) == 32000 and lim.binding_source == SRC_HARDWARE
    assert lim.set(SRC_HEMS, 8000, 0) == limits.R_LIFTED_BY_OVERRIDE
    lim.set(SRC_METER, 6000, 0)
    assert lim.offered_ma(0, T0_WALL, True) == 6000 and lim.binding_source == SRC_METER
    lim.clear(SRC_METER)
    lim.set(SRC_FAILSAFE, 8000, 0)
    assert lim.offered_ma(0, T0_WALL, True, True) == 8000


def test_ag11_failsafe_binds_only_while_link_lost():
    """AG-11: the failsafe current caps the offer only while the link is lost;
    0 A failsafe = pause on link loss."""
    lim = Limits()
    assert lim.set(SRC_FAILSAFE, 6000, 0) == limits.R_NOT_IN_FORCE
    assert lim.offered_ma(0, 0, False, False) == 32000
    assert lim.offered_ma(0, 0, False, True) == 6000
    assert lim.binding_source == SRC_FAILSAFE
    lim.set(SRC_FAILSAFE, 0, 0)
    assert lim.offered_ma(0, 0, False, True) == 0


def test_uk10_window_source_pauses_until_cleared_or_overridden():
    lim = Limits()
    lim.set(SRC_WINDOW, 0, 0)
    assert lim.offered_ma(0) == 0 and lim.binding_source == SRC_WINDOW
    assert lim.offered_ma(0, 0, True) == 32000
    lim.clear(SRC_WINDOW)
    assert lim.offered_ma(0) == 32000


def test_uk11_dno_active_tells_the_random_delay_rule():
    """A DSR / load-management limit being followed suppresses the delay."""
    lim = Limits()
    lim.offered_ma(0)
    assert not lim.dno_active
    lim.set(SRC_DNO, 20000, 0, 1000)
    lim.offered_ma(999)
    assert lim.dno_active
    lim.offered_ma(999, 0, True)
    assert not lim.dno_active  # lifted by override: not followed
    lim.offered_ma(1000)
    assert not lim.dno_active


def test_annex_a_duty_rate_limit_increase_waits_interval_to_the_ms():
    """Annex A: change the duty at most every 5 s for load-driven changes;
    decreases apply at once."""
    lim = Limits(pwm_min_interval_ms=5000)
    assert lim.update(0) == 32000  # first offer applies at once
    lim.set(SRC_HEMS, 10000, 100)
    assert lim.update(100) == 10000  # decrease: at once
    lim.set(SRC_HEMS, 16000, 200)
    assert lim.update(200) == 10000
    assert lim.target_ma == 16000
    assert lim.update(5099) == 10000
    assert lim.update(5100) == 16000  # 5000 ms after the last change
    lim.set(SRC_HEMS, 8000, 6000)
    assert lim.update(6000) == 8000  # decrease at once, restarts the wait
    lim.clear(SRC_HEMS)
    assert lim.update(10999) == 8000
    assert lim.update(11000) == 32000


def test_annex_a_decreases_apply_at_once_back_to_back():
    lim = Limits(pwm_min_interval_ms=5000)
    lim.update(0)
    for i, ma in enumerate((30000, 25000, 12000, 6000)):
        lim.set(SRC_CSMS, ma, i)
        assert lim.update(i) == ma
    lim.set(SRC_CSMS, 5000, 10)
    assert lim.update(10) == 0
    lim.configure(1000, 0)
    lim.set(SRC_CSMS, 20000, 11)
    assert lim.update(11) == 20000  # interval 0: no rate limit


def test_t7_profile_schedule_generation_idempotent_latest_wins():
    lim = Limits()
    lim.offered_ma(0, T0_WALL)  # set_schedule() records with the last tick's wall time
    assert lim.set_schedule(5, T0_WALL, [(0, 10000)]) == limits.R_APPLIED
    assert lim.rec_source == SRC_SCHEDULE
    assert lim.offered_ma(0, T0_WALL) == 10000
    assert lim.set_schedule(5, T0_WALL, [(0, 6000)]) == limits.R_STALE_IGNORED
    assert lim.set_schedule(4, T0_WALL, [(0, 6000)]) == limits.R_STALE_IGNORED
    assert lim.offered_ma(0, T0_WALL) == 10000 and lim.schedule_generation == 5
    lim.set_schedule(6, T0_WALL, [(0, 12000)])
    assert lim.offered_ma(0, T0_WALL) == 12000
    lim.clear(SRC_SCHEDULE)
    assert lim.offered_ma(0, T0_WALL) == 32000
    assert lim.set_schedule(6, T0_WALL, [(0, 6000)]) == limits.R_STALE_IGNORED
    assert lim.offered_ma(0, T0_WALL) == 32000


def test_t7_profile_schedule_followed_across_period_boundaries():
    """A limit schedule with absolute start times is followed without the
    gateway, on the firmware's own clock (virtual time: 24 h in a loop)."""
    lim = Limits()
    periods = [(0, 16000), (3600, 0), (7200, 32000), (86000, 6000)]
    lim.set_schedule(1, T0_WALL, periods, 86400)
    expect = ((-6, 32000), (-5, 16000), (-1, 16000), (0, 16000), (3599, 16000), (3600, 0),
              (7199, 0), (7200, 32000), (85999, 32000), (86000, 6000), (86399, 6000),
              (86400, 32000), (10 ** 6, 32000))
    for since_t0_s, ma in expect:
        assert lim.offered_ma(0, T0_WALL + since_t0_s) == ma, (since_t0_s, ma)
    # every second of the day in order, then backwards (time re-sync)
    seen = 0
    t = T0_WALL
    while t < T0_WALL + 86400:
        got = lim.offered_ma(0, t)
        seen |= 1 << (got // 1000)
        t += 60
    assert seen == (1 << 16) | 1 | (1 << 32) | (1 << 6)
    assert lim.offered_ma(0, T0_WALL + 100) == 16000
    assert lim.binding_source == SRC_SCHEDULE


def test_t7_profile_schedule_starting_within_the_clock_skew_limits_at_once():
    """The gateway's schedules start at its "now"; the firmware's wall clock may lag it by
    up to SCHEDULE_SKEW_S (5 s), so a schedule starting that soon limits already (its first
    period), never leaving the offer unconstrained at a plug-in right after a push. One
    starting later leaves the offer unconstrained until 5 s before its start."""
    lim = Limits()
    lim.set_schedule(1, T0_WALL + 1, [(0, 10000), (60, 12000)])
    assert lim.offered_ma(0, T0_WALL) == 10000
    assert lim.offered_ma(0, T0_WALL + 1) == 10000
    assert lim.offered_ma(0, T0_WALL + 61) == 12000
    lim.set_schedule(2, T0_WALL + 100, [(0, 8000)])
    assert lim.offered_ma(0, T0_WALL + 50) == 32000
    assert lim.offered_ma(0, T0_WALL + 94) == 32000
    assert lim.offered_ma(0, T0_WALL + 95) == 8000
    assert lim.offered_ma(0, T0_WALL + 100) == 8000


def test_uk11_schedule_rate_change_held_through_the_random_delay():
    """UK-11: when a schedule raises or lowers the rate, the change waits out
    the random delay: the controller holds the old rate, then releases it."""
    lim = Limits()
    lim.set_schedule(1, T0_WALL, [(0, 10000), (600, 20000)])
    assert lim.offered_ma(0, T0_WALL + 599) == 10000
    lim.hold_schedule(10000)
    assert lim.offered_ma(0, T0_WALL + 600) == 10000
    assert lim.schedule_ma == 20000  # the new period is visible to the controller
    assert lim.limit_ma(SRC_SCHEDULE) == 10000
    lim.release_schedule()
    assert lim.offered_ma(0, T0_WALL + 601) == 20000
    lim.hold_schedule(-1)  # no schedule limit before the change: hold "none"
    assert lim.offered_ma(0, T0_WALL + 602) == 32000
    for bad in (-2, 80001, "x"):
        with raises(ValueError):
            lim.hold_schedule(bad)
    lim.release_schedule()
    assert lim.offered_ma(0, T0_WALL + 603) == 20000


def test_t7_profile_schedule_first_period_later_and_open_ended():
    lim = Limits()
    lim.set_schedule(1, T0_WALL, [(600, 8000), (1200, 10000)])
    assert lim.offered_ma(0, T0_WALL + 599) == 32000
    assert lim.offered_ma(0, T0_WALL + 600) == 8000
    assert lim.offered_ma(0, T0_WALL + 10 ** 7) == 10000  # duration 0: last period stays


def test_t7_profile_schedule_with_unknown_wall_time():
    """No valid wall time: the period last found with a valid time holds; a
    schedule never evaluated with a valid time does not limit (UK-7)."""
    lim = Limits()
    lim.set_schedule(1, T0_WALL, [(0, 10000), (60, 20000)])
    assert lim.offered_ma(0, 0) == 32000
    assert lim.offered_ma(0, T0_WALL + 5) == 10000
    assert lim.offered_ma(0, 0) == 10000
    assert lim.offered_ma(0, 946684800 - EPOCH_UNIX_S) == 10000  # ESP32 RTC 2000: unknown
    assert lim.offered_ma(0, -1) == 10000  # 2019-12-31T23:59:59Z: unknown
    assert lim.offered_ma(0, T0_WALL + 60) == 20000


def test_uk8_schedule_refuses_bad_periods_atomically():
    lim = Limits()
    lim.set_schedule(1, T0_WALL, [(0, 10000)])
    bad = (
        [(i * 60, 10000) for i in range(limits.MAX_PERIODS + 1)],
        [(0, 10000), (0, 12000)],
        [(60, 10000), (0, 12000)],
        [(-1, 10000)],
        [(0, 80001)],
        [(0, -1)],
        [(0,)],
        [7],
        "periods",
    )
    for periods in bad:
        with raises(ValueError):
            lim.set_schedule(2, T0_WALL, periods)
        assert lim.rec_reason == limits.R_REFUSED_RANGE
    with raises(ValueError):
        lim.set_schedule(2, -EPOCH_UNIX_S - 5, [(0, 10000)])  # unix -5: before 1970
    with raises(ValueError):
        lim.set_schedule(2, T0_WALL, [(0, 10000), (600, 6000)], 600)
    with raises(ValueError):
        lim.set_schedule(-1, T0_WALL, [(0, 10000)])
    assert lim.schedule_generation == 1
    assert lim.offered_ma(0, T0_WALL) == 10000
    assert lim.set_schedule(2, T0_WALL, [(i * 60, 6000 + i * 1000) for i in range(24)]) == 0
    assert lim.offered_ma(0, T0_WALL + 23 * 60) == 29000


def test_t7_log_records_source_asked_applied_and_reason():
    """T7-LOG: every control request yields (source, asked, applied, reason)."""
    lim = Limits(site_limit_ma=20000)
    lim.offered_ma(0, T0_WALL)
    cases = (
        (SRC_CSMS, 16000, 16000, limits.R_APPLIED),
        (SRC_HEMS, 25000, 16000, limits.R_CAPPED_BY_CSMS),
        (SRC_CSMS, 30000, 20000, limits.R_CAPPED_BY_SITE),
        (SRC_DNO, 12345, 12000, limits.R_ROUNDED_TO_STEP),
        (SRC_DNO, 4000, 0, limits.R_BELOW_MIN_PAUSED),
        (SRC_FAILSAFE, 6000, 0, limits.R_NOT_IN_FORCE),
    )
    for src, asked, applied, reason in cases:
        assert lim.set(src, asked, 0) == reason
        assert (lim.rec_source, lim.rec_asked_ma, lim.rec_applied_ma, lim.rec_reason) == (
            src, asked, applied, reason)
    lim.clear(SRC_DNO)
    assert (lim.rec_source, lim.rec_asked_ma, lim.rec_applied_ma, lim.rec_reason) == (
        SRC_DNO, -1, 20000, limits.R_CLEARED)
    lim.offered_ma(0, T0_WALL, True)
    assert lim.set(SRC_CSMS, 8000, 0) == limits.R_LIFTED_BY_OVERRIDE
    assert lim.rec_applied_ma == 20000
    assert lim.set_schedule(1, T0_WALL + 60, [(0, 8000)]) == limits.R_NOT_IN_FORCE
    assert limits.R_CAPPED_BY_METER - limits.R_CAPPED_BY == SRC_METER
    assert len(limits.SOURCE_NAMES) == limits.N_SOURCES


def test_p3_offered_ma_and_update_allocate_nothing():
    """P3: a steady tick allocates nothing (measured on MicroPython, where
    gc.mem_alloc() exists; CPython checks the same results only)."""
    lim = Limits()
    lim.set(SRC_CSMS, 16000, 0, 10 ** 6)
    lim.set(SRC_FAILSAFE, 6000, 0)
    lim.set_schedule(1, T0_WALL, [(0, 20000), (3600, 10000)])
    lim.offered_ma(0, T0_WALL)
    results = [0, 0]
    t1 = T0_WALL + 1  # wall seconds: small ints on MicroPython until 2054
    t2 = T0_WALL + 2
    mp = sys.implementation.name == "micropython"
    if mp:
        import gc

        gc.collect()
        before = gc.mem_alloc()
    i = 0
    while i < 100:
        results[0] = lim.offered_ma(i, t1)
        results[1] = lim.update(i, t2, False, False)
        i += 1
    if mp:
        allocated = gc.mem_alloc() - before
        assert allocated == 0, allocated
    # CPython has no gc.mem_alloc(): there only the results are checked
    assert results == [16000, 16000]
    assert lim.offered_ma(100, T0_WALL + 3600) == 10000
    assert lim.update(100, 0, False, True) == 6000


def test_t7_profile_schedule_around_the_2020_epoch():
    """Wall seconds are signed: a schedule may start before 2020 (the link's
    start_unix_s is any u32); one that ended before 2020 is not in force."""
    lim = Limits()
    lim.set_schedule(1, -7200, [(0, 10000)], 3600)  # 2019-12-31 22:00-23:00 UTC
    assert lim.offered_ma(0, T0_WALL) == 32000
    assert lim.schedule_ma == -1
    lim.set_schedule(2, -7200, [(0, 10000), (7200 + 60, 12000)])  # open-ended
    assert lim.offered_ma(0, 59) == 10000
    assert lim.offered_ma(0, 60) == 12000
    assert lim.offered_ma(0, T0_WALL) == 12000
    assert lim.set_schedule(3, -EPOCH_UNIX_S, [(0, 8000)]) == limits.R_APPLIED  # unix 0
    assert lim.offered_ma(0, T0_WALL) == 8000


def test_p3_schedule_period_boundary_allocates_nothing():
    """P3: crossing a schedule period boundary looks the period up with
    small-int arithmetic on wall seconds: no allocation on that tick either."""
    lim = Limits(pwm_min_interval_ms=0)
    lim.set_schedule(1, T0_WALL, [(0, 20000), (3600, 10000), (3660, 16000)], 7200)
    lim.update(0, T0_WALL)
    seen = [0, 0, 0]
    t = T0_WALL + 3550
    end = T0_WALL + 3700
    mp = sys.implementation.name == "micropython"
    if mp:
        import gc

        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
    while t < end:  # a lookup a second: two period boundaries
        ma = lim.update(t, t)
        seen[0 if ma == 20000 else 1 if ma == 10000 else 2] += 1
        t += 1
    if mp:
        allocated = gc.mem_alloc() - before
        gc.enable()
        assert allocated == 0, allocated
    assert seen == [50, 60, 40], seen


def test_t7_profile_daily_repeat_followed_offline_for_days():
    """A daily schedule (OCPP Recurring Daily, LINK.md SCHEDULE repeat_s) repeats
    its periods every 86400 s from its start, to the second, without the gateway."""
    lim = Limits()
    day = 86400
    lim.set_schedule(1, T0_WALL, [(0, 10000), (7 * 3600, 16000), (22 * 3600, 32000)],
                     repeat_s=day)
    for d in (0, 1, 5):
        base = T0_WALL + d * day
        assert lim.offered_ma(0, base) == 10000
        assert lim.offered_ma(0, base + 7 * 3600 - 1) == 10000
        assert lim.offered_ma(0, base + 7 * 3600) == 16000
        assert lim.offered_ma(0, base + 22 * 3600) == 32000
        assert lim.offered_ma(0, base + day - 1) == 32000


def test_t7_profile_repeat_ends_with_its_duration_and_refuses_bad_cycles():
    lim = Limits()
    lim.set_schedule(1, T0_WALL, [(0, 10000), (3600, 20000)], duration_s=3 * 7200,
                     repeat_s=7200)
    assert lim.offered_ma(0, T0_WALL + 2 * 7200 + 3600) == 20000
    assert lim.offered_ma(0, T0_WALL + 3 * 7200) == 32000  # ended: hardware only
    with raises(ValueError):
        lim.set_schedule(2, T0_WALL, [(0, 10000), (7200, 20000)], repeat_s=7200)
    with raises(ValueError):
        lim.set_schedule(3, T0_WALL, [(0, 10000)], repeat_s=30)
