# Charger settings (DESIGN §3.2): every key with its default and validated
# range in one table of data. Unsafe input is refused with a short reason and
# never applied (UK-8; UK SCP Regulations Schedule 1 input validation). Saved
# as JSON in "settings.json" through the board's atomic storage_write.
#
# Integers only: a float (JSON 32.0) or a bool (JSON true) is refused where an
# int is expected (`type(v) is int`; MicroPython does not count bool as int).
# Cross-field rules: none refuse. site_limit_ma, tethered_cable_ma,
# failsafe_current_ma and meter_fault_limit_ma may exceed max_current_ma: the
# limit arbitration (evse/limits.py, DESIGN §5) offers the minimum of every
# source, so a larger value simply has no effect.
import json

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

FILE = "settings.json"

# Validator kinds: index into _CHECK below.
_RANGE = const(0)    # int in lo..hi
_OFF = const(1)      # 0 (off / not fitted) or an int in lo..hi
_ONE_OF = const(2)   # one of the tuple in lo, all of one type
_WINDOWS = const(3)  # "uk" or a list of at most 8 [weekday_mask, start_min, end_min]
_UTC = const(4)      # "uk" (GMT/BST rule) or a fixed offset in minutes lo..hi
_METER = const(5)    # dict checked field by field against _METER_TABLE
_RESPONSE = const(6)  # one of PQ_RESPONSES or a current in mA lo..hi

# Default no-charge windows (UK-10): weekday_mask bit 0 = Monday .. bit 6 =
# Sunday (the weekday numbering of time.localtime()); start_min / end_min are
# minutes of local time; start_min > end_min wraps past midnight; end_min 1440
# is midnight at the end of the day; start_min == end_min is refused.
WEEKDAYS = const(0x1F)
UK_WINDOWS = ((WEEKDAYS, 480, 660), (WEEKDAYS, 960, 1320))  # 08:00-11:00, 16:00-22:00
_MAX_WINDOWS = const(8)

# The names of protocols/meters.METERS (one vocabulary with the register maps;
# a test checks they agree) and "none": no meter fitted, nothing polled.
METER_MODELS = ("SDM630", "SDM72D-M", "SDM120", "SDM230", "EM340", "B23", "none")
_BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)

# T7-PQ response (evse/power_quality.py): report only, pause, or an int: the
# current in mA the offer is reduced to.
PQ_RESPONSES = ("none", "pause")

# Rows: (name, kind, default, lo, hi, note for the reason string).
_METER_TABLE = (
    ("model", _ONE_OF, "SDM630", METER_MODELS, 0, "supported meters, protocols/meters.py"),
    ("unit_id", _RANGE, 1, 1, 247, "Modbus unit address"),
    ("baud", _ONE_OF, 9600, _BAUDS, 0, "RS-485 rates"),
    ("parity", _ONE_OF, "N", ("N", "E", "O"), 0, "meter manuals differ"),
    ("poll_ms", _RANGE, 1000, 200, 60000, "AG-08 sub-minute data"),
)
_METER_ROWS = {row[0]: row for row in _METER_TABLE}
_METER_DEFAULT = {row[0]: row[2] for row in _METER_TABLE}

