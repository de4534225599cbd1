# The HIL rig controller's command handler (docs/hil.md), pure: it parses the
# rig protocol's ASCII lines, keeps the emulated EV's state machine and drives
# an injected rig HAL. The same module runs on the rig's RP2040 (main.py with
# hal_rp2040.RigHal), on CPython in the emulated rig
# (sim_hardware/rig_emulator.py: a HAL acting on the sim board) and on the
# MicroPython VM in tests/portable/test_rig_firmware.py. MicroPython subset,
# integers only, no imports but const.
#
# The rig HAL (duck-typed):
#   ticks_ms()          monotonic ms, no wrap-around
#   set_outputs(bits)   the OUT_* bits below, all at once (relays, opto, mains)
#   duty_permille()     PWM duty measured on the pilot: 1..999, 1000 steady
#                       high (x1), 0 steady low (F, or E: 0 V)
#   cp_high_mv(), cp_low_mv()  the pilot's plateaus, the first call measures
#   contactor_closed()  the charger contactor's auxiliary contact, 1 closed
#   cycle_ms            how long a mains cut must last for the charger to restart
#
# The EV (IEC 61851-1 Annex A, DESIGN section 8): the EV circuit is a diode
# then 2.74 kOhm to PE (state B); 1.3 kOhm switched in parallel gives 882 Ohm
# (C), 270 Ohm gives 246 Ohm (D). Plugged in, it asks for C (D when it needs
# ventilation) once it is ready and sees an offer (a duty of 8..97 %),
# response_ms after the offer came; not ready, it goes back to B; without an
# offer (x1, F) it stays where it is (C1), as the basic EV of
# sim_hardware/ev.py does. The rig has no load: it draws no current.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


PROTOCOL = const(1)
VERSION = "0.1.0"
CAPS = "pilot,contactor,mains,button"

# Outputs, one bit each (docs/hil.md: relay K1..K12 and the button's opto)
OUT_EV = const(0x0001)  # K1: the EV circuit (diode + 2.74 kOhm) on CP
OUT_C = const(0x0002)  # K2: + 1.3 kOhm in parallel: state C
OUT_D = const(0x0004)  # K3: + 270 Ohm in parallel: state D
OUT_DIODE_BYPASS = const(0x0008)  # K4: the diode shorted (missing diode, IEC-DIODE)
OUT_CP_SHORT = const(0x0010)  # K5: CP to PE (state E)
OUT_GAP = const(0x0020)  # K6: + 3.09 kOhm in parallel with B: +7.4 V, the B/C band gap
OUT_BUTTON = const(0x0800)  # opto across the charger's override button
OUT_MAINS = const(0x1000)  # K12: the mains contactor feeding the charger
PP_OHMS = (100, 220, 680, 1500, 5000)  # K7..K11, one at a time
PP_BITS = (0x0040, 0x0080, 0x0100, 0x0200, 0x0400)
PP_OPEN = const(-1)

_EV_BITS = {"A": 0, "B": OUT_EV, "C": OUT_EV | OUT_C, "D": OUT_EV | OUT_D}
# Annex A: 8 % .. 97 % offers current; 5 % (HLC), x1, F and illegal duties do not
_OFFER_MIN_PERMILLE = const(80)
_OFFER_MAX_PERMILLE = const(970)
_MAX_LINE = const(120)
_MAX_MS = const(3600000)
# EV key -> (attribute, lowest, highest)
EV_KEYS = {
    "ready": ("ready", 0, 1),
    "vent": ("vent", 0, 1),
    "diode": ("diode", 0, 1),
    "short": ("short", 0, 1),
    "response_ms": ("response_ms", 0, 60000),
}
COMMANDS = ("HELLO", "HELP", "READ", "PLUG", "UNPLUG", "EV", "PP", "GAP", "BUTTON", "MAINS",
            "RESET")


def _uint(text, lo, hi, what):
    if not text.isdigit() or len(text) > 9:
        raise ValueError("%s: a whole number %d..%d expected, got '%s'" % (what, lo, hi, text))
    v = int(text)
    if v < lo or v > hi:
        raise ValueError("%s: %d is outside %d..%d" % (what, v, lo, hi))
    return v


