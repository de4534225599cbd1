# IEC 61851-1 Annex A (control pilot) and the Type 2 proximity coding, as tables
# and integer conversions shared by the firmware core, the gateway and the sim.
# Facts as collected in DESIGN.md section 8 (tester manuals and EVerest; the
# standard text is not public). Integers only: mV, mA, permille, ohms, ms.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


# --- CP states ------------------------------------------------------------
# A state is a small int whose hex digit is its letter (0x0C is state C), so it
# reads as itself in logs and link frames. x1/x2 is not part of the state: it is
# whatever the EVSE drives (steady +12 V vs 1 kHz PWM), which the caller knows.
STATE_INVALID = const(0x00)  # plateau in no band (between a +-tol band and a midpoint)
STATE_DF = const(0x01)  # diode fault: B/C/D under PWM but negative plateau not at -12 V
STATE_A = const(0x0A)  # +12 V: no EV
STATE_B = const(0x0B)  # +9 V: EV connected (2.74 kOhm)
STATE_C = const(0x0C)  # +6 V: EV ready, charging (882 Ohm total)
STATE_D = const(0x0D)  # +3 V: EV ready, ventilation required (246 Ohm total)
STATE_E = const(0x0E)  # 0 V: CP shorted to PE or EVSE problem
STATE_F = const(0x0F)  # -12 V steady: EVSE not available

STATE_NAMES = {
    STATE_INVALID: "INVALID",
    STATE_DF: "DF",
    STATE_A: "A",
    STATE_B: "B",
    STATE_C: "C",
    STATE_D: "D",
    STATE_E: "E",
    STATE_F: "F",
}

CP_TOLERANCE_MV = const(1000)  # Annex A: +-1 V around nominal is the common band
CP_GENERATOR_MV = const(12000)  # generator +-12 V (+-5 %) through 1 kOhm

# Midpoints 10.5 / 7.5 / 4.5 / 1.5 V split A/B/C/D/E; -6 V (half way to the
# -12 V of F) splits E/F. Row i of _CP_STATES spans from _CP_MIDPOINT_MV[i]
# up to the row above; the last row (F) takes everything below -6 V.
_CP_MIDPOINT_MV = (10500, 7500, 4500, 1500, -6000)
_CP_NOMINAL_MV = (12000, 9000, 6000, 3000, 0, -12000)
_CP_STATES = (STATE_A, STATE_B, STATE_C, STATE_D, STATE_E, STATE_F)


def _row(high_mv):
    i = 0
    for midpoint_mv in _CP_MIDPOINT_MV:
        if high_mv >= midpoint_mv:
            return i
        i += 1
    return i


def nearest_state(high_mv):
    """State whose midpoint band holds high_mv, with no tolerance check: for
    diagnostics ("B, out of tolerance"), never to act on."""
    return _CP_STATES[_row(high_mv)]


def cp_state(high_mv, low_mv, pwm_on, tol_mv=CP_TOLERANCE_MV):
    """CP plateau voltages -> STATE_A..STATE_F, STATE_DF or STATE_INVALID.

    high_mv is the positive plateau (the steady level when no PWM runs). A
    plateau in a band gap, i.e. more than tol_mv from the nominal of the state
    its midpoint band gives, is STATE_INVALID, never a firm state: the caller
    keeps its previous state and treats a lasting INVALID as a fault (it may log
    nearest_state() for the reason). With tol_mv of 1500 the A..E gaps close
    (pure midpoint splitting); more than tol_mv above A, below F or away from
    both E and F stays INVALID.

    pwm_on: the EVSE drives the 1 kHz PWM (x2). Only then does a negative
    plateau exist, and in B/C/D it must show the EV's diode (diode_ok), else
    STATE_DF. With x1 (steady +12 V) or F, low_mv is ignored.
    """
    i = _row(high_mv)
    nominal_mv = _CP_NOMINAL_MV[i]
    if high_mv - nominal_mv > tol_mv or nominal_mv - high_mv > tol_mv:
        return STATE_INVALID
    state = _CP_STATES[i]
    if pwm_on and STATE_B <= state <= STATE_D and not diode_ok(low_mv, tol_mv):
        return STATE_DF
    return state


