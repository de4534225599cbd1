# IEC 61851-1 Annex A / Type 2 PP known answers (DESIGN §8), on CPython and the
# MicroPython VM. Requirement IDs: IEC-STATE, IEC-DIODE, IEC-DUTY, IEC-PP.
from mpunit import raises
from protocols import iec61851 as iec
from protocols.iec61851 import (
    PP_INVALID,
    PP_NOT_FITTED,
    PP_OPEN,
    PP_SHORT,
    STATE_A,
    STATE_B,
    STATE_C,
    STATE_D,
    STATE_DF,
    STATE_E,
    STATE_F,
    STATE_INVALID,
    cable_rating_ma,
    cp_state,
    current_from_duty,
    diode_ok,
    duty_from_current,
    nearest_state,
)

LOW_OK_MV = -12000  # negative plateau with a healthy EV diode


# --- IEC-STATE: CP plateau -> state ------------------------------------------


def test_state_codes_are_their_hex_letter_and_named():
    assert (STATE_A, STATE_B, STATE_C, STATE_D, STATE_E, STATE_F) == (10, 11, 12, 13, 14, 15)
    codes = (STATE_A, STATE_B, STATE_C, STATE_D, STATE_E, STATE_F, STATE_DF, STATE_INVALID)
    names = [iec.STATE_NAMES[c] for c in codes]
    assert names == ["A", "B", "C", "D", "E", "F", "DF", "INVALID"]


def test_annex_a_nominal_plateaus_under_pwm():
    """A +12 V, B +9 V, C +6 V, D +3 V, E 0 V (x2: negative plateau -12 V)."""
    assert cp_state(12000, LOW_OK_MV, True) == STATE_A
    assert cp_state(9000, LOW_OK_MV, True) == STATE_B
    assert cp_state(6000, LOW_OK_MV, True) == STATE_C
    assert cp_state(3000, LOW_OK_MV, True) == STATE_D
    assert cp_state(0, 0, True) == STATE_E


def test_annex_a_nominal_steady_levels_x1_and_f():
    """x1: steady level, no negative plateau; F: steady -12 V."""
    assert cp_state(12000, 12000, False) == STATE_A
    assert cp_state(9000, 9000, False) == STATE_B
    assert cp_state(6000, 6000, False) == STATE_C
    assert cp_state(3000, 3000, False) == STATE_D
    assert cp_state(0, 0, False) == STATE_E
    assert cp_state(-12000, -12000, False) == STATE_F


def test_annex_a_common_band_is_plus_minus_1v_inclusive():
    """+-1 V around nominal is the common band."""
    for nominal_mv, state in ((12000, STATE_A), (9000, STATE_B), (6000, STATE_C), (3000, STATE_D)):
        assert cp_state(nominal_mv - 1000, LOW_OK_MV, True) == state
        assert cp_state(nominal_mv + 1000, LOW_OK_MV, True) == state
    assert cp_state(1000, 0, False) == STATE_E
    assert cp_state(-1000, 0, False) == STATE_E
    assert cp_state(-11000, 0, False) == STATE_F
    assert cp_state(-13000, 0, False) == STATE_F


def test_band_gap_a_b_is_invalid_not_a_firm_state():
    """10.001-10.999 V: out of both +-1 V bands, whichever side of 10.5 V."""
    for mv in (10001, 10200, 10499, 10500, 10800, 10999):
        assert cp_state(mv, LOW_OK_MV, True) == STATE_INVALID
        assert cp_state(mv, mv, False) == STATE_INVALID


def test_band_gaps_b_c_c_d_d_e_are_invalid():
    for mv in (7001, 7499, 7500, 7999, 4001, 4499, 4500, 4999, 1001, 1499, 1500, 1999):
        assert cp_state(mv, LOW_OK_MV, True) == STATE_INVALID
        assert cp_state(mv, mv, False) == STATE_INVALID


def test_band_edges_one_mv_inside_each_gap_neighbour():
    assert cp_state(10000, LOW_OK_MV, True) == STATE_B
    assert cp_state(11000, LOW_OK_MV, True) == STATE_A
    assert cp_state(7000, LOW_OK_MV, True) == STATE_C
    assert cp_state(8000, LOW_OK_MV, True) == STATE_B
    assert cp_state(4000, LOW_OK_MV, True) == STATE_D
    assert cp_state(5000, LOW_OK_MV, True) == STATE_C
    assert cp_state(2000, LOW_OK_MV, True) == STATE_D


