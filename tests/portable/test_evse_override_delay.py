# The owner's override (AG-12), idle and the randomised delay after power
# restoration and at charge start (AG-13, UK-11), default no-charge windows
# (UK-10) and refusing unsafe input (UK-8), through the whole controller on
# the sim board with a scripted gateway on the link, in virtual time.
import json

from evse_rig import TICK_MS, Rig, charging_rig

from evse import settings as settings_mod
from evse.windows import days_from_civil, weekday
from protocols import iec61851, link
from protocols import link_messages as lm

OV = {"random_delay_max_s": 0, "site_limit_ma": 20000}
CAUSE_CHARGE_START = 2


def _duty(ma):
    return iec61851.duty_from_current(ma)


def _pwm_on(rig):
    return 0 < rig.board.duty_permille < 1000


def _press(rig, hold_ms=200):
    """The owner presses the button for hold_ms and lets go."""
    rig.board.set_button(1)
    rig.run(hold_ms)
    rig.board.set_button(0)
    rig.run(100)


def _wait_events(rig, code, n):
    assert rig.run_until(lambda r: len(r.events(code)) >= n, 2000) >= 0, "no event %d" % code
    return rig.events(code)


def _smart_limits(rig):
    rig.limit(lm.SRC_CSMS, 10000, 1)
    rig.limit(lm.SRC_HEMS, 12000, 1)
    rig.limit(lm.SRC_DNO, 8000, 1)
    rig.run(20)
    assert rig.status()["offered_ma"] == 8000


def _delay_rig(draws, settings=None):
    """A rig after a power cut whose random delays draw `draws` in order
    (u32 values: with max 600 a draw of 300 is a 300 s delay)."""
    rig = Rig(settings or {"random_delay_max_s": 600})
    rig.script_random(draws)
    rig.power_cut()
    rig.auto_ack = True
    rig.hello()
    return rig


# --- AG-12 -------------------------------------------------------------------


def test_ag12_short_press_lifts_csms_hems_dno_not_the_site_limit():
    """AG-12: a short press charges now for this session: CSMS, HEMS and DNO
    limits are lifted, the site limit (DESIGN 5) still holds; an override
    event goes upstream."""
    rig = charging_rig(OV, auto_ack=True)
    _smart_limits(rig)
    _press(rig)
    st = rig.status()
    assert st["override"] and st["contactor"] == 1
    assert rig.run_until(lambda r: r.board.duty_permille == _duty(20000), 6000) >= 0
    assert rig.status()["limit_source"] == "site"
    assert rig.telemetry()["flags"] & lm.F_OVERRIDE
    ev = _wait_events(rig, lm.EV_OVERRIDE, 1)[-1]
    assert ev["a"] == 1 and ev["b"] == 0  # on, by the button
    # a new smart limit during the override is stored, not applied
    rig.limit(lm.SRC_CSMS, 6000, 2, tag=4)
    rig.run(6000)
    assert rig.board.duty_permille == _duty(20000)
    assert rig.results(4)[0]["status"] == lm.ST_OK


def test_ag12_override_never_lifts_the_cable_limit():
    rig = charging_rig(OV, pp_ohms=1500, auto_ack=True)  # a 13 A cable
    _smart_limits(rig)
    _press(rig)
    assert rig.run_until(lambda r: r.board.duty_permille == _duty(13000), 6000) >= 0
    rig.run(6000)
    assert rig.board.duty_permille == _duty(13000)
    assert rig.status()["limit_source"] == "cable"


def test_ag12_unplug_ends_the_override_with_an_event():
    rig = charging_rig(OV, auto_ack=True)
    _smart_limits(rig)
    _press(rig)
    assert rig.status()["override"]
    rig.board.unplug()
    rig.run(100)
    assert not rig.status()["override"]
    evs = _wait_events(rig, lm.EV_OVERRIDE, 2)
    assert [(e["a"], e["b"]) for e in evs] == [(1, 0), (0, 0)]
    # the next session follows the smart limits again
    rig.board.plug("C", 220)
    assert rig.run_until(lambda r: r.status()["session"] == "charging", 3000) > 0
    assert rig.board.duty_permille == _duty(8000)


