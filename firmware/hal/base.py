# The Board contract (DESIGN §3.1): everything the control core asks of the
# hardware. hal/esp32.py, hal/rp2040.py and sim_hardware/sim_board.py
# implement it; the core (firmware/evse/) sees nothing else of the board.
#
# Every value is an int (no floats, no tuples): a steady control tick must not
# allocate, and the boards have single-precision floats only. Methods the core
# calls every tick (ticks_ms, cp_high_mv, cp_low_mv, pp_ohms,
# contactor_feedback, rcd_fault, button_pressed, tamper, set_pwm, set_contactor,
# set_indicator, link_read / meter_read with nothing pending, wdt_feed) must
# not allocate either.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


# reset_cause() values
RESET_POWER_ON = const(0)  # power applied or restored (mains loss, brown-out): AG-13
RESET_WATCHDOG = const(1)  # the hardware watchdog expired
RESET_SOFT = const(2)  # asked for by software (machine.reset(), the crash handler)
RESET_OTHER = const(3)  # anything else (deep-sleep wake, unknown); docs/hardware.md

# pp_ohms() special values; an open PP (no plug in the socket) reads as a
# large resistance, at most PP_OPEN_OHMS (IEC 61851-1: above 4500 Ohm = error)
PP_NOT_FITTED = const(-1)  # tethered cable or no PP circuit: use tethered_cable_ma
PP_OPEN_OHMS = const(100000)

# contactor_feedback() values
FEEDBACK_OPEN = const(0)
FEEDBACK_CLOSED = const(1)
FEEDBACK_NOT_FITTED = const(-1)

# tamper() values (UK Schedule 1 para 8: the enclosure's lid switch)
TAMPER_CLOSED = const(0)
TAMPER_OPEN = const(1)
TAMPER_NOT_FITTED = const(-1)

# set_indicator(code) codes. The real boards show them on an RGB LED (colour
# in the comment, docs/hardware.md); the sim board records them.
IND_OFF = const(0)  # off: booting
IND_READY = const(1)  # green: available, no EV (state A)
IND_CONNECTED = const(2)  # cyan: EV connected, not charging (B)
IND_CHARGING = const(3)  # blue: charging (C/D, contactor closed)
IND_PAUSED = const(4)  # yellow: paused by a limit below 6 A or a no-charge window
IND_DELAYED = const(5)  # magenta: idle after power restoration / randomised delay
IND_OVERRIDE = const(6)  # white: manual override active
IND_FAULT = const(7)  # red: fault (F, E, diode, RCD, contactor, unavailable)
IND_COUNT = const(8)


class Board:
    """The contract. A subclass overrides every method; the base raises
    NotImplementedError so a missing one fails loudly, never silently."""

    def ticks_ms(self):
        """Monotonic milliseconds since boot as an int. The board hides the
        wrap-around of the port's ticks: the value only ever grows."""
        raise NotImplementedError("ticks_ms")

    def random_u32(self):
        """32 bits of hardware or OS entropy as an int in [0, 2**32)."""
        raise NotImplementedError("random_u32")

    def set_pwm(self, duty_permille):
        """Drive the control pilot generator (+-12 V through 1 kOhm):
        0 = steady -12 V (state F), 1000 = steady +12 V (no PWM, x1),
        1..999 = 1 kHz PWM at that duty in permille (x2)."""
        raise NotImplementedError("set_pwm")

    def cp_high_mv(self):
        """CP voltage in mV of the pilot line on the positive plateau seen
        since the last read (the steady level when no PWM runs)."""
        raise NotImplementedError("cp_high_mv")

    def cp_low_mv(self):
        """CP voltage in mV on the negative plateau since the last read. With
        steady +12 V (duty 1000) there is none: the board reports the same as
        cp_high_mv(); with duty 0 both plateaus are the -12 V level."""
        raise NotImplementedError("cp_low_mv")

    def pp_ohms(self):
        """Proximity (PP-PE) resistance in ohms; PP_NOT_FITTED (-1) when the
        cable is tethered or PP is not fitted; an open PP reads large (up to
        PP_OPEN_OHMS)."""
        raise NotImplementedError("pp_ohms")

    def set_contactor(self, closed):
        """Energise (truthy) or release (falsy) the mains contactor."""
        raise NotImplementedError("set_contactor")

    def contactor_feedback(self):
        """Auxiliary contact: FEEDBACK_CLOSED 1, FEEDBACK_OPEN 0,
        FEEDBACK_NOT_FITTED -1."""
        raise NotImplementedError("contactor_feedback")

    def rcd_fault(self):
        """1 while the residual-current device (incl. the 6 mA DC module)
        reports a trip, else 0. Raw level: the core latches it."""
        raise NotImplementedError("rcd_fault")

    def button_pressed(self):
        """Raw level of the override button: 1 pressed, 0 released. The core
        debounces and times short / long presses."""
        raise NotImplementedError("button_pressed")

    def tamper(self):
        """Raw level of the enclosure's tamper switch (UK Schedule 1 para 8):
        TAMPER_OPEN 1 while the lid is off (or the switch's wire is cut),
        TAMPER_CLOSED 0, TAMPER_NOT_FITTED -1. The core debounces it."""
        raise NotImplementedError("tamper")

    def set_indicator(self, code):
        """Show one of the IND_* codes on the LED / display."""
        raise NotImplementedError("set_indicator")

    def link_read(self, buf):
        """Non-blocking read from the gateway link into buf (a bytearray or
        memoryview): returns the number of bytes stored, 0 if none."""
        raise NotImplementedError("link_read")

    def link_write(self, data):
        """Queue data for the gateway link; returns the number of bytes taken."""
        raise NotImplementedError("link_write")

    def meter_read(self, buf):
        """Non-blocking read from the Modbus RS-485 port into buf: the number
        of bytes stored, 0 if none."""
        raise NotImplementedError("meter_read")

    def meter_write(self, data):
        """Send one Modbus frame on RS-485; the board drives the transmit
        enable around it. Returns the number of bytes sent."""
        raise NotImplementedError("meter_write")

    def storage_read(self, name):
        """Contents of the small flash file `name` as bytes, None if missing."""
        raise NotImplementedError("storage_read")

    def storage_write(self, name, data):
        """Replace the flash file `name` with data, atomically: a power cut
        leaves either the old or the new contents (temp file + rename)."""
        raise NotImplementedError("storage_write")

    def wdt_feed(self):
        """Feed the hardware watchdog (the first call may start it)."""
        raise NotImplementedError("wdt_feed")

    def reset_cause(self):
        """Why the board last started: RESET_POWER_ON 0, RESET_WATCHDOG 1,
        RESET_SOFT 2, RESET_OTHER 3."""
        raise NotImplementedError("reset_cause")
