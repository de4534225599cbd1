# Settings (DESIGN §3.2): UK-8 "refuses unsafe user input": every key's range
# edges, wrong types, unknown keys, no-charge windows (UK-10), the meter dict,
# and a corrupt settings.json falling back to defaults with a problem string.
import json

from evse import settings

# (key, lowest accepted, highest accepted) for the plain int ranges.
_RANGES = (
    ("max_current_ma", 6000, 80000),
    ("site_limit_ma", 6000, 80000),
    ("random_delay_max_s", 0, 1800),
    ("current_step_ma", 100, 6000),
    ("pwm_min_interval_ms", 0, 60000),
    ("meter_fault_limit_ma", 6000, 80000),
    ("telemetry_interval_s", 1, 300),
)
# (key, lowest accepted above 0, highest): 0 is also accepted (off / none).
_OFF_RANGES = (
    ("tethered_cable_ma", 6000, 80000),
    ("failsafe_current_ma", 6000, 80000),
    ("link_timeout_ms", 1000, 3600000),
)


class _Board:
    def __init__(self, files=None):
        self.files = {} if files is None else files

    def storage_read(self, name):
        return self.files.get(name)

    def storage_write(self, name, data):
        self.files[name] = bytes(data)


def _has_float(value):
    t = type(value)
    if t is float:
        return True
    if t is list or t is tuple:
        return any([_has_float(v) for v in value])
    if t is dict:
        return any([_has_float(v) for v in value.values()])
    return False


def test_design_3_2_defaults_of_every_key():
    d = settings.defaults()
    assert d == {
        "max_current_ma": 32000, "site_limit_ma": 32000, "phases": 3,
        "tethered_cable_ma": 0, "failsafe_current_ma": 6000, "link_timeout_ms": 0,
        "random_delay_max_s": 600, "current_step_ma": 1000, "pwm_min_interval_ms": 5000,
        "no_charge_windows": [[31, 480, 660], [31, 960, 1320]],  # UK-10: the regulations'
        "utc_offset_mode": "uk", "allow_ventilation": 0,
        "meter": {"model": "SDM630", "unit_id": 1, "baud": 9600, "parity": "N",
                  "poll_ms": 1000},
        "meter_fault_action": "continue", "meter_fault_limit_ma": 6000,
        "telemetry_interval_s": 10,
        "pq_voltage_min_mv": 216200, "pq_voltage_max_mv": 253000,
        "pq_frequency_min_mhz": 49500, "pq_frequency_max_mhz": 50500,
        "pq_response": "pause", "pq_readings": 3, "pq_hold_s": 30,
        "tamper_action": "log",
    }
    assert sorted(settings.KEYS) == sorted(d.keys())
    assert not _has_float(d)


def test_defaults_are_fresh_copies():
    d = settings.defaults()
    d["no_charge_windows"].append([1, 0, 60])
    d["meter"]["baud"] = 19200
    again = settings.defaults()
    assert again["no_charge_windows"] == [[31, 480, 660], [31, 960, 1320]]
    assert again["meter"]["baud"] == 9600


def test_every_default_passes_its_own_check():
    d = settings.defaults()
    for key in settings.KEYS:
        assert settings.check(key, d[key]) is None, key
    assert settings.validate(d) == (settings.defaults(), [])


def test_uk8_int_range_edges_accepted_and_refused_with_reason():
    for key, lo, hi in _RANGES:
        assert settings.check(key, lo) is None, key
        assert settings.check(key, hi) is None, key
        below = settings.check(key, lo - 1)
        above = settings.check(key, hi + 1)
        assert below.startswith("%s: %d below %d" % (key, lo - 1, lo)), below
        assert above.startswith("%s: %d above %d" % (key, hi + 1, hi)), above


def test_uk8_zero_or_range_edges():
    for key, lo, hi in _OFF_RANGES:
        assert settings.check(key, 0) is None, key
        assert settings.check(key, lo) is None, key
        assert settings.check(key, hi) is None, key
        assert "below" in settings.check(key, 1)
        assert "below" in settings.check(key, lo - 1)
        assert "above" in settings.check(key, hi + 1)
        assert "below" in settings.check(key, -1)


