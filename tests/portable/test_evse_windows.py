# Default no-charge windows (UK-10) and UK local time (GMT/BST) from wall
# seconds (evse.windows: seconds since 2020-01-01 UTC), by integer date
# arithmetic.
import sys

from evse import windows
from evse.windows import EPOCH_DAYS, EPOCH_UNIX_S, UK_PROFILE, Windows
from mpunit import raises

# Known instants in unix seconds (checked against CPython's calendar.timegm
# when written) ...
BST_START_2026_UNIX = 1774746000  # Sun 29 Mar 2026 01:00:00 UTC
BST_END_2026_UNIX = 1792890000  # Sun 25 Oct 2026 01:00:00 UTC
BST_START_2027_UNIX = 1806195600  # Sun 28 Mar 2027 01:00:00 UTC
BST_END_2027_UNIX = 1824944400  # Sun 31 Oct 2027 01:00:00 UTC
MON_30_MAR_2026_UNIX = 1774828800  # Mon 30 Mar 2026 00:00:00 UTC (BST: 01:00 local)
MON_2_NOV_2026_UNIX = 1793577600  # Mon 2 Nov 2026 00:00:00 UTC (GMT)
# ... and in wall seconds, what the firmware core takes (small ints on boards)
BST_START_2026_WALL = BST_START_2026_UNIX - EPOCH_UNIX_S
BST_END_2026_WALL = BST_END_2026_UNIX - EPOCH_UNIX_S
BST_START_2027_WALL = BST_START_2027_UNIX - EPOCH_UNIX_S
BST_END_2027_WALL = BST_END_2027_UNIX - EPOCH_UNIX_S
MON_30_MAR_2026_WALL = MON_30_MAR_2026_UNIX - EPOCH_UNIX_S
MON_2_NOV_2026_WALL = MON_2_NOV_2026_UNIX - EPOCH_UNIX_S
HOUR = 3600
MIN = 60


def test_uk10_days_from_civil_known_dates_and_round_trip():
    assert windows.days_from_civil(1970, 1, 1) == 0
    assert windows.days_from_civil(2000, 3, 1) == 11017
    assert windows.days_from_civil(2026, 3, 29) * 86400 + HOUR == BST_START_2026_UNIX
    assert windows.days_from_civil(1969, 12, 31) == -1
    assert windows.days_from_civil(2024, 2, 29) + 1 == windows.days_from_civil(2024, 3, 1)
    assert windows.days_from_civil(2100, 3, 1) - windows.days_from_civil(2100, 2, 28) == 1
    assert windows.civil_from_days(0) == (1970, 1, 1)
    assert windows.civil_from_days(-1) == (1969, 12, 31)
    d = windows.days_from_civil(2019, 12, 25)
    end = windows.days_from_civil(2031, 1, 5)
    y, m, dd = windows.civil_from_days(d)
    while d < end:  # every day of 11 years, leap years included
        assert windows.days_from_civil(y, m, dd) == d
        assert windows.year_of_days(d) == y
        d += 1
        y2, m2, d2 = windows.civil_from_days(d)
        assert (y2, m2, d2) > (y, m, dd)
        assert d2 == dd + 1 or (d2 == 1 and (m2 == m + 1 or (m2 == 1 and y2 == y + 1)))
        y, m, dd = y2, m2, d2


