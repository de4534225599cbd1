# The EVSE state machine of IEC 61851-1 Annex A as one table.
#
# The session state says what the EVSE drives (x1 steady +12 V, x2 PWM, F
# steady -12 V) and whether the contactor is closed. Each tick the controller
# hands step() the debounced pilot state, whether a current may be offered
# now (limits, delay, availability) and whether a fault is present; the table
# gives the next state. Timers (X1 6 s, F hold 300 ms) re-enter the machine
# through the same step() with no new input, the EVerest way.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from protocols import iec61851
from protocols import link_messages as lm

IDLE = const(0)  # A: no EV; x1, contactor open
CONNECTED = const(1)  # B1/C1 with nothing offered: x1, contactor open
OFFERED = const(2)  # B2: PWM offer, EV not asking yet; contactor open
CHARGING = const(3)  # C2 (or D2 when ventilation is allowed): PWM, contactor closed
PAUSING = const(4)  # offer withdrawn while the EV is in C: x1, contactor closed up to X1_OPEN_MS
SUSPENDED = const(5)  # EV still in C after X1_OPEN_MS, or refused D: x1, contactor open
FAULT = const(6)  # F: steady -12 V, contactor open, held at least F_HOLD_MS
UNAVAILABLE = const(7)  # F by command (ChangeAvailability Inoperative)

NAMES = lm.EVSE_STATES  # by the constants above; EV_STATE events carry them (LINK.md)

# What each state drives: 0 x1, 1 PWM at the offered duty, 2 F; and the contactor.
DRIVE_X1 = const(0)
DRIVE_PWM = const(1)
DRIVE_F = const(2)
DRIVE = (DRIVE_X1, DRIVE_X1, DRIVE_PWM, DRIVE_PWM, DRIVE_X1, DRIVE_X1, DRIVE_F, DRIVE_F)
CONTACTOR = (0, 0, 0, 1, 1, 0, 0, 0)

# Pilot input columns. D is folded into C when ventilation is allowed, else
# into D_REFUSED (no offer, never closes: IEC 61851-1 Annex A, state D needs
# ventilation the installation must provide).
_COL_A = const(0)
_COL_B = const(1)
_COL_C = const(2)
_COL_D_REFUSED = const(3)
_NCOL = const(4)

# TABLE[state * _NCOL + col] = (next state with an offer, next state without one)
# Faults (E, diode, RCD, contactor feedback, pilot in no band) and F hold are
# handled in step() before the table: they win over every row.
TABLE = (
    # IDLE
    (IDLE, IDLE),  # A: nothing plugged
    (OFFERED, CONNECTED),  # A->B plug-in; B1->B2 when an offer exists
    (OFFERED, CONNECTED),  # A->C: EV plugged in already asking; offer first (B2)
    (SUSPENDED, SUSPENDED),  # A->D without ventilation: never offer
    # CONNECTED (B1 / C1)
    (IDLE, IDLE),  # B1->A unplug
    (OFFERED, CONNECTED),  # B1->B2: offer starts (PWM on)
    (OFFERED, CONNECTED),  # C1->C2 goes through the PWM offer and the diode check first
    (SUSPENDED, SUSPENDED),
    # OFFERED (B2)
    (IDLE, IDLE),  # B2->A unplug
    (OFFERED, CONNECTED),  # B2 waits for the EV; withdrawn offer -> B1
    (CHARGING, CONNECTED),  # B2->C2: EV asks, close the contactor (IEC-CLOSE, within 3 s)
    (SUSPENDED, SUSPENDED),  # B2->D without ventilation: refuse
    # CHARGING (C2)
    (IDLE, IDLE),  # C2->A: open at once (IEC-OPEN, within 100 ms)
    (OFFERED, CONNECTED),  # C2->B2: EV stops asking, open at once (IEC-OPEN)
    (CHARGING, PAUSING),  # C2 stays; offer withdrawn -> C1 (x1), EV must stop drawing
    (SUSPENDED, SUSPENDED),  # C->D without ventilation: open at once
    # PAUSING (C1, contactor still closed, X1 timer running)
    (IDLE, IDLE),  # C1->A
    (OFFERED, CONNECTED),  # C1->B1: EV followed the pause; open
    (CHARGING, PAUSING),  # still C: back to C2 if the offer returns; X1 timer in step()
    (SUSPENDED, SUSPENDED),
    # SUSPENDED (EV in C/D with no offer and the contactor open)
    (IDLE, IDLE),
    (OFFERED, CONNECTED),
    (OFFERED, SUSPENDED),  # offer returns: PWM again (diode re-checked) before closing
    (SUSPENDED, SUSPENDED),
)