def test_uk11_random_delay_above_1800_refused_with_the_regulation():
    """UK SCP reg 11: the randomised delay is configurable up to 1800 s."""
    reason = settings.check("random_delay_max_s", 2400)
    assert reason == "random_delay_max_s: 2400 above 1800 (UK SCP reg 11 ceiling)"
    assert settings.check("random_delay_max_s", 0) is None  # 0 = off


def test_uk8_wrong_types_refused_bool_is_not_int():
    for key, lo, _hi in _RANGES + _OFF_RANGES:
        for bad in (True, False, 32.0, "32000", None, [lo], {"v": lo}):
            reason = settings.check(key, bad)
            assert reason is not None and "int expected" in reason, (key, bad)
    assert "int expected, got bool" in settings.check("max_current_ma", True)
    assert "int expected, got float" in settings.check("max_current_ma", 16000.0)


def test_uk8_choice_keys():
    assert settings.check("phases", 1) is None
    assert settings.check("phases", 3) is None
    assert settings.check("phases", 2) == "phases: 2 not one of 1, 3 (supply phases)"
    assert "int expected, got bool" in settings.check("phases", True)
    assert settings.check("allow_ventilation", 0) is None
    assert settings.check("allow_ventilation", 1) is None
    assert "not one of" in settings.check("allow_ventilation", 2)
    assert "got bool" in settings.check("allow_ventilation", True)
    for action in ("continue", "limit", "stop"):
        assert settings.check("meter_fault_action", action) is None
    assert "not one of" in settings.check("meter_fault_action", "explode")
    assert "str expected" in settings.check("meter_fault_action", 1)


def test_utc_offset_mode_uk_or_fixed_minutes():
    assert settings.check("utc_offset_mode", "uk") is None
    assert settings.check("utc_offset_mode", -720) is None
    assert settings.check("utc_offset_mode", 840) is None
    assert settings.check("utc_offset_mode", 0) is None
    assert "below -720" in settings.check("utc_offset_mode", -721)
    assert "above 840" in settings.check("utc_offset_mode", 841)
    assert settings.check("utc_offset_mode", "gmt") is not None
    assert settings.check("utc_offset_mode", True) is not None
    assert settings.check("utc_offset_mode", 60.0) is not None


def test_uk8_unknown_keys_refused():
    assert settings.check("max_current", 16000) == "max_current: unknown setting"
    assert "unknown setting" in settings.check(7, 16000)
    assert "unknown setting" in settings.check(None, 1)
    assert "unknown" in settings.check("meter.speed", 9600)


def test_uk10_uk_profile_expands_to_weekday_windows():
    """UK SCP: default no-charge hours 08:00-11:00 and 16:00-22:00 on weekdays."""
    s = settings.defaults()
    assert settings.set_value(s, "no_charge_windows", "uk") is None
    assert s["no_charge_windows"] == [[0x1F, 480, 660], [0x1F, 960, 1320]]
    s["no_charge_windows"][0][1] = 0  # the stored list is a copy of the profile
    assert settings.UK_WINDOWS[0][1] == 480
    assert settings.check("no_charge_windows", "UK") is not None