def diode_ok(low_mv, tol_mv=CP_TOLERANCE_MV):
    """Negative PWM plateau within tol_mv of -12 V: the EV's diode blocks, so
    the generator's -12 V reaches the line. Near 0 V (or an EV resistor's
    voltage) means a shorted or missing diode: do not close the contactor.
    Only meaningful while the EVSE drives PWM."""
    return -CP_GENERATOR_MV - tol_mv <= low_mv <= -CP_GENERATOR_MV + tol_mv


# --- Duty cycle <-> current (Annex A) --------------------------------------
# set_pwm(duty_permille): 0 = steady -12 V (F), 1000 = steady +12 V (x1),
# 1..999 = 1 kHz PWM. Currents in mA per phase.
MIN_CURRENT_MA = const(6000)  # lowest offer; below it the EVSE pauses (x1)
MAX_CURRENT_MA = const(80000)  # 96-97 % duty
DUTY_HLC_PERMILLE = const(50)  # 5 %: high-level communication required
DUTY_F_PERMILLE = const(0)  # steady -12 V
DUTY_X1_PERMILLE = const(1000)  # steady +12 V

# current_from_duty results that are not currents (all negative)
DUTY_ILLEGAL = const(-1)  # not allowed for current: <3 %, 3-8 % except 5 %, >97 %
DUTY_HLC = const(-2)  # 5 %: current comes over high-level communication
DUTY_NO_PWM = const(-3)  # 0 or 1000: steady F / x1 level, no duty at all

_DUTY_LOW_BAND_TOP = const(850)  # 85 %: end of I = 0.6 x duty
_DUTY_HIGH_BAND_TOP = const(960)  # 96 %: end of I = 2.5 x (duty - 64)


def current_from_duty(duty_permille):
    """Maximum current (mA) an EV may draw at this duty, as an EV decodes it:
      80..99 permille (8-10 %)        -> 6000
      100..850 (10-85 %)              -> 60 x duty        (0.6 A per %)
      851..960 (85-96 %)              -> 250 x duty - 160000 (2.5 x (% - 64) A)
      961..970 (96-97 %)              -> 80000
      50 (5 %)                        -> DUTY_HLC
      0 and 1000 (steady -12/+12 V)   -> DUTY_NO_PWM (F / x1: no current offered)
      every other value, incl. <0 or >1000 -> DUTY_ILLEGAL
    Exact: every result is a whole mA. 5 % is decoded exactly because the
    firmware emits exactly 50; a measured duty should be rounded first (testers
    accept 4.5-5.5 %)."""
    if 100 <= duty_permille <= _DUTY_LOW_BAND_TOP:
        return 60 * duty_permille
    if _DUTY_LOW_BAND_TOP < duty_permille <= _DUTY_HIGH_BAND_TOP:
        return 250 * duty_permille - 160000
    if 80 <= duty_permille < 100:
        return MIN_CURRENT_MA
    if _DUTY_HIGH_BAND_TOP < duty_permille <= 970:
        return MAX_CURRENT_MA
    if duty_permille == DUTY_HLC_PERMILLE:
        return DUTY_HLC
    if duty_permille == DUTY_F_PERMILLE or duty_permille == DUTY_X1_PERMILLE:
        return DUTY_NO_PWM
    return DUTY_ILLEGAL