def test_above_a_below_f_and_between_e_and_f_are_invalid():
    assert cp_state(13001, 13001, False) == STATE_INVALID
    assert cp_state(20000, LOW_OK_MV, True) == STATE_INVALID
    assert cp_state(-13001, -13001, False) == STATE_INVALID
    for mv in (-1001, -5999, -6000, -10999):
        assert cp_state(mv, mv, False) == STATE_INVALID


def test_nearest_state_splits_at_midpoints_for_diagnostics():
    """Midpoints 10.5 / 7.5 / 4.5 / 1.5 V split A/B/C/D/E; -6 V splits E/F."""
    assert nearest_state(10500) == STATE_A
    assert nearest_state(10499) == STATE_B
    assert nearest_state(7500) == STATE_B
    assert nearest_state(7499) == STATE_C
    assert nearest_state(4500) == STATE_C
    assert nearest_state(4499) == STATE_D
    assert nearest_state(1500) == STATE_D
    assert nearest_state(1499) == STATE_E
    assert nearest_state(-6000) == STATE_E
    assert nearest_state(-6001) == STATE_F
    assert nearest_state(15000) == STATE_A
    assert nearest_state(-20000) == STATE_F


def test_tolerance_is_a_parameter():
    assert cp_state(9600, LOW_OK_MV, True, 500) == STATE_INVALID
    assert cp_state(9500, LOW_OK_MV, True, 500) == STATE_B
    # 1.5 V closes the gaps: pure midpoint splitting between A and E
    assert cp_state(10499, LOW_OK_MV, True, 1500) == STATE_B
    assert cp_state(10500, LOW_OK_MV, True, 1500) == STATE_A
    assert cp_state(1499, 0, False, 1500) == STATE_E


# --- IEC-DIODE ----------------------------------------------------------------


def test_diode_check_negative_plateau_must_reach_minus_12v():
    assert diode_ok(-12000)
    assert diode_ok(-11000)
    assert diode_ok(-13000)
    assert not diode_ok(-10999)
    assert not diode_ok(-13001)


def test_diode_check_near_zero_or_ev_resistor_voltage_fails():
    """Low plateau near 0 V: shorted or missing diode."""
    assert not diode_ok(0)
    assert not diode_ok(-500)
    assert not diode_ok(-9000)  # no diode: the EV's 2.74 kOhm loads the negative side too
    assert not diode_ok(12000)


def test_diode_check_tolerance_parameter():
    assert diode_ok(-11500, 500)
    assert not diode_ok(-11499, 500)


def test_missing_diode_in_b_c_d_under_pwm_is_df():
    for high_mv, state in ((9000, STATE_B), (6000, STATE_C), (3000, STATE_D)):
        assert cp_state(high_mv, 0, True) == STATE_DF
        assert cp_state(high_mv, -high_mv, True) == STATE_DF
        assert cp_state(high_mv, -10999, True) == STATE_DF
        assert cp_state(high_mv, -11000, True) == state


def test_x1_has_no_negative_plateau_so_no_diode_check():
    """Steady +12 V drive (x1): the low reading is meaningless and ignored."""
    assert cp_state(9000, 0, False) == STATE_B
    assert cp_state(6000, 6000, False) == STATE_C


def test_a_and_e_are_not_diode_checked():
    """No EV in A; E is a short, which the diode cannot be asked about."""
    assert cp_state(12000, 0, True) == STATE_A
    assert cp_state(0, 0, True) == STATE_E
    assert cp_state(0, LOW_OK_MV, True) == STATE_E


def test_gap_reading_stays_invalid_even_with_bad_diode():
    assert cp_state(10200, 0, True) == STATE_INVALID


# --- IEC-DUTY: current -> duty (EVSE side) ------------------------------------


def test_annex_a_duty_6a_is_10_percent():
    assert duty_from_current(6000) == 100
    assert current_from_duty(100) == 6000


def test_annex_a_duty_10a_rounds_down_to_166():
    """10 A / 0.6 = 16.67 %: 16.6 % offers 9.96 A, never more than asked."""
    assert duty_from_current(10000) == 166
    assert current_from_duty(166) == 9960
    assert current_from_duty(167) == 10020


def test_annex_a_duty_16a_is_266_permille():
    assert duty_from_current(16000) == 266
    assert current_from_duty(266) == 15960


def test_annex_a_duty_32a_is_533_permille():
    assert duty_from_current(32000) == 533
    assert current_from_duty(533) == 31980