def _pp(text):
    if text.upper() == "OPEN":
        return PP_OPEN
    ohms = PP_OHMS
    for i in range(len(ohms)):
        if text == str(ohms[i]):
            return ohms[i]
    raise ValueError("PP: one of 100, 220, 680, 1500, 5000 or OPEN, got '%s'" % text)


class Rig:
    def __init__(self, hal):
        self.hal = hal
        self._line = bytearray()
        self._overflow = False
        self._bits = -1
        self.reset()

    # --- state --------------------------------------------------------------

    def reset(self):
        """The rest state: EV unplugged (ready, diode in, no ventilation, no
        short, 1 s response), PP open, button released, the charger powered."""
        self.plugged = 0  # the EV circuit on the pilot
        self.cable = 0  # the cable in the socket: its PP resistor
        self.ev = "A"
        self._ask = "A"
        self._ask_ms = 0
        self.ready = 1
        self.vent = 0
        self.diode = 1
        self.short = 0
        self.response_ms = 1000
        self.gap = 0
        self.pp = PP_OPEN
        self.mains = 1
        self._mains_on_ms = -1  # the cut ends then
        self._button_off_ms = -1  # the press ends then
        self._apply()

    def outputs(self):
        bits = OUT_MAINS if self.mains else 0
        if self._button_off_ms >= 0:
            bits |= OUT_BUTTON
        if self.plugged:
            bits |= _EV_BITS[self.ev]
            if not self.diode:
                bits |= OUT_DIODE_BYPASS
            if self.short:
                bits |= OUT_CP_SHORT
            if self.gap:
                bits |= OUT_GAP
        if self.cable and self.pp != PP_OPEN:
            for i in range(len(PP_OHMS)):
                if PP_OHMS[i] == self.pp:
                    bits |= PP_BITS[i]
        return bits

    def _apply(self):
        bits = self.outputs()
        if bits != self._bits:
            self._bits = bits
            self.hal.set_outputs(bits)

    # --- time ---------------------------------------------------------------

    def tick(self):
        """Timed outputs and the EV's state machine; call every few ms."""
        now = self.hal.ticks_ms()
        if self._button_off_ms >= 0 and now >= self._button_off_ms:
            self._button_off_ms = -1
        if self._mains_on_ms >= 0 and now >= self._mains_on_ms:
            self._mains_on_ms = -1
            self.mains = 1
        if self.plugged:
            self._ev_step(now)
        self._apply()

    def _ev_step(self, now):
        duty = self.hal.duty_permille()
        offer = _OFFER_MIN_PERMILLE <= duty <= _OFFER_MAX_PERMILLE
        if not self.ready:
            ask = "B"
        elif offer:
            ask = "D" if self.vent else "C"
        else:
            ask = self.ev  # C1 / B1: waits in the state it is in
        if ask == self.ev:
            self._ask = ask
            return
        if ask != self._ask:
            self._ask = ask
            self._ask_ms = now
        if now - self._ask_ms >= self.response_ms:
            self.ev = ask

    # --- lines ----------------------------------------------------------------

    def feed(self, data):
        """Bytes from the host -> the reply lines (without newline) of the
        complete lines among them. A line over 120 characters is refused
        whole, once its end arrives."""
        replies = []
        for b in data:
            if b == 10:  # \n ends a line; \r before it is dropped
                if self._overflow:
                    replies.append("ERR line longer than %d characters" % _MAX_LINE)
                else:
                    reply = self.handle_line(bytes(self._line))
                    if reply is not None:
                        replies.append(reply)
                self._line = bytearray()
                self._overflow = False
            elif b != 13 and not self._overflow:
                if len(self._line) >= _MAX_LINE:
                    self._overflow = True
                else:
                    self._line.append(b)
        return replies

    def handle_line(self, raw):
        """One line (bytes, no newline) -> its reply, or None for an empty
        line or a # comment. A refused line changes nothing."""
        for b in raw:
            if (b < 32 and b != 9) or b > 126:
                return "ERR not printable ASCII"
        words = raw.decode().split()
        if not words or words[0][0] == "#":
            return None
        name = words[0].upper()
        try:
            return self.command(name, words[1:])
        except ValueError as e:
            return "ERR " + str(e)

    def command(self, name, args):
        if name == "HELLO":
            _none(name, args)
            return "OK rig=%d fw=%s caps=%s cycle_ms=%d" % (PROTOCOL, VERSION, CAPS,
                                                            self.hal.cycle_ms)
        if name == "HELP":
            _none(name, args)
            return "OK commands=" + ",".join(COMMANDS)
        if name == "READ":
            _none(name, args)
            return self.read()
        if name == "PLUG":
            self._plug(args)
        elif name == "UNPLUG":
            self._unplug(args)
        elif name == "EV":
            self._ev_keys(args)
        elif name == "PP":
            _count(name, args, 1, 1)
            self.pp = _pp(args[0])
            self.cable = 1 if self.pp != PP_OPEN else self.plugged
        elif name == "GAP":
            _count(name, args, 1, 1)
            on = _uint(args[0], 0, 1, "GAP")
            if on and not self.plugged:
                raise ValueError("GAP: the band-gap resistor sits in the EV circuit: PLUG first")
            self.gap = on
        elif name == "BUTTON":
            _count(name, args, 1, 1)
            self._button_off_ms = self.hal.ticks_ms() + _uint(args[0], 1, 60000, "BUTTON ms")
        elif name == "MAINS":
            self._mains(args)
        elif name == "RESET":
            _none(name, args)
            self.reset()
        else:
            raise ValueError("unknown command '%s' (HELP lists them)" % name)
        self._apply()
        return "OK"

    def _plug(self, args):
        _count("PLUG", args, 1, 2)
        state = args[0].upper()
        if state not in ("B", "C", "D"):
            raise ValueError("PLUG: the EV plugs in in state B, C or D, got '%s'" % args[0])
        pp = _pp(args[1]) if len(args) > 1 else 220
        self.plugged = 1
        self.cable = 1
        self.pp = pp
        self.ev = state
        self._ask = state
        self.gap = 0

    def _unplug(self, args):
        _count("UNPLUG", args, 0, 1)
        if args and args[0].upper() != "EV":
            raise ValueError("UNPLUG: nothing (EV and cable) or EV (the cable stays), got '%s'"
                             % args[0])
        self.plugged = 0
        self.ev = "A"
        self._ask = "A"
        self.gap = 0
        if not args:
            self.cable = 0

    def _ev_keys(self, args):
        _count("EV", args, 1, len(EV_KEYS))
        values = []
        for word in args:  # all checked before any is applied
            key, sep, text = word.partition("=")
            key = key.lower()
            if not sep or key not in EV_KEYS:
                raise ValueError("EV: key=value with keys %s, got '%s'"
                                 % (", ".join(sorted(EV_KEYS)), word))
            attr, lo, hi = EV_KEYS[key]
            values.append((attr, _uint(text, lo, hi, "EV " + key)))
        for attr, v in values:
            setattr(self, attr, v)

    def _mains(self, args):
        _count("MAINS", args, 1, 2)
        word = args[0].upper()
        if word == "ON" and len(args) == 1:
            self.mains = 1
            self._mains_on_ms = -1
        elif word == "OFF":
            off_ms = _uint(args[1], 1, _MAX_MS, "MAINS OFF ms") if len(args) > 1 else -1
            self.mains = 0
            self._mains_on_ms = self.hal.ticks_ms() + off_ms if off_ms > 0 else -1
        else:
            raise ValueError("MAINS: ON, or OFF [ms], got '%s'" % " ".join(args))

    def read(self):
        h = self.hal
        hi = h.cp_high_mv()
        lo = h.cp_low_mv()
        return ("OK t=%d duty=%d hi=%d lo=%d cont=%d mains=%d btn=%d ev=%s ready=%d vent=%d "
                "diode=%d short=%d gap=%d pp=%d out=%d"
                % (h.ticks_ms(), h.duty_permille(), hi, lo, h.contactor_closed(), self.mains,
                   1 if self._button_off_ms >= 0 else 0, self.ev, self.ready, self.vent,
                   self.diode, self.short, self.gap, self.pp if self.cable else PP_OPEN,
                   self._bits))


def _count(name, args, lo, hi):
    if not lo <= len(args) <= hi:
        if lo == hi:
            raise ValueError("%s takes %d argument%s" % (name, lo, "" if lo == 1 else "s"))
        raise ValueError("%s takes %d to %d arguments" % (name, lo, hi))


def _none(name, args):
    if args:
        raise ValueError("%s takes no arguments" % name)
