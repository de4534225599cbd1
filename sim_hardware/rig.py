"""The HIL target of the conformance suite (docs/hil.md): a charger board in a rig, in real
time. `python -m conformance --target hil --port RIG --link-port LINK`.

Two serial ports (anything pyserial's serial_for_url opens: /dev/ttyACM0, a pty,
socket://HOST:PORT, rfc2217://...):
- RIG: the rig controller (sim_hardware/rig_firmware/ on an RP2040), one ASCII request line,
  one reply line: it switches the EV's resistors and diode, the PP resistor, the pilot short
  and the band-gap resistor, presses the button, cuts the charger's mains, and reads the
  pilot's duty and plateaus and the contactor's auxiliary contact;
- LINK: the board's gateway link, on which the lab is the gateway (conformance/link_peer.py).

RigTarget opens both and asks the rig's HELLO (RigError when a port does not open or the rig
does not answer); it has the capabilities the rig announces, plus "link" with a link port.
What the rig lacks is absent (a load and so the EV's current, a reference meter, hundreds of
restorations in little time, a settable mains voltage): those checks are "not shown" with
the reason. Each check gets a fresh lab: the rig at rest (EV unplugged), the board's
settings set over the link to the factory defaults plus the check's own (only those that
differ, each persisted by the firmware), then a mains cycle so the board starts afresh."""

import json
import select
import time

import serial

from conformance.link_peer import LinkPeer
from conformance.result import NotShown
from protocols import link_messages as lm
from sim_hardware import commands

RIG_PROTOCOL = 1
BAUD = 115200
SETTLE_S = 0.1  # after the line that ends whatever half line the rig holds
REPLY_TIMEOUT_S = 2.0
BOOT_TIMEOUT_MS = 20000  # mains back -> the firmware's HELLO and the pilot at +12 V
HELLO_TIMEOUT_MS = 3000
STEP_MS = 10
SAMPLE_MS = 100  # plot resolution
RIG_CAPABILITIES = ("pilot", "contactor", "mains", "button")  # those rig.py can announce
KEEP_KEYS = ("meter",)  # describes the board's own hardware: left as the board has it
PP_BANK_OHMS = (100, 220, 680, 1500, 5000)
GAP_MV = 7400  # 3.09 kOhm in parallel with B: +7.39 V with the diode
GAP_TOLERANCE_MV = 300
NO_LOAD = "the rig has no load: the EV draws no current and none is measured"
NO_METER = "the rig has no reference meter: the true energy is not known"
# set_ev keys the rig's EV has -> its EV key (ignores_x1: see _set_ev)
EV_KEYS = {"ready": "ready", "ventilation": "vent", "diode": "diode", "short": "short",
           "response_ms": "response_ms"}
EV_KINDS = {"basic": "", "ventilation": "vent=1", "no_diode": "diode=0", "cp_short": "short=1",
            "ignores_x1": ""}
NOT_ON_RIG = {
    "discharge": "the rig's EV cannot export (no bidirectional load)",
    "rcd": "the rig has no residual-current injection",
    "meter_fault": "the rig has no emulated meter to disturb",
    "ev": "the rig's EV is one circuit: set_ev ready / ventilation / diode / short",
}


class RigError(Exception):
    """The rig or the board cannot be reached: a port that does not open, no answer."""


class RigRefused(ValueError):
    """The rig answered ERR: a request it does not take (the reason is the message)."""


def _open(url, what, timeout_s):
    try:
        return serial.serial_for_url(url, baudrate=BAUD, timeout=timeout_s,
                                     write_timeout=REPLY_TIMEOUT_S)
    except (serial.SerialException, OSError, ValueError) as e:
        raise RigError("cannot open the %s port %s: %s" % (what, url, e)) from None


def _fields(text):
    out = {}
    for word in text.split()[1:]:
        key, _, value = word.partition("=")
        out[key] = int(value) if value.lstrip("-").isdigit() else value
    return out


