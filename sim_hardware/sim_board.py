# The sim board: the Board contract (firmware/hal/base.py) on virtual time,
# with an electrical model of the control pilot, for the control core's tests
# on CPython and on the MicroPython VM. MicroPython subset: no floats, no
# CPython-only imports. The full emulator (meters, mains, scenarios, fleet) is
# its own issue and builds on this.
#
# Control pilot (IEC 61851-1 Annex A, DESIGN §8): the EVSE's generator drives
# +-12 V through R_SOURCE_OHMS (1 kOhm). The EV loads the line with a diode in
# series with its resistance to PE (2.74 kOhm in B; 882 Ohm total in C; 246 Ohm
# total in D). On the positive half the diode conducts:
#     V+ = Vd + (Vgen - Vd) * R_ev / (R_ev + 1 kOhm)       (Vd = 700 mV)
# which gives the nominal 9 / 6 / 3 V of states B / C / D. On the negative half
# the diode blocks, so the line shows the generator's -12 V. Without the diode
# (removed or shorted) both halves divide resistively: V = Vgen * R_ev / (R_ev + 1k).
# A short to PE (state E) holds the line at 0 V. Integer mV throughout.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from hal.base import (
    FEEDBACK_NOT_FITTED,
    IND_COUNT,
    IND_OFF,
    PP_NOT_FITTED,
    PP_OPEN_OHMS,
    RESET_POWER_ON,
    RESET_SOFT,
    RESET_WATCHDOG,
    TAMPER_CLOSED,
    TAMPER_NOT_FITTED,
    TAMPER_OPEN,
    Board,
)

R_SOURCE_OHMS = const(1000)
GENERATOR_MV = const(12000)
DIODE_DROP_MV = const(700)
NO_EV = const(0)  # EV resistance 0: nothing connected (state A)
EV_OHMS = {"A": NO_EV, "B": 2740, "C": 882, "D": 246}
_PARITY = ("N", "E", "O")