def test_annex_a_duty_51a_is_85_percent():
    assert duty_from_current(51000) == 850
    assert current_from_duty(850) == 51000


def test_annex_a_duty_63a_is_89_2_percent():
    """85-96 %: I = 2.5 x (duty - 64): 63 A -> 89.2 %."""
    assert duty_from_current(63000) == 892
    assert current_from_duty(892) == 63000


def test_annex_a_duty_80a_is_96_percent():
    assert duty_from_current(80000) == 960
    assert current_from_duty(960) == 80000


def test_annex_a_duty_between_51a_and_52_75a_stays_at_85_percent():
    """85.1 % already decodes to 52.75 A: anything below that gets 85 % (51 A)."""
    assert duty_from_current(51059) == 850
    assert duty_from_current(51060) == 850
    assert duty_from_current(52749) == 850
    assert duty_from_current(52750) == 851


def test_annex_a_duty_band_10_to_85_percent_steps_of_60ma():
    assert duty_from_current(6059) == 100
    assert duty_from_current(6060) == 101
    assert duty_from_current(50999) == 849


def test_annex_a_duty_band_85_to_96_percent_steps_of_250ma():
    assert duty_from_current(52999) == 851
    assert duty_from_current(53000) == 852
    assert duty_from_current(79999) == 959


def test_annex_a_minimum_offer_is_6a():
    """Below 6 A the EVSE pauses (x1) rather than offering an illegal duty."""
    for ma in (5999, 0, -1):
        with raises(ValueError):
            duty_from_current(ma)


def test_annex_a_maximum_offer_is_80a():
    with raises(ValueError):
        duty_from_current(80001)


def test_duty_never_offers_more_than_asked_and_is_the_largest_such():
    for ma in range(6000, 80001, 7):
        duty = duty_from_current(ma)
        assert 100 <= duty <= 960
        assert current_from_duty(duty) <= ma
        assert current_from_duty(duty + 1) > ma or duty == 960


def test_duty_rounding_loss_is_below_one_step():
    for ma in range(6000, 80001, 11):
        lost = ma - current_from_duty(duty_from_current(ma))
        if ma <= 51000:
            assert 0 <= lost < 60
        elif ma < 52750:
            assert lost == ma - 51000
        else:
            assert 0 <= lost < 250


def test_duty_round_trip_from_every_emittable_duty():
    """Every duty 10-96 % the firmware may emit is reproduced from its current."""
    for duty in range(100, 961):
        assert duty_from_current(current_from_duty(duty)) == duty


# --- IEC-DUTY: duty -> current (EV side) --------------------------------------


def test_annex_a_8_to_10_percent_is_6a():
    assert current_from_duty(79) == iec.DUTY_ILLEGAL
    assert current_from_duty(80) == 6000
    assert current_from_duty(99) == 6000
    assert current_from_duty(100) == 6000
    assert current_from_duty(101) == 6060


def test_annex_a_85_to_96_percent_band_edges():
    assert current_from_duty(849) == 50940
    assert current_from_duty(850) == 51000
    assert current_from_duty(851) == 52750
    assert current_from_duty(900) == 65000
    assert current_from_duty(959) == 79750
    assert current_from_duty(960) == 80000


def test_annex_a_96_to_97_percent_is_80a():
    assert current_from_duty(961) == 80000
    assert current_from_duty(970) == 80000
    assert current_from_duty(971) == iec.DUTY_ILLEGAL


def test_annex_a_5_percent_is_high_level_communication():
    assert current_from_duty(50) == iec.DUTY_HLC
    assert iec.DUTY_HLC_PERMILLE == 50


def test_annex_a_below_3_percent_and_3_to_8_percent_not_allowed():
    for duty in (1, 29, 30, 49, 51, 70, 71):
        assert current_from_duty(duty) == iec.DUTY_ILLEGAL


def test_annex_a_above_97_percent_not_allowed():
    for duty in (971, 980, 999):
        assert current_from_duty(duty) == iec.DUTY_ILLEGAL


def test_steady_levels_0_and_1000_carry_no_duty():
    """0 = steady -12 V (F), 1000 = steady +12 V (x1): no PWM, no current."""
    assert current_from_duty(0) == iec.DUTY_NO_PWM
    assert current_from_duty(1000) == iec.DUTY_NO_PWM


