# Default no-charge windows (UK-10) and UK local time (GMT/BST) from unix
# seconds, by integer date arithmetic.
import sys

from evse import windows
from evse.windows import UK_PROFILE, Windows
from mpunit import raises

# Known instants (checked against CPython's calendar.timegm when written).
BST_START_2026 = 1774746000  # Sun 29 Mar 2026 01:00:00 UTC
BST_END_2026 = 1792890000  # Sun 25 Oct 2026 01:00:00 UTC
BST_START_2027 = 1806195600  # Sun 28 Mar 2027 01:00:00 UTC
BST_END_2027 = 1824944400  # Sun 31 Oct 2027 01:00:00 UTC
MON_30_MAR_2026 = 1774828800  # Mon 30 Mar 2026 00:00:00 UTC (BST: 01:00 local)
MON_2_NOV_2026 = 1793577600  # Mon 2 Nov 2026 00:00:00 UTC (GMT)
HOUR = 3600
MIN = 60


def test_uk10_days_from_civil_known_dates_and_round_trip():
    assert windows.days_from_civil(1970, 1, 1) == 0
    assert windows.days_from_civil(2000, 3, 1) == 11017
    assert windows.days_from_civil(2026, 3, 29) * 86400 + HOUR == BST_START_2026
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
        d += 1
        y2, m2, d2 = windows.civil_from_days(d)
        assert (y2, m2, d2) > (y, m, dd)
        assert d2 == dd + 1 or (d2 == 1 and (m2 == m + 1 or (m2 == 1 and y2 == y + 1)))
        y, m, dd = y2, m2, d2


def test_uk10_weekday_mask_bit0_is_monday():
    assert windows.weekday(0) == 3  # 1970-01-01 was a Thursday
    assert windows.weekday(MON_30_MAR_2026 // 86400) == 0
    assert windows.weekday(BST_START_2026 // 86400) == 6  # Sunday
    w = Windows([[1, 0, 1440]], 0)  # Mondays only, all day, UTC
    assert w.blocked(MON_30_MAR_2026)
    assert w.local_day == 0
    assert not w.blocked(MON_30_MAR_2026 - 1)  # Sunday 23:59:59
    assert w.blocked(MON_30_MAR_2026 + 86399)
    assert not w.blocked(MON_30_MAR_2026 + 86400)  # Tuesday


def test_uk10_bst_changeover_2026_exact_to_the_second():
    """BST from 01:00 UTC on the last Sunday of March to 01:00 UTC on the
    last Sunday of October."""
    assert windows.bst_start_s(2026) == BST_START_2026
    assert windows.bst_end_s(2026) == BST_END_2026
    assert windows.uk_offset_min(BST_START_2026 - 1) == 0
    assert windows.uk_offset_min(BST_START_2026) == 60
    assert windows.uk_offset_min(BST_END_2026 - 1) == 60
    assert windows.uk_offset_min(BST_END_2026) == 0


def test_uk10_bst_changeover_2027_exact_to_the_second():
    assert windows.bst_start_s(2027) == BST_START_2027
    assert windows.bst_end_s(2027) == BST_END_2027
    assert windows.uk_offset_min(BST_START_2027 - 1) == 0
    assert windows.uk_offset_min(BST_START_2027) == 60
    assert windows.uk_offset_min(BST_END_2027 - 1) == 60
    assert windows.uk_offset_min(BST_END_2027) == 0
    assert windows.uk_offset_min(windows.days_from_civil(2027, 1, 1) * 86400) == 0
    assert windows.uk_offset_min(windows.days_from_civil(2027, 7, 1) * 86400) == 60


def test_uk10_window_follows_the_clock_change_to_the_second():
    """At 01:00:00 UTC on 29 Mar 2026 local time jumps from 01:00 GMT to
    02:00 BST; at 01:00:00 UTC on 25 Oct 2026 from 02:00 BST back to 01:00."""
    w = Windows([[0x7F, 0, 90]], "uk")  # every day 00:00-01:30 local
    assert w.blocked(BST_START_2026 - 1)  # 00:59:59 GMT
    assert w.local_minute == 59
    assert not w.blocked(BST_START_2026)  # 02:00:00 BST
    assert w.local_minute == 120
    assert not w.blocked(BST_END_2026 - 1)  # 01:59:59 BST
    assert w.local_minute == 119
    assert w.blocked(BST_END_2026)  # 01:00:00 GMT
    assert w.local_minute == 60


def test_uk10_weekday_windows_uk_profile_in_bst():
    """UK-10 default: weekdays 08:00-11:00 and 16:00-22:00 local time; in
    BST 08:00 local is 07:00 UTC."""
    w = Windows(UK_PROFILE, "uk")
    mon = MON_30_MAR_2026
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
    mon = MON_2_NOV_2026
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
    fri = MON_2_NOV_2026 + 4 * 86400
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
    assert w.blocked(MON_30_MAR_2026)
    for t in (0, 1, 946684800, 1577836799):  # unset, 1970, ESP32 RTC 2000, 2019
        assert not w.blocked(t)
    assert w.blocked(1577836800)


def test_uk10_off_by_default_and_owner_can_remove_windows():
    w = Windows()
    assert w.windows() == []
    assert not w.blocked(MON_30_MAR_2026 + 8 * HOUR)
    w.configure(UK_PROFILE, "uk")
    assert w.blocked(MON_30_MAR_2026 + 8 * HOUR)
    assert w.windows() == [[0x1F, 480, 660], [0x1F, 960, 1320]]
    w.configure([], "uk")
    assert not w.blocked(MON_30_MAR_2026 + 8 * HOUR)


def test_uk10_fixed_offset_mode():
    w = Windows([[0x7F, 9 * 60, 10 * 60]], 120)  # UTC+2 all days 09:00-10:00
    mon = MON_30_MAR_2026
    assert not w.blocked(mon + 7 * HOUR - 1)
    assert w.blocked(mon + 7 * HOUR)
    assert not w.blocked(mon + 8 * HOUR)
    w.configure([[0x7F, 9 * 60, 10 * 60]], -300)  # UTC-5
    assert w.blocked(mon + 14 * HOUR)
    assert windows.offset_min(BST_START_2026, -300) == -300
    assert windows.offset_min(BST_START_2026, "uk") == 60


def test_uk10_time_going_backwards_is_re_evaluated():
    w = Windows(UK_PROFILE, "uk")
    mon = MON_30_MAR_2026
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
    t0 = MON_30_MAR_2026 + 8 * HOUR
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