def _divide(gen_mv, r_ev_ohms):
    """The generator's gen_mv through R_SOURCE into r_ev_ohms, rounded toward 0."""
    if gen_mv < 0:
        return -(-gen_mv * r_ev_ohms // (r_ev_ohms + R_SOURCE_OHMS))
    return gen_mv * r_ev_ohms // (r_ev_ohms + R_SOURCE_OHMS)


class _Port:
    """A serial port seen from the test side: rx holds bytes the firmware has
    yet to read (from pos on), tx the bytes it wrote."""

    def __init__(self):
        self.rx = bytearray()
        self.pos = 0
        self.tx = bytearray()

    def read(self, buf):
        n = len(self.rx) - self.pos
        if n <= 0:
            return 0
        if n > len(buf):
            n = len(buf)
        rx = self.rx
        pos = self.pos
        for i in range(n):
            buf[i] = rx[pos + i]
        self.pos = pos + n
        if self.pos >= len(rx):  # all taken: start afresh
            self.rx = bytearray()
            self.pos = 0
        return n

    def take(self):
        out = bytes(self.tx)
        self.tx = bytearray()
        return out


class SimBoard(Board):
    """Board contract on virtual time. Test-side helpers change the world:
    advance(ms); plug / unplug / set_ev_state / set_ev_ohms / remove_diode /
    short_cp / force_cp; set_pp_ohms; weld / fail_to_close / repair; trip_rcd;
    set_button; set_tamper; link_inject / link_take; meter_inject / meter_take (or
    meter_device, a function frame -> reply); power_cut / reboot /
    watchdog_reset. What the firmware did is in pwm_log, contactor_log and
    indicator_log as (now_ms, value) and in the duty_permille, contactor_cmd,
    indicator, wdt_feeds and storage attributes."""

    def __init__(self, seed=1, pp_fitted=True, feedback_fitted=True, close_ms=30,
                 open_ms=20, logs=True, tamper_fitted=True):
        self.now_ms = 0  # virtual time since the sim started; survives resets
        self._boot_ms = 0  # now_ms at the last (re)start: ticks_ms() counts from it
        self._rng = (seed & 0xFFFFFFFF) or 1  # xorshift32 state, never 0
        # control pilot
        self.gen_pos_mv = GENERATOR_MV  # the generator's levels (tests may set +-5 %)
        self.gen_neg_mv = -GENERATOR_MV
        self.diode_drop_mv = DIODE_DROP_MV
        self.duty_permille = 0  # the CP driver input is pulled down: F until set
        self._ev_ohms = NO_EV
        self._diode = True
        self._short = False
        self._forced = False
        self._forced_high_mv = 0
        self._forced_low_mv = 0
        # proximity
        self.pp_fitted = pp_fitted
        self._pp_ohms = PP_OPEN_OHMS
        # contactor: commanded state, contacts, their timing and faults
        self.feedback_fitted = feedback_fitted
        self.close_ms = close_ms
        self.open_ms = open_ms
        self.contactor_cmd = 0
        self._cmd_ms = 0
        self._contacts = 0
        self._welded = False
        self._fails_to_close = False
        # the power side, written by the EV and mains models and read by the
        # meter emulators: per-phase current through the contactor (negative
        # when the EV exports), mains voltage per phase and frequency
        self.ev_current_ma = [0, 0, 0]
        self.mains_mv = [230000, 230000, 230000]
        self.mains_mhz = 50000
        # inputs and outputs
        self.rcd = 0
        self.button = 0
        self.tamper_fitted = tamper_fitted
        self.lid_open = 0  # the enclosure's lid (UK Schedule 1 para 8 tamper switch)
        self.indicator = IND_OFF
        self.logs = logs
        self.pwm_log = []
        self.contactor_log = []
        self.indicator_log = []
        # ports
        self._link = _Port()
        self._meter = _Port()
        self.meter_device = None
        self.meter_baud = 9600
        self.meter_parity = "N"
        # persistence and supervision
        self.storage = {}
        self.storage_writes = 0
        self.wdt_feeds = 0
        self.last_wdt_ms = -1
        self._reset_cause = RESET_POWER_ON
        self.resets = 0

    # -- virtual time and restarts ------------------------------------------
    def advance(self, ms):
        if ms < 0:
            raise ValueError("time only moves forward")
        self.now_ms += ms

    def power_cut(self, off_ms=0):
        """Mains lost for off_ms, then restored: a power-on start (AG-13)."""
        self._restart(RESET_POWER_ON, off_ms)

    def reboot(self):
        """Software reset (machine.reset())."""
        self._restart(RESET_SOFT, 0)

    def watchdog_reset(self):
        """The hardware watchdog expired."""
        self._restart(RESET_WATCHDOG, 0)

    def _restart(self, cause, off_ms):
        # The MCU's outputs fall to their reset levels: the contactor coil is
        # released and the CP driver input is pulled down (state F). Storage,
        # the EV, the cable and the button stay as they are; UART buffers are lost.
        self.set_contactor(0)
        self.set_pwm(0)
        self.set_indicator(IND_OFF)
        self.advance(off_ms)
        self._boot_ms = self.now_ms
        self._reset_cause = cause
        self.resets += 1
        self._link = _Port()
        self._meter = _Port()
        self.wdt_feeds = 0
        self.last_wdt_ms = -1

    # -- the EV and the cable (test side) ---------------------------------------
    def plug(self, state="B", pp_ohms=None):
        """An EV is plugged in, in state B, C or D; pp_ohms is the cable's Rc."""
        self.set_ev_state(state)
        if pp_ohms is not None:
            self.set_pp_ohms(pp_ohms)

    def unplug(self):
        """The EV leaves (state A) and the socket is empty; a new EV has its diode."""
        self.set_ev_state("A")
        self._diode = True
        self._pp_ohms = PP_OPEN_OHMS

    def set_ev_state(self, state):
        if state not in EV_OHMS:
            raise ValueError("EV state must be A, B, C or D")
        self._ev_ohms = EV_OHMS[state]

    def set_ev_ohms(self, ohms):
        """Any EV resistance (NO_EV = none): CP levels between the bands."""
        if ohms < 0:
            raise ValueError("EV resistance must be >= 0")
        self._ev_ohms = ohms

    def remove_diode(self):
        """The EV's diode is missing or shorted (IEC-DIODE)."""
        self._diode = False

    def restore_diode(self):
        self._diode = True

    def short_cp(self):
        """CP shorted to PE: state E, 0 V on both plateaus."""
        self._short = True

    def clear_short(self):
        self._short = False

    def force_cp(self, high_mv, low_mv):
        """Report these plateau voltages whatever the model says."""
        self._forced = True
        self._forced_high_mv = high_mv
        self._forced_low_mv = low_mv

    def release_cp(self):
        self._forced = False

    def set_pp_ohms(self, ohms):
        self._pp_ohms = ohms

    # -- contactor, RCD, button (test side) ---------------------------------------
    def weld(self):
        """The contacts weld: once closed they stay closed whatever the coil does."""
        self._welded = True

    def fail_to_close(self):
        """The contactor no longer closes (coil open, supply missing)."""
        self._fails_to_close = True

    def repair(self):
        self._welded = False
        self._fails_to_close = False

    def contacts_closed(self):
        """The main contacts as they physically are (1 closed, 0 open)."""
        target = 0 if self._fails_to_close else self.contactor_cmd
        if self._contacts != target:
            if self._contacts and self._welded:
                return 1
            delay_ms = self.close_ms if target else self.open_ms
            if self.now_ms - self._cmd_ms >= delay_ms:
                self._contacts = target
        return self._contacts

    def trip_rcd(self):
        self.rcd = 1

    def clear_rcd(self):
        self.rcd = 0

    def set_button(self, pressed):
        self.button = 1 if pressed else 0

    def set_tamper(self, lid_open):
        self.lid_open = 1 if lid_open else 0

    # -- ports (test side) -------------------------------------------------------------
    def link_inject(self, data):
        """Bytes from the gateway, readable by link_read()."""
        self._link.rx.extend(data)

    def link_take(self):
        """Everything the firmware wrote to the link since the last take."""
        return self._link.take()

    def meter_inject(self, data):
        """Bytes from the meter, readable by meter_read()."""
        self._meter.rx.extend(data)

    def meter_take(self):
        """Everything the firmware sent on RS-485 since the last take."""
        return self._meter.take()

    def meter_configure(self, baud, parity):
        """As the real boards' (not in the Board contract)."""
        if not 1200 <= baud <= 115200 or parity not in _PARITY:
            raise ValueError("meter baud 1200..115200, parity N/E/O")
        self.meter_baud = baud
        self.meter_parity = parity

    # -- the Board contract -----------------------------------------------------------
    def ticks_ms(self):
        return self.now_ms - self._boot_ms

    def random_u32(self):
        # xorshift32 (Marsaglia 2003): deterministic for a seed, never 0
        x = self._rng
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._rng = x
        return x

    def set_pwm(self, duty_permille):
        if duty_permille < 0 or duty_permille > 1000:
            raise ValueError("duty_permille must be 0..1000")
        if duty_permille != self.duty_permille:
            self.duty_permille = duty_permille
            if self.logs:
                self.pwm_log.append((self.now_ms, duty_permille))

    def _line_mv(self, gen_mv):
        """Pilot-line voltage while the generator drives gen_mv (see the top)."""
        if self._short:
            return 0
        r = self._ev_ohms
        if r == NO_EV:
            return gen_mv
        if not self._diode:
            return _divide(gen_mv, r)
        drop = self.diode_drop_mv
        if gen_mv <= drop:
            return gen_mv  # the diode blocks: no current, the line shows the generator
        return drop + _divide(gen_mv - drop, r)

    def cp_high_mv(self):
        if self._forced:
            return self._forced_high_mv
        if self.duty_permille == 0:
            return self._line_mv(self.gen_neg_mv)  # steady -12 V (F): no positive plateau
        return self._line_mv(self.gen_pos_mv)

    def cp_low_mv(self):
        if self._forced:
            return self._forced_low_mv
        if self.duty_permille == 1000:
            return self._line_mv(self.gen_pos_mv)  # steady +12 V (x1): no negative plateau
        return self._line_mv(self.gen_neg_mv)

    def pp_ohms(self):
        if not self.pp_fitted:
            return PP_NOT_FITTED
        return self._pp_ohms

    def set_contactor(self, closed):
        c = 1 if closed else 0
        if c != self.contactor_cmd:
            self.contacts_closed()  # settle the contacts under the old command first
            self.contactor_cmd = c
            self._cmd_ms = self.now_ms
            if self.logs:
                self.contactor_log.append((self.now_ms, c))

    def contactor_feedback(self):
        if not self.feedback_fitted:
            return FEEDBACK_NOT_FITTED
        return self.contacts_closed()

    def rcd_fault(self):
        return self.rcd

    def button_pressed(self):
        return self.button

    def tamper(self):
        if not self.tamper_fitted:
            return TAMPER_NOT_FITTED
        return TAMPER_OPEN if self.lid_open else TAMPER_CLOSED

    def set_indicator(self, code):
        if code < 0 or code >= IND_COUNT:
            raise ValueError("indicator code must be one of hal.base IND_*")
        if code != self.indicator:
            self.indicator = code
            if self.logs:
                self.indicator_log.append((self.now_ms, code))

    def link_read(self, buf):
        return self._link.read(buf)

    def link_write(self, data):
        self._link.tx.extend(data)
        return len(data)

    def meter_read(self, buf):
        return self._meter.read(buf)

    def meter_write(self, data):
        self._meter.tx.extend(data)
        if self.meter_device is not None:
            reply = self.meter_device(bytes(data))
            if reply:
                self.meter_inject(reply)
        return len(data)

    def storage_read(self, name):
        _check_name(name)
        return self.storage.get(name)

    def storage_write(self, name, data):
        _check_name(name)
        self.storage[name] = bytes(data)  # atomic: the old or the new, never half
        self.storage_writes += 1

    def wdt_feed(self):
        self.wdt_feeds += 1
        self.last_wdt_ms = self.now_ms

    def reset_cause(self):
        return self._reset_cause


def _check_name(name):
    if not name or "/" in name:
        raise ValueError("storage name must be a plain file name")