# The order is part of the contract: a key's index in KEYS is its number in
# EV_SETTING_CHANGED events (append new keys at the end).
_TABLE = (
    ("max_current_ma", _RANGE, 32000, 6000, 80000, "hardware rating, IEC 61851-1 6..80 A"),
    ("site_limit_ma", _RANGE, 32000, 6000, 80000, "IEC 61851-1 6..80 A"),
    ("phases", _ONE_OF, 3, (1, 3), 0, "supply phases"),
    ("tethered_cable_ma", _OFF, 0, 6000, 80000, "0 = socket outlet with PP, IEC-PP"),
    ("failsafe_current_ma", _OFF, 6000, 6000, 80000, "0 = pause on link loss, AG-11"),
    ("link_timeout_ms", _OFF, 0, 1000, 3600000, "0 = the gateway HELLO's, AG-11"),
    ("random_delay_max_s", _RANGE, 600, 0, 1800, "UK SCP reg 11 ceiling"),
    ("current_step_ma", _RANGE, 1000, 100, 6000, "AG-10 managed blocks"),
    ("pwm_min_interval_ms", _RANGE, 5000, 0, 60000, "Annex A: at most every 5 s"),
    ("no_charge_windows", _WINDOWS, UK_WINDOWS, 0, 0, "UK-10 default hours, owner may change"),
    ("utc_offset_mode", _UTC, "uk", -720, 840, "\"uk\" or minutes"),
    ("allow_ventilation", _ONE_OF, 0, (0, 1), 0, "state D refused unless 1"),
    ("meter", _METER, _METER_DEFAULT, 0, 0, "AG-03"),
    ("meter_fault_action", _ONE_OF, "continue", ("continue", "limit", "stop"), 0,
     "on meter fault"),
    ("meter_fault_limit_ma", _RANGE, 6000, 6000, 80000, "cap for meter_fault_action limit"),
    ("telemetry_interval_s", _RANGE, 10, 1, 300, "AG-08: up to 5 minutes"),
    # T7-PQ band: UK statutory 230 V -6 % / +10 %, 50 Hz +/- 1 % (ESQCR 2002
    # reg 27); each edge on its side of the nominal, so the band is never empty
    ("pq_voltage_min_mv", _RANGE, 216200, 100000, 230000, "T7-PQ, at most 230 V"),
    ("pq_voltage_max_mv", _RANGE, 253000, 230000, 300000, "T7-PQ, at least 230 V"),
    ("pq_frequency_min_mhz", _RANGE, 49500, 45000, 50000, "T7-PQ, at most 50 Hz"),
    ("pq_frequency_max_mhz", _RANGE, 50500, 50000, 55000, "T7-PQ, at least 50 Hz"),
    ("pq_response", _RESPONSE, "pause", 6000, 80000, "T7-PQ none, pause or mA"),
    ("pq_readings", _RANGE, 3, 1, 10, "T7-PQ readings outside the band"),
    ("pq_hold_s", _RANGE, 30, 0, 3600, "T7-PQ time back in band"),
    ("tamper_action", _ONE_OF, "log", ("log", "stop"), 0, "UK-S8: lid off logs, or also stops"),
)
_ROWS = {row[0]: row for row in _TABLE}
KEYS = tuple(row[0] for row in _TABLE)
_INDEX = {row[0]: i for i, row in enumerate(_TABLE)}


def _copy(value):
    # Fresh containers, so settings never share lists or dicts with the table,
    # the caller or each other; tuples become lists (as JSON gives them).
    t = type(value)
    if t is list or t is tuple:
        return [_copy(v) for v in value]
    if t is dict:
        return {k: _copy(v) for k, v in value.items()}
    return value


def _show(value):
    # A short printable form of untrusted input for a reason string.
    t = type(value)
    if t is int or t is str:
        r = repr(value)
        return r if len(r) <= 24 else r[:21] + "..."
    return t.__name__


def _name(key):
    # A key as it reads in a reason: strings as they are (cut short), others shown.
    if type(key) is str:
        return key if len(key) <= 24 else key[:21] + "..."
    return _show(key)


def _int(name, value, lo, hi, note):
    if type(value) is not int:
        return "%s: int expected, got %s" % (name, _show(value))
    if value < lo:
        return "%s: %d below %d (%s)" % (name, value, lo, note)
    if value > hi:
        return "%s: %d above %d (%s)" % (name, value, hi, note)
    return None


def _check_range(name, value, row, base):
    return _int(name, value, row[3], row[4], row[5]), value


def _check_off(name, value, row, base):
    if type(value) is int and value == 0:
        return None, 0
    return _int(name, value, row[3], row[4], row[5]), value


def _check_one_of(name, value, row, base):
    choices = row[3]
    if type(value) is not type(choices[0]):
        return "%s: %s expected, got %s" % (
            name, type(choices[0]).__name__, _show(value)), None
    if value not in choices:
        return "%s: %s not one of %s (%s)" % (
            name, _show(value), ", ".join([str(c) for c in choices]), row[5]), None
    return None, value


def _check_utc(name, value, row, base):
    if type(value) is str:
        if value == "uk":
            return None, value
        return "%s: %s is not \"uk\"" % (name, _show(value)), None
    return _int(name, value, row[3], row[4], "fixed offset minutes"), value


def _check_windows(name, value, row, base):
    if type(value) is str and value == "uk":  # UK-10 default profile, expanded
        return None, _copy(UK_WINDOWS)
    if type(value) is not list and type(value) is not tuple:
        return "%s: list or \"uk\" expected, got %s" % (name, _show(value)), None
    if len(value) > _MAX_WINDOWS:
        return "%s: %d windows above %d" % (name, len(value), _MAX_WINDOWS), None
    out = []
    for i, w in enumerate(value):
        wname = "%s[%d]" % (name, i)
        if (type(w) is not list and type(w) is not tuple) or len(w) != 3:
            return "%s: [weekday_mask, start_min, end_min] expected" % wname, None
        reason = (_int(wname + ".weekday_mask", w[0], 1, 127, "bit 0 = Monday")
                  or _int(wname + ".start_min", w[1], 0, 1439, "minute of the day")
                  or _int(wname + ".end_min", w[2], 0, 1440, "minute of the day"))
        if reason is not None:
            return reason, None
        if w[1] == w[2]:
            return "%s: start_min equals end_min" % wname, None
        out.append([w[0], w[1], w[2]])
    return None, out