class RigClient:
    """The rig controller on its serial port: request(line) -> the OK reply's fields."""

    def __init__(self, port):
        self.port = port
        self.ser = _open(port, "rig", REPLY_TIMEOUT_S)
        try:
            self.ser.write(b"\n")  # ends a half line left by someone else; no reply
            time.sleep(SETTLE_S)
            hello = self.request("HELLO")
        except (RigError, RigRefused, serial.SerialException) as e:
            self.close()
            raise RigError("no rig controller on %s: %s" % (port, e)) from None
        if hello.get("rig") != RIG_PROTOCOL or not isinstance(hello.get("cycle_ms"), int):
            self.close()
            raise RigError("%s answered HELLO with %r: not a rig controller speaking protocol "
                           "%d (docs/hil.md)" % (port, hello, RIG_PROTOCOL))
        self.version = str(hello.get("fw", "?"))
        self.caps = [c for c in str(hello.get("caps", "")).split(",") if c]
        self.cycle_ms = hello["cycle_ms"]

    def request(self, line):
        self.ser.reset_input_buffer()  # a late reply to an earlier request is stale
        self.ser.write((line + "\n").encode("ascii"))
        raw = self.ser.readline()
        if not raw.endswith(b"\n"):
            raise RigError("the rig on %s did not answer %r within %.0f s"
                           % (self.port, line, REPLY_TIMEOUT_S))
        text = raw.decode("ascii", "replace").strip()
        if text == "OK" or text.startswith("OK "):
            return _fields(text)
        if text.startswith("ERR"):
            raise RigRefused("rig refused %r: %s" % (line, text[3:].strip()))
        raise RigError("the rig on %s answered %r with %r: not the rig protocol (docs/hil.md)"
                       % (self.port, line, text))

    def close(self):
        self.ser.close()


class RigTarget:
    """A board in a HIL rig: opens a fresh RigLab per check (conformance/targets.py)."""

    name = "hil"

    def __init__(self, port, link_port=None):
        self.rig = RigClient(port)
        self.link = None
        if link_port:
            try:
                self.link = _open(link_port, "link", 0)
            except RigError:
                self.rig.close()
                raise
        caps = {c for c in self.rig.caps if c in RIG_CAPABILITIES}
        if self.link is not None:
            caps.add("link")
        self.capabilities = frozenset(caps)
        self.description = ("a board in a HIL rig (rig controller %s on %s; link %s), real time"
                            % (self.rig.version, port, link_port or "not connected"))
        self.known = {}  # setting -> the wire value the board confirmed

    def lab(self, settings=None, meter=None, ev="basic", seed=None):
        """seed is the sim's: a board draws real entropy."""
        if meter:
            raise NotShown(NO_METER)
        if ev not in EV_KINDS:
            raise NotShown("the rig's EV cannot be a %r EV" % (ev,))
        return RigLab(self, settings or {}, EV_KINDS[ev])

    def close(self):
        self.rig.close()
        if self.link is not None:
            self.link.close()


def _wire(value):
    """A setting as SETTING_SET carries it: structured ones as compact JSON text."""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, separators=(",", ":"))
    return value


