# Default no-charge windows (UK-10, SI 2021/1467) in local time, UK local time
# (GMT/BST) by integer date arithmetic (no time module), and the firmware's
# wall time.
#
# Wall time in the firmware core is "wall seconds": seconds since the firmware
# epoch 2020-01-01T00:00:00Z (EPOCH_UNIX_S), not unix seconds. On 32-bit
# MicroPython (ESP32, RP2040) ints of 2**30 and above are heap objects, and
# unix time (~1.8e9) is one: every sum or difference on it would allocate.
# Wall seconds stay small ints until 2**30 - 1 = 2054-01-09T13:37:03Z
# (WALL_SMALL_MAX_S); after that the arithmetic is still exact, it only
# allocates again (DESIGN §7 P3). wall_s <= 0 means "no valid wall time": a
# clock never synced (0) or set before 2020 (1970, an ESP32 RTC at 2000). The
# link keeps unix seconds (protocols/LINK.md): the uplink converts on receipt
# of TIME_SYNC / SCHEDULE, the controller when it stamps an event or reports
# status(). Dates are days since 1970-01-01 (days_from_civil); the day of a
# wall second is wall_s // 86400 + EPOCH_DAYS.
#
# Windows are [weekday_mask, start_min, end_min]: bit 0 of the mask = Monday
# ... bit 6 = Sunday; minutes of the local day, start inclusive, end exclusive
# (end 1440 = midnight). start > end wraps midnight: the window starts on a
# day in the mask and runs into the next morning. The factory setting is
# UK_PROFILE, the regulations' default (weekdays 08:00-11:00, 16:00-22:00).
# With no valid wall time the windows never block (the owner must not be
# stranded by a clock that never synced).
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from array import array

EPOCH_UNIX_S = 1577836800  # 2020-01-01T00:00:00Z; not a const: > 2**30 (a long int on boards)
EPOCH_DAYS = const(18262)  # days from 1970-01-01 to 2020-01-01
WALL_SMALL_MAX_S = const(0x3FFFFFFF)  # the last small-int wall second: 2054-01-09T13:37:03Z
MAX_WINDOWS = const(8)
MINUTES_PER_DAY = const(1440)
_SECONDS_PER_DAY = const(86400)
_BST_CHANGE_S = const(3600)  # GMT/BST change at 01:00 UTC
_WEEKDAYS = const(0x1F)  # Monday..Friday
UK_PROFILE = ((_WEEKDAYS, 8 * 60, 11 * 60), (_WEEKDAYS, 16 * 60, 22 * 60))
MODE_UK = "uk"  # utc_offset_mode: GMT/BST rule; else fixed minutes -720..840


def days_from_civil(year, month, day):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
    algorithm, 400-year eras of 146097 days, year starting 1 March)."""
    if month <= 2:
        year -= 1
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(days):
    """(year, month, day) of days since 1970-01-01; inverse of days_from_civil."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month, day