def test_ag12_cmd_override_over_the_link_same_as_the_button():
    rig = charging_rig(OV, auto_ack=True)
    _smart_limits(rig)
    rig.command(lm.CMD_OVERRIDE, 1, tag=21)
    rig.run(20)
    assert rig.results(21)[0]["status"] == lm.ST_OK
    assert rig.status()["override"]
    assert rig.run_until(lambda r: r.board.duty_permille == _duty(20000), 6000) >= 0
    rig.command(lm.CMD_OVERRIDE, 0, tag=22)
    rig.run(20)
    assert rig.results(22)[0]["status"] == lm.ST_OK
    assert rig.board.duty_permille == _duty(8000)  # a fall applies at once
    evs = _wait_events(rig, lm.EV_OVERRIDE, 2)
    assert [(e["a"], e["b"]) for e in evs] == [(1, 1), (0, 1)]  # by the link
    rig.board.unplug()
    rig.run(100)
    rig.command(lm.CMD_OVERRIDE, 1, tag=23)  # nothing plugged: per session, refused
    rig.run(20)
    assert rig.results(23)[0]["status"] == lm.ST_REJECTED
    assert not rig.status()["override"]


def test_ag12_long_press_pauses_and_resumes():
    rig = charging_rig(OV)
    rig.board.set_button(1)
    assert rig.run_until(lambda r: r.board.duty_permille == 1000, 2500) > 0  # while held
    assert rig.status()["owner_paused"]
    rig.run(1000)
    rig.board.set_button(0)
    rig.run(200)
    st = rig.status()
    assert st["owner_paused"] and not st["override"]  # a long press is not a short one
    rig.run(7000)
    assert rig.status()["contactor"] == 0
    _press(rig, 2200)
    assert not rig.status()["owner_paused"]
    assert rig.run_until(lambda r: r.status()["session"] == "charging", 6000) > 0


def test_ag12_button_held_through_a_reboot_starts_nothing_until_pressed_again():
    """A button held (or stuck) through a power cut neither overrides nor
    pauses; released and pressed again it does."""
    rig = charging_rig(OV)
    _smart_limits(rig)
    rig.board.set_button(1)
    rig.power_cut(1000)
    rig.run(5000)  # held well past a long press
    st = rig.status()
    assert not st["override"] and not st["owner_paused"]
    assert st["session"] == "charging" and rig.board.duty_permille == _duty(20000)
    rig.board.set_button(0)
    rig.run(500)
    assert not rig.status()["override"] and not rig.status()["owner_paused"]
    _press(rig)
    assert rig.status()["override"]


# --- AG-13 / UK-11 -----------------------------------------------------------


def _check_idle(rig):
    assert rig.board.duty_permille in (0, 1000), rig.board.duty_permille
    assert rig.board.contactor_cmd == 0


def test_ag13_idle_from_the_first_tick_after_power_restoration():
    """AG-13: idle immediately after power restoration (no PWM offer,
    contactor open), even with an EV left plugged in C through the cut;
    then the random delay, then charging."""
    rig = _delay_rig([0, 0])
    rig.board.plug("C", 220)
    assert rig.run_until(lambda r: r.status()["session"] == "charging", 3000) > 0
    rig.script_random([300])
    start = len(rig.board.pwm_log)
    rig.power_cut(5000)
    boot_ms = rig.now_ms
    _check_idle(rig)  # before the first tick
    assert rig.status()["delay_remaining_s"] == 300
    for _ in range(300):  # every tick of the first 3 s
        rig.tick()
        _check_idle(rig)
    assert rig.status()["cp_state"] == "C"
    while rig.now_ms - boot_ms < 290000:
        rig.skip(10000)
        _check_idle(rig)
    assert rig.run_until(_pwm_on, 20000) > 0
    assert rig.now_ms - boot_ms == 300000
    assert all(d in (0, 1000) for t, d in rig.board.pwm_log[start:] if t < boot_ms + 300000)
    assert rig.run_until(lambda r: r.board.contactor_cmd == 1, 1000) > 0
    rig.hello()
    assert rig.run_until(lambda r: [e for e in r.events(lm.EV_POWER_RESTORED)
                                    if e["c"] == 300], 2000) > 0


