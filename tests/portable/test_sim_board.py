# The sim board (sim_hardware/sim_board.py): the Board contract of DESIGN §3.1
# on virtual time, and its control-pilot model against IEC 61851-1 Annex A
# (DESIGN §8): generator +-12 V through 1 kOhm, EV diode + 2.74 kOhm (B),
# 882 Ohm total (C), 246 Ohm total (D); E 0 V; F -12 V.
from hal import base
from mpunit import raises
from sim_hardware.sim_board import SimBoard

CONTRACT = (
    "ticks_ms", "random_u32", "set_pwm", "cp_high_mv", "cp_low_mv", "pp_ohms",
    "set_contactor", "contactor_feedback", "rcd_fault", "button_pressed", "set_indicator",
    "link_read", "link_write", "meter_read", "meter_write", "storage_read", "storage_write",
    "wdt_feed", "reset_cause",
)


def _within_1v(mv, nominal_mv):
    return nominal_mv - 1000 <= mv <= nominal_mv + 1000


def _pwm_board(state):
    b = SimBoard()
    if state != "A":
        b.plug(state)
    b.set_pwm(500)
    return b


def test_contract_every_board_method_is_implemented():
    """DESIGN §3.1: the sim board overrides every method of hal/base.py."""
    b = SimBoard()
    for name in CONTRACT:
        assert getattr(base.Board, name) is not getattr(SimBoard, name), name
    with raises(NotImplementedError):
        base.Board().cp_high_mv()
    assert isinstance(b, base.Board)


def test_contract_values_are_ints():
    b = SimBoard()
    b.plug("C", pp_ohms=220)
    b.set_pwm(300)
    for name in ("ticks_ms", "random_u32", "cp_high_mv", "cp_low_mv", "pp_ohms",
                 "contactor_feedback", "rcd_fault", "button_pressed", "reset_cause"):
        assert type(getattr(b, name)()) is int, name


def test_iec_state_a_no_ev_shows_the_generator():
    """State A: +12 V; under PWM the negative plateau is the generator's -12 V."""
    b = _pwm_board("A")
    assert b.cp_high_mv() == 12000
    assert b.cp_low_mv() == -12000


def test_iec_state_b_nine_volts_with_diode():
    """B: 2.74 kOhm behind the diode -> +9 V nominal; the diode blocks -12 V."""
    b = _pwm_board("B")
    assert b.cp_high_mv() == 700 + 11300 * 2740 // 3740 == 8978
    assert _within_1v(b.cp_high_mv(), 9000)
    assert b.cp_low_mv() == -12000


def test_iec_state_c_six_volts_with_diode():
    b = _pwm_board("C")
    assert b.cp_high_mv() == 5995
    assert _within_1v(b.cp_high_mv(), 6000)
    assert b.cp_low_mv() == -12000


def test_iec_state_d_three_volts_with_diode():
    b = _pwm_board("D")
    assert b.cp_high_mv() == 2930
    assert _within_1v(b.cp_high_mv(), 3000)
    assert b.cp_low_mv() == -12000


def test_iec_state_e_short_to_pe_is_zero_volts():
    b = _pwm_board("C")
    b.short_cp()
    assert b.cp_high_mv() == 0
    assert b.cp_low_mv() == 0
    b.clear_short()
    assert b.cp_high_mv() == 5995


def test_iec_state_f_duty_0_is_steady_minus_12v():
    """set_pwm(0): steady -12 V; both plateaus read -12 V, EV or not (diode blocks)."""
    for state in ("A", "B", "C", "D"):
        b = _pwm_board(state)
        b.set_pwm(0)
        assert b.cp_high_mv() == -12000, state
        assert b.cp_low_mv() == -12000, state


def test_iec_x1_steady_plus_12v_has_no_negative_plateau():
    """set_pwm(1000): no negative plateau, the low reading equals the high one."""
    b = SimBoard()
    b.set_pwm(1000)
    assert b.cp_high_mv() == b.cp_low_mv() == 12000
    b.plug("B")
    assert b.cp_high_mv() == b.cp_low_mv() == 8978