def test_out_of_range_duty_is_illegal_not_an_exception():
    for duty in (-1, -1000, 1001, 100000):
        assert current_from_duty(duty) == iec.DUTY_ILLEGAL


def test_decoded_current_is_monotonic_over_the_current_bands():
    prev = 0
    for duty in range(80, 971):
        ma = current_from_duty(duty)
        assert 6000 <= ma <= 80000
        assert ma >= prev
        prev = ma


def test_duty_result_codes_are_negative_and_distinct():
    codes = (iec.DUTY_ILLEGAL, iec.DUTY_HLC, iec.DUTY_NO_PWM)
    assert max(codes) < 0
    assert len(set(codes)) == 3


# --- IEC-PP: proximity resistor -> cable rating -------------------------------


def test_pp_nominal_resistors():
    """1500 Ohm 13 A, 680 Ohm 20 A, 220 Ohm 32 A, 100 Ohm 63 A."""
    assert cable_rating_ma(1500) == 13000
    assert cable_rating_ma(680) == 20000
    assert cable_rating_ma(220) == 32000
    assert cable_rating_ma(100) == 63000


def test_pp_13a_band_1100_to_2460():
    assert cable_rating_ma(1100) == 13000
    assert cable_rating_ma(2460) == 13000
    assert cable_rating_ma(2461) == PP_INVALID


def test_pp_20a_band_400_to_936():
    assert cable_rating_ma(400) == 20000
    assert cable_rating_ma(936) == 20000


def test_pp_32a_band_164_to_308():
    assert cable_rating_ma(164) == 32000
    assert cable_rating_ma(308) == 32000


def test_pp_63a_band_80_to_140():
    assert cable_rating_ma(80) == 63000
    assert cable_rating_ma(140) == 63000
    assert cable_rating_ma(79) == PP_INVALID


def test_pp_gaps_between_bands_read_as_the_lower_rating():
    """Conservative interpretation (EVerest YetiSimulator read_pp_ampacity)."""
    for ohms in (141, 163):
        assert cable_rating_ma(ohms) == 32000
    for ohms in (309, 399):
        assert cable_rating_ma(ohms) == 20000
    for ohms in (937, 1099):
        assert cable_rating_ma(ohms) == 13000


def test_pp_below_60_ohm_is_short_and_60_to_79_invalid():
    assert cable_rating_ma(0) == PP_SHORT
    assert cable_rating_ma(59) == PP_SHORT
    assert cable_rating_ma(60) == PP_INVALID


def test_pp_above_4500_ohm_is_open_and_2461_to_4500_invalid():
    assert cable_rating_ma(4500) == PP_INVALID
    assert cable_rating_ma(4501) == PP_OPEN
    assert cable_rating_ma(1000000) == PP_OPEN


def test_pp_not_fitted_or_tethered():
    """HAL pp_ohms() -1: tethered cable or PP not fitted; other negatives are bad input."""
    assert cable_rating_ma(-1) == PP_NOT_FITTED
    assert cable_rating_ma(-2) == PP_INVALID


def test_pp_codes_negative_distinct_and_rating_never_rises_with_ohms():
    codes = (PP_NOT_FITTED, PP_SHORT, PP_INVALID, PP_OPEN)
    assert max(codes) < 0 and len(set(codes)) == 4
    prev = 63000
    for ohms in range(80, 2461):
        rating = cable_rating_ma(ohms)
        assert rating in (13000, 20000, 32000, 63000)
        assert rating <= prev
        prev = rating


# --- timing facts -----------------------------------------------------------


def test_annex_a_timing_constants_in_ms():
    assert iec.CONTACTOR_OPEN_MS == 100
    assert iec.CONTACTOR_CLOSE_MS == 3000
    assert iec.X1_OPEN_MS == 6000
    assert iec.F_HOLD_MS == 300
    assert iec.DUTY_CHANGE_MIN_MS == 5000
    assert iec.EV_FOLLOW_MS == 5000


def test_annex_a_pwm_generator_facts():
    """1 kHz (980-1020 Hz), +-12 V; 6-80 A offer range."""
    assert (iec.PWM_MIN_HZ, iec.PWM_HZ, iec.PWM_MAX_HZ) == (980, 1000, 1020)
    assert iec.CP_GENERATOR_MV == 12000
    assert (iec.MIN_CURRENT_MA, iec.MAX_CURRENT_MA) == (6000, 80000)
    assert (iec.DUTY_F_PERMILLE, iec.DUTY_X1_PERMILLE) == (0, 1000)