class RigLab(LinkPeer):
    """The lab interface (conformance/lab.py) on a board in a rig, on the wall clock."""

    virtual_time = False

    def __init__(self, target, settings, ev_flags):
        self.target = target
        self.rig = target.rig
        self.capabilities = target.capabilities
        self._link = target.link
        self._fd = _fileno(self._link)
        self._reading = None
        self._begin()
        self.rig.request("RESET")
        if ev_flags:
            self.rig.request("EV " + ev_flags)
        if self._link is not None:
            self._apply_settings(settings)
        elif settings:
            raise NotShown("the check's settings (%s) go to the board over the link: no "
                           "--link-port" % ", ".join(sorted(settings)))
        self._restart_board()
        self._begin()

    def _begin(self):
        self._t0 = time.monotonic()
        self._link_init()
        self.samples = []
        self._next_sample = 0
        self._sample_ms = SAMPLE_MS

    # --- a fresh board ------------------------------------------------------------

    def _apply_settings(self, settings):
        from evse import settings as settings_mod

        want = {k: _wire(v) for k, v in settings_mod.defaults().items() if k not in KEEP_KEYS}
        want.update({k: _wire(v) for k, v in settings.items()})
        todo = [k for k in want if self.target.known.get(k, object()) != want[k]]
        if not todo:
            return
        self._connect_and_wait_hello()
        for key in todo:
            st, value = LinkPeer.setting(self, key, want[key])
            if st is None:
                raise RigError("the board did not answer SETTING_SET %s" % key)
            if st != lm.ST_OK:
                self.target.known.pop(key, None)
                raise ValueError("the board refused setting %s = %r: %s" % (key, want[key], value))
            self.target.known[key] = want[key]
        self.link_disconnect()

    def _connect_and_wait_hello(self):
        self.link_connect()
        if self.wait_until(lambda: any(f["role"] == lm.ROLE_FIRMWARE
                                       for _, f in self.received(lm.HELLO)),
                           HELLO_TIMEOUT_MS) is None:
            raise RigError("no HELLO from the board on the link within %d ms: is the firmware "
                           "running and the link wired (docs/hil.md)?" % HELLO_TIMEOUT_MS)

    def _restart_board(self):
        """A mains cut as long as the rig says its charger needs, then the board's boot: its
        HELLO on the link (when there is one) and the pilot at +12 V (state A, x1)."""
        self.rig.request("MAINS OFF %d" % self.rig.cycle_ms)
        self._pause(self.now_ms + self.rig.cycle_ms)
        since = self.now_ms
        if self.wait_until(lambda: self._read()["mains"] == 1 and self.duty_permille() == 1000
                           and (self._link is None or self.received(lm.HELLO, since)),
                           BOOT_TIMEOUT_MS, step_ms=50) is None:
            raise RigError("the board did not come back within %d ms of the mains (pilot %s, "
                           "HELLO %s)" % (BOOT_TIMEOUT_MS, self._read(),
                                          "seen" if self.received(lm.HELLO, since) else "none"))

    # --- time -----------------------------------------------------------------------

    @property
    def now_ms(self):
        return int((time.monotonic() - self._t0) * 1000)

    def _service(self):
        if self._link is not None:
            data = self._link.read(self._link.in_waiting or 1)
            if data:
                self._link_feed(data)
        self._link_poll()
        now = self.now_ms
        if now >= self._next_sample:
            self._next_sample = now + self._sample_ms
            r = self._read()
            self.samples.append((now, r["duty"], r["cont"], 0))

    def _pause(self, until_ms):
        """Wall time passes until the lab's clock reads until_ms, the link served."""
        while True:
            self._service()
            now = self.now_ms
            if now >= until_ms:
                return
            due = [until_ms, self._next_sample]
            if self._hb_ms:
                due.append(self._next_hb)
            wait_s = max(min(due) - now, 1) / 1000
            if self._fd is not None:
                select.select([self._fd], [], [], wait_s)
            else:
                time.sleep(wait_s)
            self._reading = None

    def advance(self, ms, step_ms=STEP_MS):
        """ms of wall time; step_ms > 100 samples the plots coarser."""
        self._sample_ms = max(SAMPLE_MS, step_ms)
        self._pause(self.now_ms + ms)
        self._sample_ms = SAMPLE_MS

    def wait_until(self, pred, timeout_ms, step_ms=STEP_MS):
        """-> ms until pred() held (checked every step_ms with fresh readings of the rig),
        None after timeout_ms."""
        start = self.now_ms
        while True:
            self._reading = None
            self._service()
            if pred():
                return self.now_ms - start
            if self.now_ms - start >= timeout_ms:
                return None
            self._pause(min(self.now_ms + step_ms, start + timeout_ms))

    # --- the world ------------------------------------------------------------------

    def do(self, command, **args):
        """The sim_hardware command vocabulary, as far as the rig can act it out."""
        if command in NOT_ON_RIG:
            raise NotShown(NOT_ON_RIG[command])
        make = _LINES.get(command)
        if make is None:
            raise ValueError("unknown command %r (the rig takes %s)"
                             % (command, ", ".join(sorted(_LINES))))
        for line in make(args):
            self.rig.request(line)
        self._reading = None
        return {"ok": True}

    def force_cp(self, high_mv, low_mv):
        """The rig holds the pilot at one voltage no EV state gives: the B/C band gap."""
        if abs(high_mv - GAP_MV) > GAP_TOLERANCE_MV or low_mv > -11000:
            raise NotShown("the rig forces the pilot only to the B/C band gap (+%d mV, diode "
                           "in); asked %d / %d mV" % (GAP_MV, high_mv, low_mv))
        try:
            self.rig.request("GAP 1")
        except RigRefused as e:
            raise NotShown(str(e)) from None
        self._reading = None

    def release_cp(self):
        self.rig.request("GAP 0")
        self._reading = None

    def restore_now(self):
        self.rig.request("MAINS ON")
        self._reading = None

    # --- what is measured -------------------------------------------------------

    def _read(self):
        if self._reading is None:
            self._reading = self.rig.request("READ")
        return self._reading

    def duty_permille(self):
        return self._read()["duty"]

    def contactor_closed(self):
        return bool(self._read()["cont"])

    def cp_high_mv(self):
        return self._read()["hi"]

    def ev_current_ma(self):
        raise NotShown(NO_LOAD)

    def meter_truth_wh(self):
        raise NotShown(NO_METER)

    # --- the link -----------------------------------------------------------------

    def setting(self, key, value):
        """As LinkPeer's; the target then no longer knows what the board holds for key."""
        self.target.known.pop(key, None)
        return LinkPeer.setting(self, key, value)

    def _link_write(self, data):
        if self._link is None:
            raise NotShown("no --link-port: the lab cannot be the gateway")
        self._link.write(data)