def test_uk10_weekday_mask_bit0_is_monday():
    assert windows.weekday(0) == 3  # 1970-01-01 was a Thursday
    assert windows.weekday(MON_30_MAR_2026_UNIX // 86400) == 0  # days since 1970
    assert windows.weekday(BST_START_2026_WALL // 86400 + EPOCH_DAYS) == 6  # Sunday
    w = Windows([[1, 0, 1440]], 0)  # Mondays only, all day, UTC
    assert w.blocked(MON_30_MAR_2026_WALL)
    assert w.local_day == 0
    assert not w.blocked(MON_30_MAR_2026_WALL - 1)  # Sunday 23:59:59
    assert w.blocked(MON_30_MAR_2026_WALL + 86399)
    assert not w.blocked(MON_30_MAR_2026_WALL + 86400)  # Tuesday


def test_uk10_bst_changeover_2026_exact_to_the_second():
    """BST from 01:00 UTC on the last Sunday of March to 01:00 UTC on the
    last Sunday of October."""
    assert windows.bst_start_wall_s(2026) == BST_START_2026_WALL
    assert windows.bst_end_wall_s(2026) == BST_END_2026_WALL
    assert windows.uk_offset_min(BST_START_2026_WALL - 1) == 0
    assert windows.uk_offset_min(BST_START_2026_WALL) == 60
    assert windows.uk_offset_min(BST_END_2026_WALL - 1) == 60
    assert windows.uk_offset_min(BST_END_2026_WALL) == 0


def test_uk10_bst_changeover_2027_exact_to_the_second():
    assert windows.bst_start_wall_s(2027) == BST_START_2027_WALL
    assert windows.bst_end_wall_s(2027) == BST_END_2027_WALL
    assert windows.uk_offset_min(BST_START_2027_WALL - 1) == 0
    assert windows.uk_offset_min(BST_START_2027_WALL) == 60
    assert windows.uk_offset_min(BST_END_2027_WALL - 1) == 60
    assert windows.uk_offset_min(BST_END_2027_WALL) == 0
    jan_1_2027_wall = (windows.days_from_civil(2027, 1, 1) - EPOCH_DAYS) * 86400
    jul_1_2027_wall = (windows.days_from_civil(2027, 7, 1) - EPOCH_DAYS) * 86400
    assert windows.uk_offset_min(jan_1_2027_wall) == 0
    assert windows.uk_offset_min(jul_1_2027_wall) == 60


def test_uk10_bst_last_sunday_01_00_utc_every_year_to_2054():
    """Every change-over while wall seconds are small ints: a Sunday in the
    last week of March / October, at 01:00:00 UTC."""
    year = 2020
    while year <= 2054:
        for wall_s, month in ((windows.bst_start_wall_s(year), 3),
                              (windows.bst_end_wall_s(year), 10)):
            days = wall_s // 86400 + EPOCH_DAYS
            y, m, d = windows.civil_from_days(days)
            assert (y, m) == (year, month) and d >= 25, (year, month, d)
            assert windows.weekday(days) == 6
            assert wall_s % 86400 == HOUR
            assert windows.uk_offset_min(wall_s - 1) == (0 if month == 3 else 60)
            assert windows.uk_offset_min(wall_s) == (60 if month == 3 else 0)
        year += 1


def test_uk10_window_follows_the_clock_change_to_the_second():
    """At 01:00:00 UTC on 29 Mar 2026 local time jumps from 01:00 GMT to
    02:00 BST; at 01:00:00 UTC on 25 Oct 2026 from 02:00 BST back to 01:00."""
    w = Windows([[0x7F, 0, 90]], "uk")  # every day 00:00-01:30 local
    assert w.blocked(BST_START_2026_WALL - 1)  # 00:59:59 GMT
    assert w.local_minute == 59
    assert not w.blocked(BST_START_2026_WALL)  # 02:00:00 BST
    assert w.local_minute == 120
    assert not w.blocked(BST_END_2026_WALL - 1)  # 01:59:59 BST
    assert w.local_minute == 119
    assert w.blocked(BST_END_2026_WALL)  # 01:00:00 GMT
    assert w.local_minute == 60


def test_uk10_weekday_windows_uk_profile_in_bst():
    """UK-10 default: weekdays 08:00-11:00 and 16:00-22:00 local time; in
    BST 08:00 local is 07:00 UTC."""
    w = Windows(UK_PROFILE, "uk")
    mon = MON_30_MAR_2026_WALL
    assert not w.blocked(mon + 7 * HOUR - 1)  # 07:59:59 BST
    assert w.blocked(mon + 7 * HOUR)  # 08:00 BST
    assert w.local_day == 0 and w.local_minute == 480
    assert w.blocked(mon + 10 * HOUR - 1)  # 10:59:59
    assert not w.blocked(mon + 10 * HOUR)  # 11:00: end is exclusive
    assert not w.blocked(mon + 15 * HOUR - 1)
    assert w.blocked(mon + 15 * HOUR)  # 16:00 BST
    assert w.blocked(mon + 21 * HOUR - 1)  # 21:59:59
    assert not w.blocked(mon + 21 * HOUR)  # 22:00


def test_uk10_weekday_windows_uk_profile_in_gmt_and_weekend_free():
    w = Windows(UK_PROFILE, "uk")
    mon = MON_2_NOV_2026_WALL
    assert not w.blocked(mon + 8 * HOUR - 1)
    assert w.blocked(mon + 8 * HOUR)  # 08:00 GMT
    fri = mon + 4 * 86400
    assert w.blocked(fri + 17 * HOUR)
    sat = mon + 5 * 86400
    sun = mon + 6 * 86400
    for t in (sat + 9 * HOUR, sat + 17 * HOUR, sun + 9 * HOUR, sun + 20 * HOUR):
        assert not w.blocked(t)


def test_uk10_window_wrapping_midnight():
    """start > end: from start on a masked day into the next morning."""
    w = Windows([[1 << 4, 22 * 60, 6 * 60]], 0)  # Friday 22:00 -> Saturday 06:00, UTC
    fri = MON_2_NOV_2026_WALL + 4 * 86400
    assert not w.blocked(fri + 22 * HOUR - 1)
    assert w.blocked(fri + 22 * HOUR)
    assert w.blocked(fri + 86400 + 6 * HOUR - 1)  # Saturday 05:59:59
    assert not w.blocked(fri + 86400 + 6 * HOUR)
    assert not w.blocked(fri + 3 * HOUR)  # Friday morning: Thursday is not masked
    assert not w.blocked(fri + 86400 + 23 * HOUR)  # Saturday evening
    assert windows.blocked_at([[1 << 6, 1380, 60]], 0, 30)  # Sunday night into Monday
    assert not windows.blocked_at([[1 << 6, 1380, 60]], 6, 30)


def test_uk10_no_valid_time_never_blocks():
    w = Windows([[0x7F, 0, 1440]], "uk")
    assert w.blocked(MON_30_MAR_2026_WALL)
    # wall seconds <= 0: never synced (0), 1970, an ESP32 RTC at 2000, 2019
    for t in (0, -EPOCH_UNIX_S, 946684800 - EPOCH_UNIX_S, -1):
        assert not w.blocked(t)
    assert w.blocked(1)  # 2020-01-01T00:00:01Z, the first valid wall second


def test_uk10_off_by_default_and_owner_can_remove_windows():
    w = Windows()
    assert w.windows() == []
    assert not w.blocked(MON_30_MAR_2026_WALL + 8 * HOUR)
    w.configure(UK_PROFILE, "uk")
    assert w.blocked(MON_30_MAR_2026_WALL + 8 * HOUR)
    assert w.windows() == [[0x1F, 480, 660], [0x1F, 960, 1320]]
    w.configure([], "uk")
    assert not w.blocked(MON_30_MAR_2026_WALL + 8 * HOUR)


def test_uk10_fixed_offset_mode():
    w = Windows([[0x7F, 9 * 60, 10 * 60]], 120)  # UTC+2 all days 09:00-10:00
    mon = MON_30_MAR_2026_WALL
    assert not w.blocked(mon + 7 * HOUR - 1)
    assert w.blocked(mon + 7 * HOUR)
    assert not w.blocked(mon + 8 * HOUR)
    w.configure([[0x7F, 9 * 60, 10 * 60]], -300)  # UTC-5
    assert w.blocked(mon + 14 * HOUR)
    assert windows.offset_min(BST_START_2026_WALL, -300) == -300
    assert windows.offset_min(BST_START_2026_WALL, "uk") == 60


def test_uk10_time_going_backwards_is_re_evaluated():
    w = Windows(UK_PROFILE, "uk")
    mon = MON_30_MAR_2026_WALL
    assert w.blocked(mon + 7 * HOUR + 30)
    assert not w.blocked(mon + 7 * HOUR - 30)  # a clock re-sync moved time back
    assert w.blocked(mon + 7 * HOUR + 59)


def test_uk8_windows_and_mode_refused_with_a_reason():
    good = [0x1F, 480, 660]
    bad = (
        [good] * 9,
        [[0, 480, 660]],
        [[128, 480, 660]],
        [[1, 480, 480]],
        [[1, -1, 660]],
        [[1, 1440, 60]],
        [[1, 480, 1441]],
        [[1, 480]],
        [[1, "8", 660]],
        [[1, True, 660]],
        [5],
        "08:00-11:00",
        None,
    )
    for ws in bad:
        with raises(ValueError):
            Windows(ws, "uk")
    for mode in ("gmt", -721, 841, None, True):
        with raises(ValueError):
            Windows([], mode)
    w = Windows([good], "uk")
    with raises(ValueError):
        w.configure([good] * 9, "uk")
    assert w.windows() == [good]
    Windows([good] * 8, 840)
    Windows([[1, 0, 1440]], -720)


def test_p3_blocked_steady_tick_allocates_nothing():
    """Within a minute the answer is cached: a steady tick only compares."""
    w = Windows(UK_PROFILE, "uk")
    t0 = MON_30_MAR_2026_WALL + 8 * HOUR
    t1 = t0 + 30
    assert w.blocked(t0)
    results = [0]
    mp = sys.implementation.name == "micropython"
    if mp:
        import gc

        gc.collect()
        before = gc.mem_alloc()
    i = 0
    while i < 100:
        results[0] += w.blocked(t1)
        i += 1
    if mp:
        allocated = gc.mem_alloc() - before
        assert allocated == 0, allocated
    # CPython has no gc.mem_alloc(): there only the results are checked
    assert results[0] == 100


def test_p3_blocked_minute_recompute_allocates_nothing():
    """The once-a-minute recompute is small-int arithmetic on wall seconds:
    no allocation either, across the BST change, midnight and a new year."""
    w = Windows([[0x7F, 0, 90]], "uk")  # every day 00:00-01:30 local
    new_year_2027_wall = (windows.days_from_civil(2027, 1, 1) - EPOCH_DAYS) * 86400
    starts = (BST_START_2026_WALL - HOUR, BST_END_2026_WALL - HOUR, new_year_2027_wall - HOUR)
    w.blocked(starts[0] - 60)  # the first call's work, outside the measurement
    counts = [0, 0, 0]
    mp = sys.implementation.name == "micropython"
    if mp:
        import gc

        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
    k = 0
    while k < 3:
        t = starts[k]
        end = t + 2 * HOUR
        while t < end:  # one call a minute: every call recomputes
            counts[k] += w.blocked(t)
            t += 60
        k += 1
    if mp:
        allocated = gc.mem_alloc() - before
        gc.enable()
        assert allocated == 0, allocated
    # 00:00-00:59 GMT blocked, then 02:00 BST: 60 minutes; 01:00-01:29 BST,
    # and after the change back 01:00-01:29 GMT again: 30 + 30 minutes; from
    # 23:00 GMT on New Year's Eve, 00:00-00:59: 60 minutes.
    assert counts == [60, 60, 60], counts