def test_ag13_uk11_delay_in_0_max_then_charging_starts_right_after():
    """UK-11: each restoration draws a delay in [0, max]; the EV waiting in C
    gets its offer the tick the delay ends."""
    seen = []
    for seed in range(1, 13):
        rig = Rig({"random_delay_max_s": 600}, seed=seed)
        rig.board.plug("C", 220)
        rig.power_cut(1000)
        boot_ms = rig.now_ms
        delay_s = rig.status()["delay_remaining_s"]
        assert 0 <= delay_s <= 600
        if delay_s == 0:
            continue  # then a charge-start delay follows: another test
        seen.append(delay_s)
        rig.skip(delay_s * 1000 - 1000)
        _check_idle(rig)
        assert rig.status()["delay_remaining_s"] == 1
        assert rig.run_until(_pwm_on, 2000) > 0
        assert rig.now_ms - boot_ms == delay_s * 1000
        rig.hello()
        rig.run(100)
        restored = [e for e in rig.events(lm.EV_POWER_RESTORED)]
        assert restored[-1]["c"] == delay_s
    assert len(seen) >= 10 and len(set(seen)) == len(seen)  # not one fixed value


def test_uk11_600_s_delay_counted_in_virtual_time():
    """A 600 s delay runs in virtual time (milliseconds of CPU); charging
    starts right after it."""
    rig = _delay_rig([600])
    boot_ms = rig.now_ms
    rig.board.plug("C", 220)
    rig.run(1000)
    assert rig.status()["delay_remaining_s"] == 599
    rig.skip(299000)
    assert rig.status()["delay_remaining_s"] == 300
    _check_idle(rig)
    rig.skip(299000)
    assert rig.status()["delay_remaining_s"] == 1
    _check_idle(rig)
    assert rig.telemetry()["flags"] & lm.F_DELAY
    assert rig.run_until(_pwm_on, 2000) > 0
    assert rig.now_ms - boot_ms == 600000
    assert rig.run_until(lambda r: r.board.contactor_cmd == 1, 100) > 0
    assert rig.status()["session"] == "charging"


def test_uk11_delay_at_plug_in():
    """UK-11: a random delay when charging would start."""
    rig = _delay_rig([0, 45])
    rig.run(1000)
    assert rig.status()["delay_remaining_s"] == 0
    rig.board.plug("B", 220)
    rig.run(200)
    rig.board.set_ev_state("C")
    assert rig.status()["delay_remaining_s"] > 0
    plug_ms = rig.now_ms - 200 + TICK_MS  # the first tick that saw B
    rig.run(1000)
    _check_idle(rig)
    tel = rig.telemetry()
    assert tel["flags"] & lm.F_DELAY and tel["limit_source"] == lm.SRC_DELAY
    assert 43 <= tel["delay_remaining_s"] <= 45
    assert rig.run_until(_pwm_on, 50000) > 0
    assert 45000 <= rig.now_ms - plug_ms <= 45000 + 2 * TICK_MS
    ev = [e for e in _wait_events(rig, lm.EV_DELAY, 1) if e["b"] == CAUSE_CHARGE_START][-1]
    assert ev["a"] == 1 and ev["c"] == 45


def test_uk11_override_cancels_the_delay_button_and_link():
    for by_link in (False, True):
        rig = _delay_rig([0, 300])
        rig.run(100)  # state A read first: the plug-in below starts its own delay
        rig.board.plug("C", 220)
        rig.run(1000)
        assert rig.status()["delay_remaining_s"] > 200
        _check_idle(rig)
        if by_link:
            rig.command(lm.CMD_OVERRIDE, 1, tag=3)
            rig.run(20)
            assert rig.results(3)[0]["status"] == lm.ST_OK
        else:
            _press(rig)
        assert rig.status()["delay_remaining_s"] == 0
        assert rig.run_until(lambda r: r.board.contactor_cmd == 1, 1000) > 0
        assert rig.run_until(lambda r: [e for e in r.events(lm.EV_DELAY) if e["a"] == 0],
                             2000) > 0  # a "delay off" event: cancelled


def test_uk11_no_delay_while_a_dno_limit_is_followed():
    """UK-11: no delay while providing a DSR / load-management response."""
    rig = _delay_rig([0, 300, 300])
    rig.limit(lm.SRC_DNO, 16000, 1)
    rig.run(100)
    rig.board.plug("C", 220)
    assert rig.run_until(lambda r: r.board.contactor_cmd == 1, 1000) > 0
    assert rig.board.duty_permille == _duty(16000)
    assert rig.status()["delay_remaining_s"] == 0
    # a DNO limit arriving during a delay ends it
    rig.board.unplug()
    rig.limit(lm.SRC_DNO, lm.LIMIT_NONE, 2)
    rig.run(1000)
    rig.board.plug("C", 220)
    rig.run(1000)
    assert rig.status()["delay_remaining_s"] > 200
    rig.limit(lm.SRC_DNO, 12000, 3)
    assert rig.run_until(lambda r: r.board.contactor_cmd == 1, 1000) > 0
    assert rig.board.duty_permille == _duty(12000)