def _fileno(port):
    try:
        return port.fileno() if port is not None else None
    except (AttributeError, OSError, serial.SerialException):
        return None  # socket:// and friends on some platforms: polled instead


# --- the sim_hardware commands as rig lines ----------------------------------------


def _plug(args):
    state = str(args.get("state") or "B").upper()
    pp = commands.integer(args.get("pp_ohms", 220), "pp_ohms")
    if pp not in PP_BANK_OHMS:
        raise NotShown("the rig's PP bank has %s ohm, not %d"
                       % ("/".join(str(o) for o in PP_BANK_OHMS), pp))
    return ["PLUG %s %d" % (state, pp)]


def _unplug(args):
    side = str(args.get("side") or "all")
    if side not in ("all", "ev"):
        raise ValueError("unplug: side must be all or ev, got %r" % side)
    return ["UNPLUG EV" if side == "ev" else "UNPLUG"]


def _draw(args):
    # without a load the amps only say whether the EV wants energy
    return ["EV ready=%d" % (1 if commands.milli(args.get("a", 0), "a") > 0 else 0)]


def _set_ev(args):
    words = []
    for key, value in args.items():
        v = commands.integer(value, key)
        if key == "ignores_x1":
            # the rig's EV always stays in C without PWM (as the sim's basic EV does); it
            # draws nothing, so keeping on drawing is moot
            if v not in (0, 1):
                raise ValueError("set_ev: ignores_x1 must be 0 or 1")
            continue
        if key not in EV_KEYS:
            raise NotShown("the rig's EV has no %r (it has %s)"
                           % (key, ", ".join(sorted(EV_KEYS) + ["ignores_x1"])))
        words.append("%s=%d" % (EV_KEYS[key], v))
    return ["EV " + " ".join(words)] if words else []


def _press_button(args):
    return ["BUTTON %d" % commands.integer(args.get("ms", 100), "ms")]


def _power_cut(args):
    return ["MAINS OFF %d" % commands.milli(args.get("s", 5), "s")]


def _mains(args):
    raise NotShown("the rig switches the charger's mains on and off: it cannot set its "
                   "voltage or frequency")


_LINES = {"plug": _plug, "unplug": _unplug, "draw": _draw, "set_ev": _set_ev,
          "press_button": _press_button, "power_cut": _power_cut, "mains": _mains}