def _check_meter(name, value, row, base):
    if type(value) is not dict:
        return "%s: dict expected, got %s" % (name, _show(value)), None
    for field in value:
        if field not in _METER_ROWS:
            return "%s: unknown field %s" % (name, _name(field)), None
    out = _copy(base if type(base) is dict else _METER_DEFAULT)
    for frow in _METER_TABLE:
        if frow[0] in value:
            reason, v = _CHECK[frow[1]](name + "." + frow[0], value[frow[0]], frow, None)
            if reason is not None:
                return reason, None
            out[frow[0]] = v
    return None, out


def _check_response(name, value, row, base):
    if type(value) is str:
        if value in PQ_RESPONSES:
            return None, value
        return "%s: %s is not none, pause or mA (%s)" % (name, _show(value), row[5]), None
    return _int(name, value, row[3], row[4], row[5]), value


_CHECK = (_check_range, _check_off, _check_one_of, _check_windows, _check_utc, _check_meter,
          _check_response)


def _parse(key, value, settings):
    # -> (reason or None, key to store, value to store). "meter.baud" style
    # keys set one meter field; a partial meter dict is merged over the
    # current meter (settings') or the default one.
    if type(key) is str and key[:6] == "meter.":
        key, value = "meter", {key[6:]: value}
    row = _ROWS.get(key) if type(key) is str else None
    if row is None:
        return "%s: unknown setting" % _name(key), key, None
    base = settings.get(key) if settings is not None else None
    reason, stored = _CHECK[row[1]](key, value, row, base)
    return reason, key, stored


def defaults():
    """A new settings dict holding every key's default."""
    return {row[0]: _copy(row[2]) for row in _TABLE}


def key_index(key):
    """The key's number for EV_SETTING_CHANGED (meter.* -> meter); -1 if unknown."""
    if type(key) is not str:
        return -1
    if key[:6] == "meter.":
        key = "meter"
    return _INDEX.get(key, -1)


def check(key, value):
    """None if value is acceptable for key, else a short reason (UK-8)."""
    return _parse(key, value, None)[0]


def set_value(settings, key, value):
    """Apply value to settings if acceptable (link SETTING_SET); returns None
    when applied, else the reason it was refused (settings unchanged)."""
    reason, key, stored = _parse(key, value, settings)
    if reason is None:
        settings[key] = stored
    return reason


def _order(candidate):
    # Known keys in table order, then the unknown ones: reasons come out in
    # the same order on every interpreter.
    known = [k for k in KEYS if k in candidate]
    rest = [k for k in candidate if type(k) is not str or k not in _ROWS]
    return known + sorted(rest, key=repr)


def validate(candidate):
    """-> (settings, errors): defaults overlaid with every acceptable value of
    candidate; errors lists (key, reason) for each refused one, none applied.
    A meter dict is taken field by field (errors keyed "meter.<field>")."""
    settings = defaults()
    errors = []
    if type(candidate) is not dict:
        errors.append(("settings", "settings: dict expected, got %s" % _show(candidate)))
        return settings, errors
    for key in _order(candidate):
        value = candidate[key]
        if key == "meter" and type(value) is dict:
            fields = [f[0] for f in _METER_TABLE if f[0] in value]
            fields += sorted([f for f in value if f not in _METER_ROWS], key=repr)
            for field in fields:
                name = "meter." + _name(field)
                reason = set_value(settings, name, value[field])
                if reason is not None:
                    errors.append((name, reason))
            continue
        reason = set_value(settings, key, value)
        if reason is not None:
            errors.append((key, reason))
    return settings, errors


def load(board):
    """-> (settings, problem). No file: defaults, None. A file that is not
    JSON or not an object: all defaults. Refused values: their defaults, the
    rest kept. problem is a short reason for the caller to log as an
    EV_SETTINGS_CORRUPT event (DESIGN §3.2); this module has no event log."""
    data = board.storage_read(FILE)
    if data is None:
        return defaults(), None
    try:
        obj = json.loads(data)
    except Exception:  # ValueError on both; any other failure of a garbage file is the same
        return defaults(), "%s: not JSON (%d bytes), defaults used" % (FILE, len(data))
    if type(obj) is not dict:
        return defaults(), "%s: not an object, defaults used" % FILE
    settings, errors = validate(obj)
    if not errors:
        return settings, None
    names = ", ".join([key for key, reason in errors[:4]])
    if len(errors) > 4:
        names += ", ..."
    return settings, "%s: %d refused (%s), defaults kept; %s" % (
        FILE, len(errors), names, errors[0][1])


def save(board, settings):
    """Write settings (already validated: set_value / validate) as JSON."""
    board.storage_write(FILE, json.dumps(settings).encode())