def test_uk10_window_edges():
    ok = settings.check
    key = "no_charge_windows"
    assert ok(key, []) is None
    assert ok(key, [[1, 0, 1]]) is None
    assert ok(key, [[127, 1439, 1440]]) is None
    assert ok(key, [[127, 1320, 360]]) is None  # wraps past midnight
    assert ok(key, ((1, 0, 60),)) is None  # tuples are fine
    assert ok(key, [[1, 0, 60]] * 8) is None
    assert "9 windows above 8" in ok(key, [[1, 0, 60]] * 9)
    assert "[0].weekday_mask: 0 below 1" in ok(key, [[0, 0, 60]])
    assert ".weekday_mask: 128 above 127" in ok(key, [[128, 0, 60]])
    assert ".start_min: 1440 above 1439" in ok(key, [[1, 1440, 60]])
    assert ".start_min: -1 below 0" in ok(key, [[1, -1, 60]])
    assert ".end_min: 1441 above 1440" in ok(key, [[1, 0, 1441]])
    assert "start_min equals end_min" in ok(key, [[1, 600, 600]])
    assert "no_charge_windows[1]" in ok(key, [[1, 0, 60], [1, 2, 2]])
    assert "expected" in ok(key, [[1, 0]])
    assert "expected" in ok(key, [[1, 0, 60, 4]])
    assert "expected" in ok(key, [5])
    assert "int expected" in ok(key, [[1, 0, 60.0]])
    assert "int expected" in ok(key, [[True, 0, 60]])
    assert "expected" in ok(key, {"a": 1})
    assert "expected" in ok(key, None)


def test_windows_stored_as_fresh_lists():
    s = settings.defaults()
    given = [(3, 0, 60)]
    assert settings.set_value(s, "no_charge_windows", given) is None
    assert s["no_charge_windows"] == [[3, 0, 60]]
    assert type(s["no_charge_windows"][0]) is list


def test_meter_fields_validated_one_by_one():
    ok = settings.check
    for model in ("SDM630", "SDM72D-M", "SDM120", "SDM230", "EM340", "B23", "none"):
        assert ok("meter", {"model": model}) is None
    assert "not one of" in ok("meter", {"model": "SDM999"})
    assert "not one of" in ok("meter", {"model": "sdm630"})  # the names of protocols/meters.py
    assert ok("meter", {"unit_id": 1}) is None
    assert ok("meter", {"unit_id": 247}) is None
    assert "meter.unit_id: 0 below 1" in ok("meter", {"unit_id": 0})
    assert "meter.unit_id: 248 above 247" in ok("meter", {"unit_id": 248})
    for baud in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200):
        assert ok("meter.baud", baud) is None
    assert "not one of" in ok("meter.baud", 14400)
    assert "not one of" in ok("meter.baud", 230400)
    for parity in ("N", "E", "O"):
        assert ok("meter.parity", parity) is None
    assert "not one of" in ok("meter.parity", "M")
    assert ok("meter.poll_ms", 200) is None
    assert ok("meter.poll_ms", 60000) is None
    assert "below 200" in ok("meter.poll_ms", 199)
    assert "above 60000" in ok("meter.poll_ms", 60001)
    assert "unknown field speed" in ok("meter", {"speed": 1})
    assert "dict expected" in ok("meter", "sdm630")
    assert "got bool" in ok("meter", {"unit_id": True})


def test_meter_set_value_merges_over_the_current_meter():
    s = settings.defaults()
    assert settings.set_value(s, "meter", {"model": "SDM120", "baud": 2400}) is None
    assert settings.set_value(s, "meter.parity", "E") is None
    assert s["meter"] == {"model": "SDM120", "unit_id": 1, "baud": 2400, "parity": "E",
                          "poll_ms": 1000}
    # all or nothing: one bad field leaves the meter as it was
    assert settings.set_value(s, "meter", {"unit_id": 5, "baud": 1}) is not None
    assert s["meter"]["unit_id"] == 1


def test_uk8_set_value_applies_or_leaves_unchanged():
    s = settings.defaults()
    assert settings.set_value(s, "max_current_ma", 16000) is None
    assert s["max_current_ma"] == 16000
    assert settings.set_value(s, "max_current_ma", 90000) is not None
    assert s["max_current_ma"] == 16000
    assert settings.set_value(s, "bogus", 1) is not None
    assert "bogus" not in s


def test_limits_above_max_current_are_accepted():
    """The arbitration takes the minimum (DESIGN §5): no cross-field refusal."""
    s, errors = settings.validate({"max_current_ma": 16000, "site_limit_ma": 80000,
                                   "failsafe_current_ma": 32000, "tethered_cable_ma": 32000,
                                   "meter_fault_limit_ma": 20000})
    assert errors == []
    assert s["site_limit_ma"] == 80000