def test_uk11_random_delay_max_above_1800_refused_1800_applied():
    rig = Rig({"random_delay_max_s": 600})
    rig.setting_set("random_delay_max_s", 1801, tag=5)
    rig.run(20)
    v = rig.setting_values(5)[0]
    assert v["status"] == lm.ST_INVALID and "1800" in v["value"]
    assert rig.ctl.settings["random_delay_max_s"] == 600
    rig.setting_set("random_delay_max_s", 1800, tag=6)
    rig.run(20)
    v = rig.setting_values(6)[0]
    assert v["status"] == lm.ST_OK and v["value"] == 1800
    rig.script_random([1800])
    rig.power_cut()
    assert rig.status()["delay_remaining_s"] == 1800
    # a file asking for more is refused at boot: the default, and an event
    rig.board.storage["settings.json"] = json.dumps({"random_delay_max_s": 3600}).encode()
    rig.power_cut()
    assert rig.ctl.settings["random_delay_max_s"] == 600
    assert rig.status()["delay_remaining_s"] <= 600
    rig.hello()
    rig.auto_ack = True
    ev = _wait_events(rig, lm.EV_SETTINGS, 1)[-1]
    assert ev["a"] == 1


# --- UK-10 -------------------------------------------------------------------

WED = days_from_civil(2026, 7, 15) * 86400  # Wednesday, in BST (UTC+1)
SAT = days_from_civil(2026, 7, 18) * 86400
WED_GMT = days_from_civil(2026, 1, 14) * 86400  # Wednesday, in GMT
UK = {"random_delay_max_s": 0, "no_charge_windows": "uk"}


