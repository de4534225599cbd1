# The control pilot as the core sees it: raw plateau voltages from the board
# -> a debounced IEC 61851-1 Annex A state (IEC-STATE, IEC-DIODE). The bands
# and the diode test live in protocols/iec61851.py; this module adds time:
# a state is taken only when two readings in a row agree, so a leave-C edge
# reaches the session within two ticks (P1), and a reading in no band keeps
# the last firm state until it has lasted INVALID_FAULT_MS, then is a fault.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from protocols import iec61851

_CONFIRM_READS = const(2)
INVALID_FAULT_MS = const(500)  # longer than any plug/unplug bounce seen on real sockets


class Pilot:
    def __init__(self):
        self.state = iec61851.STATE_INVALID  # last firm state; none before two readings
        self.high_mv = 0
        self.low_mv = 0
        self.invalid_since_ms = -1  # ticks of the first INVALID reading of a run, -1 none
        self.invalid_fault = False  # readings in no band for INVALID_FAULT_MS
        self._candidate = iec61851.STATE_INVALID
        self._seen = 0
        self.diode_reads = 0  # readings in a row under PWM that showed the diode (IEC-DIODE)

    def read_in_f(self, board):
        """While the EVSE drives F (steady -12 V) the line says nothing about
        the EV (without a diode it even sits at a resistive -5 V): record the
        voltages and report F, so that after F the EV's state is read afresh."""
        self.high_mv = board.cp_high_mv()
        self.low_mv = board.cp_low_mv()
        self.state = iec61851.STATE_F
        self._candidate = iec61851.STATE_F
        self.diode_reads = 0
        self.invalid_since_ms = -1
        self.invalid_fault = False
        self._seen = 0
        return self.state

    def read(self, board, now_ms, pwm_on):
        """Sample the board and return the firm state (one of STATE_A..F, or
        STATE_DF while a PWM negative plateau shows a missing diode)."""
        high_mv = board.cp_high_mv()
        low_mv = board.cp_low_mv()
        self.high_mv = high_mv
        self.low_mv = low_mv
        raw = iec61851.cp_state(high_mv, low_mv, pwm_on)
        if pwm_on and iec61851.STATE_B <= raw <= iec61851.STATE_D:
            if self.diode_reads < _CONFIRM_READS:
                self.diode_reads += 1
        else:
            self.diode_reads = 0
        if raw == iec61851.STATE_INVALID:
            if self.invalid_since_ms < 0:
                self.invalid_since_ms = now_ms
            elif now_ms - self.invalid_since_ms >= INVALID_FAULT_MS:
                self.invalid_fault = True
            self._seen = 0
            return self.state
        self.invalid_since_ms = -1
        self.invalid_fault = False
        if raw == self._candidate:
            if self._seen < _CONFIRM_READS:
                self._seen += 1
        else:
            self._candidate = raw
            self._seen = 1
        if self._seen >= _CONFIRM_READS:
            self.state = raw
        return self.state

    def diode_checked(self):
        """The last readings under PWM showed the EV's diode: the contactor may close."""
        return self.diode_reads >= _CONFIRM_READS