def test_uk8_validate_keeps_good_values_and_refuses_bad_ones():
    candidate = {"max_current_ma": 16000, "random_delay_max_s": 2400, "phases": 1,
                 "site_limit_ma": True, "colour": "red", "no_charge_windows": "uk",
                 "meter": {"unit_id": 7, "baud": 1234, "parity": "E"}}
    s, errors = settings.validate(candidate)
    assert s["max_current_ma"] == 16000
    assert s["phases"] == 1
    assert s["random_delay_max_s"] == 600
    assert s["site_limit_ma"] == 32000
    assert "colour" not in s
    assert s["no_charge_windows"] == [[0x1F, 480, 660], [0x1F, 960, 1320]]
    assert s["meter"] == {"model": "SDM630", "unit_id": 7, "baud": 9600, "parity": "E",
                          "poll_ms": 1000}
    keys = [k for k, reason in errors]
    assert keys == ["site_limit_ma", "random_delay_max_s", "meter.baud", "colour"]
    for key, reason in errors:
        assert reason.startswith(key), reason


def test_validate_refuses_a_non_dict():
    s, errors = settings.validate([1, 2])
    assert s == settings.defaults()
    assert len(errors) == 1 and "dict expected" in errors[0][1]


def test_key_index_numbers_for_events():
    assert settings.key_index("max_current_ma") == 0
    assert settings.key_index("meter") == settings.KEYS.index("meter")
    assert settings.key_index("meter.baud") == settings.KEYS.index("meter")
    assert settings.key_index("nope") == -1
    assert settings.key_index(3) == -1


def test_load_missing_file_gives_defaults_without_problem():
    s, problem = settings.load(_Board())
    assert s == settings.defaults()
    assert problem is None


def test_save_then_load_round_trip():
    board = _Board()
    s = settings.defaults()
    settings.set_value(s, "no_charge_windows", "uk")
    settings.set_value(s, "utc_offset_mode", 60)
    settings.set_value(s, "meter.model", "em340")
    settings.save(board, s)
    assert type(board.files["settings.json"]) is bytes
    loaded, problem = settings.load(_Board(board.files))
    assert problem is None
    assert loaded == s


def test_design_3_2_corrupt_file_falls_back_to_defaults_with_problem():
    for data in (b"", b"{", b"\xff\xfe\x00garbage", b'{"max_current_ma": 16000', b"nul",
                 b'{"a": 1}trailing'):
        s, problem = settings.load(_Board({"settings.json": data}))
        assert s == settings.defaults(), data
        assert problem is not None and problem.startswith("settings.json"), data


def test_corrupt_file_not_an_object():
    for data in (b"[1, 2]", b"42", b'"uk"', b"null"):
        s, problem = settings.load(_Board({"settings.json": data}))
        assert s == settings.defaults()
        assert "not an object" in problem


def test_file_with_some_bad_values_keeps_the_good_ones():
    data = json.dumps({"max_current_ma": 20000, "random_delay_max_s": 5000,
                       "phases": 1.0, "meter": {"baud": 19200, "unit_id": 0}}).encode()
    s, problem = settings.load(_Board({"settings.json": data}))
    assert s["max_current_ma"] == 20000
    assert s["random_delay_max_s"] == 600
    assert s["phases"] == 3
    assert s["meter"]["baud"] == 19200
    assert s["meter"]["unit_id"] == 1
    assert problem.startswith(
        "settings.json: 3 refused (phases, random_delay_max_s, meter.unit_id)")
    assert "random_delay_max_s" in problem


def test_file_missing_keys_take_defaults_without_problem():
    s, problem = settings.load(_Board({"settings.json": b'{"phases": 1}'}))
    assert problem is None
    assert s["phases"] == 1
    assert s["max_current_ma"] == 32000