# Fault codes are the link's FAULT_* (protocols/link_messages.py), 0 = none.
F_NONE = const(0)
_REPEAT_WINDOW_MS = const(60000)  # the same fault again within a minute of recovery: hold longer
_MAX_HOLD_MS = const(30000)


def column(cp_state, allow_ventilation):
    if cp_state == iec61851.STATE_A:
        return _COL_A
    if cp_state == iec61851.STATE_B:
        return _COL_B
    if cp_state == iec61851.STATE_C:
        return _COL_C
    if cp_state == iec61851.STATE_D:
        return _COL_C if allow_ventilation else _COL_D_REFUSED
    return -1  # E, F, DF: faults, handled before the table


class Session:
    def __init__(self, now_ms):
        self.state = IDLE
        self.since_ms = now_ms  # when the current state was entered
        self.fault = F_NONE
        self.last_fault = F_NONE
        self.recovered_ms = now_ms  # when the last fault was left
        self.hold_ms = iec61851.F_HOLD_MS  # doubles for each repeat of the same fault, to 30 s

    def _enter(self, state, now_ms):
        if state != self.state:
            self.state = state
            self.since_ms = now_ms

    def step(self, now_ms, cp_state, offer, fault, allow_ventilation, available,
             diode_checked=True):
        """One transition. fault is a FAULT_ code found by the controller (RCD,
        contactor feedback, pilot, cable) or F_NONE; the pilot's E and DF are turned
        into faults here. diode_checked: the pilot has seen the EV's diode under
        PWM since the offer started; without it the contactor does not close.
        Returns the new state."""
        state = self.state
        # E and DF come from the pilot, which says nothing while the EVSE drives F.
        if fault == F_NONE and state != FAULT and state != UNAVAILABLE:
            if cp_state == iec61851.STATE_E:
                fault = lm.FAULT_CP_SHORT
            elif cp_state == iec61851.STATE_DF:
                fault = lm.FAULT_DIODE
        if fault != F_NONE:
            # Any fault: F at once, contactor open (Annex A: state E/F).
            if state != FAULT:
                if fault == self.last_fault and now_ms - self.recovered_ms < _REPEAT_WINDOW_MS:
                    self.hold_ms = min(self.hold_ms * 2, _MAX_HOLD_MS)
                else:
                    self.hold_ms = iec61851.F_HOLD_MS
            self.fault = fault
            self.last_fault = fault
            self._enter(FAULT, now_ms)
            return self.state
        if state == FAULT:
            # Held in F for hold_ms (F_HOLD_MS, longer for a fault that keeps
            # coming back) and until the cause has gone; then x1 to read the EV again.
            if now_ms - self.since_ms < self.hold_ms:
                return state
            self.fault = F_NONE
            self.recovered_ms = now_ms
            self._enter(IDLE, now_ms)
            return self.state
        if not available:
            self._enter(UNAVAILABLE, now_ms)
            return self.state
        if state == UNAVAILABLE:
            self._enter(IDLE, now_ms)
            state = IDLE
        col = column(cp_state, allow_ventilation)
        if col < 0:
            return state  # F read back while we drive x1/PWM cannot be; keep state
        row = TABLE[state * _NCOL + col]
        nxt = row[0] if offer else row[1]
        if nxt == CHARGING and not CONTACTOR[state] and not diode_checked:
            nxt = state  # IEC-DIODE: close only after PWM readings showed the diode
        if nxt == PAUSING and state == PAUSING and now_ms - self.since_ms >= iec61851.X1_OPEN_MS:
            nxt = SUSPENDED  # IEC-X1: EV stayed in C 6 s after PWM stopped: open anyway
        self._enter(nxt, now_ms)
        return self.state