def test_iec_diode_missing_divides_both_halves():
    """IEC-DIODE: without the diode the negative plateau is the resistive
    division of -12 V, far from -12 V, so the diode check fails."""
    b = _pwm_board("B")
    b.remove_diode()
    assert b.cp_high_mv() == 12000 * 2740 // 3740 == 8791
    assert b.cp_low_mv() == -8791
    assert not _within_1v(b.cp_low_mv(), -12000)
    b.set_ev_state("C")
    assert b.cp_low_mv() == -(12000 * 882 // 1882)
    b.set_pwm(0)
    assert b.cp_high_mv() == b.cp_low_mv() == -(12000 * 882 // 1882)
    b.restore_diode()
    assert b.cp_low_mv() == -12000


def test_unplug_restores_state_a_and_a_fresh_diode():
    b = _pwm_board("C")
    b.remove_diode()
    b.unplug()
    assert b.cp_high_mv() == 12000
    b.plug("B")
    assert b.cp_low_mv() == -12000


def test_generator_tolerance_and_between_band_levels():
    """Generator +-5 % and an EV resistance that lands between the bands."""
    b = _pwm_board("A")
    b.gen_pos_mv = 12600
    b.gen_neg_mv = -11400
    assert b.cp_high_mv() == 12600
    assert b.cp_low_mv() == -11400
    b.gen_pos_mv = 12000
    b.set_ev_ohms(1500)  # 700 + 11300 * 0.6 = 7480 mV: the B/C midpoint
    assert b.cp_high_mv() == 700 + 11300 * 1500 // 2500 == 7480
    b.force_cp(10400, -12000)
    assert b.cp_high_mv() == 10400 and b.cp_low_mv() == -12000
    b.release_cp()
    assert b.cp_high_mv() == 7480
    with raises(ValueError):
        b.set_ev_ohms(-1)
    with raises(ValueError):
        b.set_ev_state("E")


def test_set_pwm_range_and_log():
    b = SimBoard()
    assert b.duty_permille == 0  # the CP driver input is pulled down: F at boot
    b.advance(5)
    b.set_pwm(533)
    b.set_pwm(533)
    b.advance(10)
    b.set_pwm(1000)
    assert b.pwm_log == [(5, 533), (15, 1000)]
    with raises(ValueError):
        b.set_pwm(1001)
    with raises(ValueError):
        b.set_pwm(-1)


def test_contactor_feedback_follows_after_closing_time():
    b = SimBoard(close_ms=40, open_ms=25)
    assert b.contactor_feedback() == 0
    b.advance(100)
    b.set_contactor(True)
    b.advance(39)
    assert b.contactor_feedback() == 0
    b.advance(1)
    assert b.contactor_feedback() == 1
    b.set_contactor(False)
    b.advance(24)
    assert b.contactor_feedback() == 1
    b.advance(1)
    assert b.contactor_feedback() == 0
    assert b.contactor_log == [(100, 1), (140, 0)]


def test_contactor_reopened_before_it_closed_never_closes():
    b = SimBoard(close_ms=40, open_ms=25)
    b.set_contactor(1)
    b.advance(10)
    b.set_contactor(0)
    b.advance(100)
    assert b.contactor_feedback() == 0
    assert b.contacts_closed() == 0


def test_contactor_welded_stays_closed():
    b = SimBoard(close_ms=30, open_ms=20)
    b.set_contactor(1)
    b.advance(30)
    b.weld()
    b.set_contactor(0)
    b.advance(1000)
    assert b.contactor_feedback() == 1
    b.repair()
    assert b.contactor_feedback() == 0


def test_contactor_failed_to_close_stays_open():
    b = SimBoard()
    b.fail_to_close()
    b.set_contactor(1)
    b.advance(5000)
    assert b.contactor_feedback() == 0
    assert b.contactor_cmd == 1


def test_contactor_feedback_not_fitted():
    b = SimBoard(feedback_fitted=False)
    b.set_contactor(1)
    b.advance(1000)
    assert b.contactor_feedback() == -1
    assert b.contacts_closed() == 1


def test_pp_cable_and_not_fitted():
    b = SimBoard()
    assert b.pp_ohms() == base.PP_OPEN_OHMS  # empty socket
    b.plug("B", pp_ohms=220)
    assert b.pp_ohms() == 220
    b.unplug()
    assert b.pp_ohms() == base.PP_OPEN_OHMS
    assert SimBoard(pp_fitted=False).pp_ohms() == base.PP_NOT_FITTED == -1


def test_rcd_button_indicator():
    b = SimBoard()
    assert b.rcd_fault() == 0 and b.button_pressed() == 0
    b.trip_rcd()
    b.set_button(True)
    assert b.rcd_fault() == 1 and b.button_pressed() == 1
    b.clear_rcd()
    assert b.rcd_fault() == 0
    b.advance(7)
    b.set_indicator(base.IND_CHARGING)
    b.set_indicator(base.IND_CHARGING)
    assert b.indicator == base.IND_CHARGING
    assert b.indicator_log == [(7, base.IND_CHARGING)]
    with raises(ValueError):
        b.set_indicator(base.IND_COUNT)


def test_virtual_clock_and_random_are_deterministic():
    b = SimBoard(seed=1)
    assert b.ticks_ms() == 0
    b.advance(600000)  # a 600 s delay takes no wall time
    assert b.ticks_ms() == 600000
    with raises(ValueError):
        b.advance(-1)
    assert b.random_u32() == 270369  # xorshift32 from seed 1 (13, 17, 5)
    c = SimBoard(seed=1)
    d = SimBoard(seed=2)
    seq_b = [b.random_u32() for _ in range(50)]
    seq_c = [c.random_u32() for _ in range(51)][1:]
    assert seq_b == seq_c
    seq_d = [d.random_u32() for _ in range(50)]
    assert seq_d != seq_b
    for v in seq_b + seq_d:
        assert 0 < v < (1 << 32)
    assert SimBoard(seed=0).random_u32() == 270369  # seed 0 would stick at 0: taken as 1


def test_link_queue_in_chunks():
    b = SimBoard()
    buf = bytearray(4)
    assert b.link_read(buf) == 0
    b.link_inject(b"\x7e\x01\x02")
    b.link_inject(bytearray(b"\x03\x04\x05"))
    assert b.link_read(buf) == 4
    assert buf == bytearray(b"\x7e\x01\x02\x03")
    mv = memoryview(buf)
    assert b.link_read(mv[1:]) == 2
    assert buf == bytearray(b"\x7e\x04\x05\x03")
    assert b.link_read(buf) == 0
    assert b.link_write(b"abc") == 3
    assert b.link_write(memoryview(b"xdefx")[1:4]) == 3
    assert b.link_take() == b"abcdef"
    assert b.link_take() == b""


def test_meter_port_device_and_configure():
    b = SimBoard()
    frames = []

    def meter(frame):
        frames.append(frame)
        return b"\x01\x04\x00"

    b.meter_device = meter
    assert b.meter_write(b"\x01\x04\x00\x00\x00\x02\x71\xcb") == 8
    assert frames == [b"\x01\x04\x00\x00\x00\x02\x71\xcb"]
    buf = bytearray(8)
    assert b.meter_read(buf) == 3
    assert buf[:3] == bytearray(b"\x01\x04\x00")
    assert b.meter_take() == b"\x01\x04\x00\x00\x00\x02\x71\xcb"
    b.meter_inject(b"\x02")
    assert b.meter_read(buf) == 1 and buf[0] == 2
    b.meter_configure(2400, "E")
    assert (b.meter_baud, b.meter_parity) == (2400, "E")
    with raises(ValueError):
        b.meter_configure(600, "N")
    with raises(ValueError):
        b.meter_configure(9600, "X")


def test_storage_is_atomic_and_survives_power_cut_and_reboot():
    b = SimBoard()
    assert b.storage_read("settings.json") is None
    b.storage_write("settings.json", bytearray(b'{"phases": 1}'))
    b.storage_write("events.bin", b"\x01\x02")
    b.power_cut(off_ms=60000)
    assert b.storage_read("settings.json") == b'{"phases": 1}'
    b.reboot()
    assert b.storage_read("events.bin") == b"\x01\x02"
    assert b.storage_writes == 2
    with raises(ValueError):
        b.storage_write("../x", b"")


def test_reset_causes_and_restart_state():
    """AG-13: after a power cut the board reports power-on (0), the clock
    restarts, the contactor drops out and the pilot shows F until the
    firmware drives it; soft reset 2, watchdog 1."""
    b = SimBoard(close_ms=30, open_ms=20)
    assert b.reset_cause() == base.RESET_POWER_ON
    b.plug("C")
    b.set_pwm(533)
    b.set_contactor(1)
    b.set_indicator(base.IND_CHARGING)
    b.advance(1000)
    b.link_inject(b"pending")
    b.link_write(b"unsent")
    b.wdt_feed()
    assert b.wdt_feeds == 1 and b.last_wdt_ms == 1000
    b.power_cut(off_ms=5000)
    assert b.reset_cause() == 0
    assert b.ticks_ms() == 0
    assert b.now_ms == 6000
    assert b.duty_permille == 0 and b.cp_high_mv() == -12000
    assert b.contactor_cmd == 0 and b.contactor_feedback() == 0
    assert b.indicator == base.IND_OFF
    assert b.link_read(bytearray(8)) == 0 and b.link_take() == b""
    assert b.wdt_feeds == 0
    b.set_pwm(1000)
    assert b.cp_high_mv() == 5995  # the EV is still plugged in
    b.advance(3)
    b.reboot()
    assert b.reset_cause() == base.RESET_SOFT == 2
    assert b.ticks_ms() == 0
    b.watchdog_reset()
    assert b.reset_cause() == base.RESET_WATCHDOG == 1
    assert b.resets == 3


def test_button_held_through_a_reboot_stays_pressed():
    b = SimBoard()
    b.set_button(1)
    b.reboot()
    assert b.button_pressed() == 1


def test_logs_can_be_switched_off():
    b = SimBoard(logs=False)
    b.set_pwm(500)
    b.set_contactor(1)
    b.set_indicator(base.IND_READY)
    assert b.pwm_log == [] and b.contactor_log == [] and b.indicator_log == []