def duty_from_current(current_ma):
    """Duty (permille) the EVSE emits to offer current_ma: the largest duty
    whose decoded current is <= current_ma, so the EV is never offered more
    than asked (6000..6059 -> 100, 10000 -> 166 = 9960 mA, 16000 -> 266,
    32000 -> 533, 51000..52749 -> 850, 63000 -> 892, 80000 -> 960).
    current_from_duty(duty_from_current(i)) <= i always, and
    duty_from_current(current_from_duty(d)) == d for d in 100..960.

    ValueError below 6 A (the caller pauses with x1 instead of an illegal
    duty) and above 80 A (the caller's limits must never ask for it)."""
    if current_ma < MIN_CURRENT_MA:
        raise ValueError("current_ma below the 6000 mA Annex A minimum: pause (x1) instead")
    if current_ma > MAX_CURRENT_MA:
        raise ValueError("current_ma above the 80000 mA Annex A maximum")
    duty = (current_ma + 160000) // 250  # 85-96 % band: I = 2.5 x (% - 64)
    if duty > _DUTY_LOW_BAND_TOP:
        return duty
    duty = current_ma // 60  # 10-85 % band: I = 0.6 x %
    if duty > _DUTY_LOW_BAND_TOP:
        return _DUTY_LOW_BAND_TOP  # 51.00..52.749 A: 85 % (51 A) is the best not above
    return duty


# --- Proximity pilot, Type 2 (IEC 61851-1 Annex B, Rc between PP and PE) ----
# Bands of DESIGN section 8: 1500 Ohm 13 A (1100-2460), 680 Ohm 20 A (400-936),
# 220 Ohm 32 A (164-308), 100 Ohm 63 A (80-140). A value in the gap between two
# bands is read as the lower rating (the higher-resistance neighbour), the
# "conservative interpretation of the resistance ranges" of EVerest
# (everest-core modules/Simulation/YetiSimulator, read_pp_ampacity). Below the
# 63 A band or above the 13 A band there is no lower rating to fall back to,
# so those are errors. 100 Ohm is 63 A here even on one phase (EVerest allows
# 70 A single-phase); the conservative value is what the offer caps at.
PP_NOT_FITTED = const(-1)  # pp_ohms() -1: tethered or no PP: caller uses tethered_cable_ma
PP_SHORT = const(-2)  # below 60 Ohm: PP shorted to PE
PP_INVALID = const(-3)  # 60-79 or 2461-4500 Ohm, or a negative reading other than -1
PP_OPEN = const(-4)  # above 4500 Ohm: no plug in the socket, or Rc broken

# (highest ohms of the row, rating mA or error code), ascending
_PP_TABLE = (
    (59, PP_SHORT),
    (79, PP_INVALID),
    (140, 63000),
    (308, 32000),
    (936, 20000),
    (2460, 13000),
    (4500, PP_INVALID),
)


def cable_rating_ma(pp_ohms):
    """Cable current rating (mA) coded by the PP resistor, or a negative code
    (PP_NOT_FITTED, PP_SHORT, PP_INVALID, PP_OPEN); never raises. Every
    negative result means: no current may be offered on the strength of this
    cable, except PP_NOT_FITTED, where the caller applies its tethered rating."""
    if pp_ohms == -1:
        return PP_NOT_FITTED
    if pp_ohms < 0:
        return PP_INVALID
    for top_ohms, rating in _PP_TABLE:
        if pp_ohms <= top_ohms:
            return rating
    return PP_OPEN


# --- Timing (Annex A, DESIGN section 8), all in ms ---------------------------
CONTACTOR_OPEN_MS = const(100)  # open within 100 ms once the EV leaves C/D
CONTACTOR_CLOSE_MS = const(3000)  # close within 3 s of B2 -> C2
X1_OPEN_MS = const(6000)  # PWM off (x1) and the EV stays in C: open after at least 6 s
F_HOLD_MS = const(300)  # hold state F at least 300 ms after a fault
DUTY_CHANGE_MIN_MS = const(5000)  # load-driven duty changes at most every 5 s
EV_FOLLOW_MS = const(5000)  # the EV gets about 5 s to follow a new duty
PWM_HZ = const(1000)
PWM_MIN_HZ = const(980)
PWM_MAX_HZ = const(1020)