def test_uk10_uk_windows_block_a_weekday_at_17_00_local_time():
    """UK-10: the "uk" profile blocks weekdays 16:00-22:00 local time (BST in
    July: 16:00 UTC is 17:00): no offer, the contactor opens; at 22:00 local
    charging resumes."""
    assert weekday(WED // 86400) == 2 and weekday(SAT // 86400) == 5
    rig = charging_rig(UK)
    rig.run(6000)
    assert rig.board.contactor_cmd == 1  # no time sync yet: the windows do not block
    rig.time_sync(WED + 16 * 3600)
    rig.tick()
    rig.tick()
    st = rig.status()
    assert st["window_blocked"] and rig.board.duty_permille == 1000
    assert st["limit_source"] == "window"
    rig.run(7000)
    assert rig.status()["contactor"] == 0
    assert rig.telemetry()["flags"] & lm.F_NO_CHARGE_WINDOW
    synced_ms = rig.now_ms - 7000 - TICK_MS
    rig.skip(synced_ms + 5 * 3600000 - 1000 - rig.now_ms)  # 21:59:59 BST
    _check_idle(rig)
    assert rig.run_until(lambda r: r.status()["session"] == "charging", 10000) > 0
    assert not rig.status()["window_blocked"]


def test_uk10_not_on_saturday_and_local_not_utc():
    for unix_s, blocked in ((SAT + 16 * 3600, False),  # Saturday 17:00 BST
                            (WED + 15 * 3600 + 1800, True),  # 16:30 BST, 15:30 UTC
                            (WED_GMT + 15 * 3600 + 1800, False),  # 15:30 GMT
                            (WED_GMT + 17 * 3600, True)):  # 17:00 GMT
        rig = charging_rig(UK)
        rig.time_sync(unix_s)
        rig.run(7000)
        assert rig.status()["window_blocked"] == blocked, unix_s
        assert rig.status()["contactor"] == (0 if blocked else 1), unix_s


def test_uk10_default_windows_are_the_regulations():
    """SI 2021/1467 reg 10(1): pre-set default charging hours outside peak hours; the
    factory settings hold 08:00-11:00 and 16:00-22:00 on weekdays (the owner may change or
    remove them, reg 10(2): the tests above and below)."""
    rig = charging_rig({"random_delay_max_s": 0})
    rig.time_sync(WED + 16 * 3600)
    rig.run(7000)
    assert rig.status()["window_blocked"] and rig.status()["contactor"] == 0
    rig = charging_rig({"random_delay_max_s": 0, "no_charge_windows": []})
    rig.time_sync(WED + 16 * 3600)
    rig.run(7000)
    assert not rig.status()["window_blocked"] and rig.status()["contactor"] == 1


def test_uk10_override_lifts_the_window():
    rig = charging_rig(UK)
    rig.time_sync(WED + 16 * 3600)
    rig.run(7000)
    assert rig.status()["contactor"] == 0
    _press(rig)
    assert rig.status()["override"]
    assert rig.run_until(lambda r: r.status()["session"] == "charging", 8000) > 0
    assert rig.status()["window_blocked"]  # still a window, lifted for this session


# --- UK-8 --------------------------------------------------------------------


def test_uk8_setting_out_of_range_refused_with_a_reason_nothing_changes():
    rig = charging_rig({"random_delay_max_s": 0}, auto_ack=True)
    stored = rig.board.storage["settings.json"]
    before = dict(rig.ctl.settings)
    tag = 30
    for key, value in (("max_current_ma", 90000), ("site_limit_ma", 5999),
                       ("max_current_ma", "32000"), ("failsafe_current_ma", 3000),
                       ("no_charge_windows", "[[1, 60]]"), ("no_charge_windows", "{oops"),
                       ("utc_offset_mode", "cet")):
        rig.setting_set(key, value, tag=tag)
        rig.run(20)
        v = rig.setting_values(tag)
        assert len(v) == 1 and v[0]["status"] == lm.ST_INVALID, (key, value, v)
        assert v[0]["key"] == key and isinstance(v[0]["value"], str) and v[0]["value"], v
        tag += 1
    assert rig.ctl.settings == before
    assert rig.board.storage["settings.json"] == stored
    assert rig.board.duty_permille == _duty(32000)
    rig.setting_set("no_such_key", 1, tag=50)
    rig.run(20)
    v = rig.setting_values(50)[0]
    assert v["status"] == lm.ST_UNKNOWN and v["key"] == "no_such_key"
    rig.run(1500)
    assert not rig.events(lm.EV_SETTINGS)  # nothing was applied, nothing logged as changed


def test_uk8_good_setting_applied_persisted_and_answered():
    rig = charging_rig({"random_delay_max_s": 0}, auto_ack=True)
    rig.setting_set("site_limit_ma", 16000, tag=7)
    rig.tick()
    v = rig.setting_values(7)[0]
    assert v["status"] == lm.ST_OK and v["key"] == "site_limit_ma" and v["value"] == 16000
    assert rig.board.duty_permille == _duty(16000)
    assert json.loads(rig.board.storage["settings.json"])["site_limit_ma"] == 16000
    ev = _wait_events(rig, lm.EV_SETTINGS, 1)[-1]
    assert ev["a"] == 0
    rig.setting_set("no_charge_windows", "uk", tag=8)
    rig.run(20)
    assert rig.setting_values(8)[0]["status"] == lm.ST_OK
    rig.power_cut()
    assert rig.ctl.settings["site_limit_ma"] == 16000
    assert rig.ctl.settings["no_charge_windows"] == [[31, 480, 660], [31, 960, 1320]]
    assert rig.run_until(_pwm_on, 3000) > 0
    assert rig.board.duty_permille == _duty(16000)
    rig.send(lm.SETTING_GET, {"key": "site_limit_ma"}, tag=9)
    rig.run(20)
    v = rig.setting_values(9)[0]
    assert v["status"] == lm.ST_OK and v["value"] == 16000


def test_uk8_corrupt_settings_file_gives_defaults_and_an_event():
    for data in (b"{garbage", b'{"site_limit_ma": 16000, "max_cur', b"\xff\xfe\x00", b"[]"):
        rig = Rig({"random_delay_max_s": 0, "site_limit_ma": 16000})
        rig.board.storage["settings.json"] = data
        rig.power_cut()
        assert rig.ctl.settings == settings_mod.defaults(), data
        rig.auto_ack = True
        rig.hello()
        ev = [e for e in _wait_events(rig, lm.EV_SETTINGS, 1)][-1]
        assert ev["a"] == 1, data  # defaults_loaded


def test_uk8_garbage_and_truncated_frames_never_raise_and_are_ignored():
    rig = charging_rig({"random_delay_max_s": 0})
    limit = link.encode_frame(lm.LIMIT, {"entity": lm.SRC_CSMS, "generation": 1,
                                         "limit_ma": 10000, "duration_s": 0}, 4)
    bad_crc = bytearray(limit)
    bad_crc[-3] ^= 0x01
    x = 12345
    noise = bytearray(600)
    for i in range(len(noise)):  # deterministic noise, zeros included
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        noise[i] = (x >> 16) & 0xFF
    for chunk in (bytes(noise), limit[:9], bytes(bad_crc), limit[:-4], b"\x00" * 40,
                  b"\x01" * 300):
        rig.send_raw(chunk)
        rig.run(50)
    rig.send_raw(b"\x00")  # ends whatever was half-received
    rig.run(50)
    assert rig.board.duty_permille == _duty(32000)
    assert rig.status()["session"] == "charging"
    assert not rig.results(4)
    # a good frame right after garbage is decoded (resynchronisation)
    rig.send_raw(b"\x13\x37" + limit)
    rig.run(50)
    assert rig.results(4) and rig.results(4)[0]["status"] == lm.ST_OK
    assert rig.board.duty_permille == _duty(10000)
    # good CRC, bad message: NAKed, nothing applied, never an exception
    for payload, error in ((bytes([1, lm.LIMIT, 6, 16, 2, 0]), lm.E_LENGTH),
                           (bytes([1, 0x7E, 7]), lm.E_TYPE)):
        rig.send_raw(link.frame(payload))
        rig.run(20)
        nak = rig.naks()[-1]
        assert nak["error"] == error and nak["bad_type"] == payload[1]
    assert rig.board.duty_permille == _duty(10000)


def test_uk8_bad_major_is_naked_with_e_version_and_ignored():
    rig = charging_rig({"random_delay_max_s": 0})
    msg = bytearray(link.encode(lm.LIMIT, {"entity": lm.SRC_CSMS, "generation": 1,
                                          "limit_ma": 10000, "duration_s": 0}, 9))
    msg[0] = 2
    rig.send_raw(link.frame(bytes(msg)))
    rig.run(20)
    assert rig.board.duty_permille == _duty(32000)
    nak = [(t, f) for t, g, f in rig.up if t == lm.NAK and g == 9]
    assert len(nak) == 1
    f = nak[0][1]
    assert f["error"] == lm.E_VERSION and f["bad_type"] == lm.LIMIT
    assert f["major"] == lm.PROTOCOL_MAJOR and f["minor"] == lm.PROTOCOL_MINOR
    assert not rig.results(9)


def test_uk8_command_resent_with_the_same_tag_is_not_executed_twice():
    """LINK.md 5.4: a COMMAND with the tag of the previous COMMAND is
    answered again with the stored result, not executed twice."""
    rig = charging_rig({"random_delay_max_s": 0}, auto_ack=True)
    rig.command(lm.CMD_PAUSE, 0, tag=7)
    rig.run(20)
    assert rig.status()["owner_paused"]
    _press(rig, 2200)  # the owner resumes with a long press
    assert not rig.status()["owner_paused"]
    rig.command(lm.CMD_PAUSE, 0, tag=7)  # the gateway missed the answer: resent
    rig.run(20)
    assert not rig.status()["owner_paused"]
    res = rig.results(7)
    assert len(res) == 2 and res[0] == res[1] and res[0]["status"] == lm.ST_OK
    rig.run(1500)
    cmds = [e for e in rig.events(lm.EV_COMMAND) if e["a"] == lm.CMD_PAUSE and e["d"] == 0]
    assert len(cmds) == 1
    rig.command(lm.CMD_PAUSE, 0, tag=8)  # a new tag: executed
    rig.run(20)
    assert rig.status()["owner_paused"]


def test_uk11_delay_when_a_no_charge_window_ends():
    """UK-11: the end of a default no-charge window is when charging would
    start across a fleet: a random delay runs before the offer returns."""
    rig = charging_rig(UK)
    rig.setting_set("random_delay_max_s", 600)
    rig.time_sync(WED + 16 * 3600)
    rig.run(7000)
    assert rig.status()["window_blocked"] and rig.status()["contactor"] == 0
    synced_ms = rig.now_ms - 7000
    rig.skip(synced_ms + 6 * 3600000 + 1000 - rig.now_ms)  # 22:00:01 BST
    rig.tick()
    st = rig.status()
    assert not st["window_blocked"]
    assert 0 < st["delay_remaining_s"] <= 600
    assert rig.board.duty_permille == 1000 and rig.board.contactor_cmd == 0