def year_of_days(days):
    """civil_from_days(days)[0] without building a tuple (no allocation)."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    # months from March: doy >= 306 is January or February of the next year
    return yoe + era * 400 + (1 if doy >= 306 else 0)


def weekday(days):
    """0 = Monday ... 6 = Sunday; 1970-01-01 was a Thursday."""
    return (days + 3) % 7


def last_sunday(year, month):
    """Days since 1970-01-01 of the last Sunday of a month."""
    if month == 12:
        last = days_from_civil(year + 1, 1, 1) - 1
    else:
        last = days_from_civil(year, month + 1, 1) - 1
    return last - (weekday(last) - 6) % 7


def bst_start_wall_s(year):
    """British Summer Time starts 01:00 UTC on the last Sunday of March
    (wall seconds: small-int arithmetic, days are counted from 2020)."""
    return (last_sunday(year, 3) - EPOCH_DAYS) * _SECONDS_PER_DAY + _BST_CHANGE_S


def bst_end_wall_s(year):
    """... and ends 01:00 UTC on the last Sunday of October (wall seconds)."""
    return (last_sunday(year, 10) - EPOCH_DAYS) * _SECONDS_PER_DAY + _BST_CHANGE_S


def uk_offset_min(wall_s):
    """UK local time minus UTC in minutes at wall second wall_s: 60 during
    BST, else 0 (GMT)."""
    year = year_of_days(wall_s // _SECONDS_PER_DAY + EPOCH_DAYS)
    return 60 if bst_start_wall_s(year) <= wall_s < bst_end_wall_s(year) else 0


def check_mode(mode):
    if mode == MODE_UK:
        return mode
    if isinstance(mode, int) and not isinstance(mode, bool) and -720 <= mode <= 840:
        return mode
    raise ValueError('utc_offset_mode must be "uk" or minutes -720..840, got %r' % (mode,))


def offset_min(wall_s, mode):
    """Local time minus UTC in minutes at wall second wall_s for
    utc_offset_mode `mode`."""
    return uk_offset_min(wall_s) if mode == MODE_UK else mode


def check_windows(windows):
    """UK-8: refuse malformed windows with a reason (ValueError)."""
    if not isinstance(windows, (list, tuple)):
        raise ValueError("no_charge_windows must be a list, got %r" % (windows,))
    if len(windows) > MAX_WINDOWS:
        raise ValueError("at most %d no-charge windows, got %d" % (MAX_WINDOWS, len(windows)))
    for w in windows:
        if not isinstance(w, (list, tuple)) or len(w) != 3:
            raise ValueError("a window is [weekday_mask, start_min, end_min], got %r" % (w,))
        mask, start_min, end_min = w
        for v in w:
            if not isinstance(v, int) or isinstance(v, bool):
                raise ValueError("window values must be ints, got %r" % (w,))
        if not 1 <= mask <= 0x7F:
            raise ValueError("weekday_mask must be 1..127 (bit 0 Monday), got %r" % (mask,))
        if not 0 <= start_min < MINUTES_PER_DAY or not 0 <= end_min <= MINUTES_PER_DAY:
            raise ValueError("window minutes must be 0..1439 / 0..1440, got %r" % (w,))
        if start_min == end_min:
            raise ValueError("window start and end are equal (empty or whole day?): %r" % (w,))


def _in_window(mask, start_min, end_min, day, minute):
    if start_min < end_min:
        return (mask >> day) & 1 and start_min <= minute < end_min
    # wraps midnight: the evening part on a masked day, the morning part on
    # the day after a masked day
    return ((mask >> day) & 1 and minute >= start_min) or (
        (mask >> ((day + 6) % 7)) & 1 and minute < end_min)


def blocked_at(windows, day, minute):
    """Is local weekday `day` (0 Monday), minute of day `minute` in a window?"""
    for mask, start_min, end_min in windows:
        if _in_window(mask, start_min, end_min, day, minute):
            return True
    return False


class Windows:
    """blocked(now_wall_s) per tick without allocation: the answer holds for
    the whole UTC minute (BST changes at 01:00:00 UTC, a minute boundary), so
    it is recomputed only when the time leaves that minute, with small-int
    arithmetic on wall seconds (no allocation either); other ticks only
    compare."""

    def __init__(self, windows=(), utc_offset_mode=MODE_UK):
        self._w = array("i", [0] * (3 * MAX_WINDOWS))
        self._n = 0
        self.mode = MODE_UK
        self.local_day = -1  # last evaluated local weekday (0 Monday), -1 unknown
        self.local_minute = -1
        self._blocked = False
        self._from_s = 1  # [from, to) in wall seconds where _blocked holds
        self._to_s = 0
        self.configure(windows, utc_offset_mode)

    def configure(self, windows, utc_offset_mode):
        """Replace the windows (the owner may accept, change or remove them)."""
        check_windows(windows)
        self.mode = check_mode(utc_offset_mode)
        i = 0
        for w in windows:
            self._w[i] = w[0]
            self._w[i + 1] = w[1]
            self._w[i + 2] = w[2]
            i += 3
        self._n = len(windows)
        self._from_s = 1
        self._to_s = 0

    def windows(self):
        """The configured windows as a list of [mask, start_min, end_min]."""
        w = self._w
        return [[w[i], w[i + 1], w[i + 2]] for i in range(0, 3 * self._n, 3)]

    def blocked(self, now_wall_s):
        """UK-10: charging blocked now? False with no windows or no valid time
        (now_wall_s <= 0)."""
        if self._n == 0 or now_wall_s <= 0:
            return False
        if self._from_s <= now_wall_s < self._to_s:
            return self._blocked
        local_s = now_wall_s + 60 * offset_min(now_wall_s, self.mode)
        days = local_s // _SECONDS_PER_DAY  # local days since 2020-01-01
        day = weekday(days + EPOCH_DAYS)
        minute = (local_s - days * _SECONDS_PER_DAY) // 60
        self.local_day = day
        self.local_minute = minute
        w = self._w
        i = 0
        blocked = False
        while i < 3 * self._n and not blocked:
            blocked = bool(_in_window(w[i], w[i + 1], w[i + 2], day, minute))
            i += 3
        self._blocked = blocked
        self._from_s = now_wall_s - now_wall_s % 60
        self._to_s = self._from_s + 60
        return self._blocked
