# A whole charger on virtual time (MicroPython subset): the sim board, the
# firmware's controller on it, an EV and the mains. tick() advances 10 ms and
# runs the controller (while powered), then the EV; a trace line is recorded
# whenever a traced value changes. Used by the scenario runner, the engine
# behind `python -m sim_hardware` and the fleet's calibration.
# With fw_root (the engine of `python -m sim_hardware`) it boots as main.py
# boots a board: firmware/fwboot.py first (a staged update installed into the
# slot fw_root/a or /b, trial boots, rollback), then the controller of the
# active slot, so an applied update really swaps the code this charger runs
# (docs/firmware_update.md). Without it the controller is imported directly.
import json
import sys

from evse import limits as lim_mod
from evse import session as session_mod
from evse import settings as settings_mod
from evse.controller import Controller
from protocols import iec61851, link
from protocols import link_messages as lm
from sim_hardware.ev import EV
from sim_hardware.mains import Mains
from sim_hardware.sim_board import SimBoard

TICK_MS = 10
# Traced values, in this order on every line (see docs/sim_hardware.md).
TRACE_FIELDS = ("cp", "duty", "contactor", "offered_ma", "draw_ma", "session")
TRACE_KEEP = 2000  # lines kept in memory; trace_total counts every line
# per-phase fields for expectations: name -> (status list, index)
PHASE_FIELDS = {"current_l1_ma": ("current_ma", 0), "current_l2_ma": ("current_ma", 1),
                "current_l3_ma": ("current_ma", 2), "voltage_l1_mv": ("voltage_mv", 0),
                "voltage_l2_mv": ("voltage_mv", 1), "voltage_l3_mv": ("voltage_mv", 2)}
_CAUSES = ("power_on", "watchdog", "soft", "other")  # HAL reset_cause()
ENTITIES = {"csms": lm.SRC_CSMS, "hems": lm.SRC_HEMS, "dno": lm.SRC_DNO,
            "owner": lm.SRC_OWNER, "load_mgmt": lm.SRC_LOAD_MGMT}


class Charger:
    def __init__(self, settings=None, seed=1, ev="basic", trace=True, meter=None, fw_root=None):
        b = SimBoard(seed=seed, logs=False)
        self.board = b
        self.fw_root = fw_root  # the update slots' directory; None: no boot code
        self.fw = None  # what fwboot.boot said at the last boot
        self._trial_ticks = -1  # ticks of a trial slot so far, -1 none running
        self._tx_sent = b""  # link bytes written just before a reset, for link_take
        self.meter = None
        if meter:
            # an emulated MID meter on the board's RS-485 port (issue 4's
            # meter_emulator), and the firmware set up to poll it unless told
            from sim_hardware.meter_emulator import MeterEmulator

            self.meter = MeterEmulator(meter, board=b)
            b.meter_device = self.meter.respond
            settings = dict(settings or {})
            if "meter" not in settings:
                settings["meter"] = {"model": meter, "unit_id": 1, "baud": self.meter.baud,
                                     "parity": self.meter.parity}
        if settings:
            self._store_settings(settings)
        self.mains = Mains(b)
        self.mains.on_restore = self._boot
        self.ev = EV(b, ev)
        self.ctl = None
        self.tracing = trace
        self.trace = []
        self.trace_total = 0
        self._last = [None] * len(TRACE_FIELDS)
        self._release_ms = -1  # the button is let go then
        self._restore_ms = -1  # the power comes back then
        self._generation = {}  # per entity, for LIMITs sent from here
        self._boot()

    # --- power and boot ---------------------------------------------------------

    def _store_settings(self, settings):
        ok, errors = settings_mod.validate(settings)
        if errors:
            raise ValueError("settings refused: " + "; ".join([r for k, r in errors]))
        self.board.storage["settings.json"] = json.dumps(settings).encode()

    def _boot(self):
        self._meter_format()
        if self.fw_root is None:
            self.ctl = Controller(self.board)
        else:
            self.ctl = self._fw_boot()
        self.note("boot reset_cause=%s delay_s=%d" % (
            _CAUSES[self.board.reset_cause()], self.ctl.delay.delay_s))
        fw = self.fw
        if fw is not None and (fw["slot"] or fw["outcome"] or fw["resume"] is not None):
            self.note("fwboot slot=%s version=%s outcome=%s" % (
                fw["slot"] or "-", fw["version"] or "-", fw["outcome"] or "-"))
        self.record()

    def _fw_boot(self):
        """main.py's boot: fwboot.start_controller; a trial slot failing to import or
        start is rolled back by it and the board resets into the previous one."""
        import fwboot

        for _ in range(fwboot.MAX_TRIAL_BOOTS):
            try:
                ctl, self.fw = fwboot.start_controller(self.board, self.fw_root)
            except Exception as e:  # main.py: safe state, print, machine.reset()
                if not self._rolled_back(fwboot):  # the flashed tree itself: a bug
                    raise
                self.note("fwboot: the new firmware failed to start (%s: %s), reset" % (
                    type(e).__name__, e))
                self.board.reboot()
                continue
            self._trial_ticks = 0 if self.fw["trial"] else -1
            return ctl
        raise RuntimeError("fwboot: no firmware starts")

    def _rolled_back(self, fwboot):
        """fwboot.rollback() ran just now (it leaves its outcome pending for the next boot)."""
        last = fwboot.read_json(self.board, fwboot.BOOT)
        return last is not None and bool(last.get("pending"))

    def _meter_format(self):
        # as firmware/main.py does at boot: the RS-485 port's format from settings
        data = self.board.storage.get("settings.json")
        try:
            m = json.loads(data)["meter"]
            self.board.meter_configure(m["baud"], m["parity"])
        except (TypeError, ValueError, KeyError):  # no file / no meter: 9600 8N1 stays
            pass

    def settings(self, values):
        """Merge values into the stored settings and restart (a soft reset)."""
        old = self.board.storage.get("settings.json")
        merged = json.loads(old) if old else {}
        for k in values:
            merged[k] = values[k]
        self._store_settings(merged)
        self.board.reboot()
        self._boot()

    def power_cut(self, off_ms):
        """Mains lost now, back after off_ms (ticks go on meanwhile)."""
        if off_ms < 0:
            raise ValueError("power_cut needs a duration >= 0")
        self.mains.cut()
        if self.meter is not None:
            self.meter.supply_lost()
        self.ctl = None
        self._restore_ms = self.board.now_ms + off_ms
        self.record()

    def restore(self):
        self._restore_ms = -1
        self.mains.restore()  # -> _boot

    def press_button(self, ms):
        if ms <= 0:
            raise ValueError("a button press lasts > 0 ms")
        self.board.set_button(1)
        self._release_ms = self.board.now_ms + ms

    # --- the link, gateway side (for scenarios without a gateway) -------------------

    def link_send(self, mtype, fields, tag=0):
        self.board.link_inject(link.encode_frame(mtype, fields, tag))

    def link_take(self):
        """Everything the firmware wrote to its link since the last take, resets included."""
        out = self._tx_sent + self.board.link_take()
        self._tx_sent = b""
        return out

    def hello(self, link_timeout_ms=0):
        self.link_send(lm.HELLO, {"major": lm.PROTOCOL_MAJOR, "minor": lm.PROTOCOL_MINOR,
                                  "role": lm.ROLE_GATEWAY, "flags": 0, "phases": 0,
                                  "capabilities": 0, "max_current_ma": 0,
                                  "link_timeout_ms": link_timeout_ms, "unacked_seq": 0,
                                  "sw_version": "sim"})

    def limit(self, limit_ma, entity="csms"):
        if entity not in ENTITIES:
            raise ValueError("limit entity must be one of " + ", ".join(sorted(ENTITIES)))
        src = ENTITIES[entity]
        g = self._generation.get(src, 0) + 1
        self._generation[src] = g
        self.link_send(lm.LIMIT, {"entity": src, "generation": g, "limit_ma": limit_ma,
                                  "duration_s": 0})

    # --- time -----------------------------------------------------------------------

    def tick(self, ms=TICK_MS):
        b = self.board
        b.advance(ms)
        now = b.now_ms
        if 0 <= self._release_ms <= now:
            self._release_ms = -1
            b.set_button(0)
        if 0 <= self._restore_ms <= now:
            self.restore()
        ctl = self.ctl
        if ctl is not None:
            ctl.tick()
            if self._trial_ticks >= 0:  # main.py: a trial slot confirmed once healthy
                self._confirm_trial(ctl)
            if ctl.reset_now >= 0:  # CMD_RESET: main.py would machine.reset() now
                # what the firmware wrote before the reset has left (this UART has no baud
                # rate): the answer to FW_END(APPLY) or CMD_RESET reaches the gateway
                self._tx_sent += b.link_take()
                b.reboot()
                self._boot()
        self.ev.step(now)
        self.record()

    def _confirm_trial(self, ctl):
        import fwboot

        self._trial_ticks += 1
        if fwboot.healthy(ctl, self._trial_ticks):
            fwboot.confirm_and_report(ctl, self.board)
            self._trial_ticks = -1
            self.fw["trial"] = False
            self.note("fwboot slot=%s version=%s confirmed" % (self.fw["slot"],
                                                                self.fw["version"]))

    # --- what is seen -----------------------------------------------------------------

    def values(self):
        """The traced values now, in TRACE_FIELDS order."""
        b = self.board
        ctl = self.ctl
        if ctl is None:
            return ["-", b.duty_permille, b.contactor_cmd, 0, b.ev_current_ma[0], "off"]
        st = ctl.session.state
        offered = ctl.limits.applied_ma if session_mod.DRIVE[st] == session_mod.DRIVE_PWM else 0
        return [iec61851.STATE_NAMES[ctl.pilot.state], b.duty_permille, b.contactor_cmd,
                offered, b.ev_current_ma[0], session_mod.NAMES[st]]

    def record(self):
        if not self.tracing:
            return
        now = self.values()
        last = self._last
        parts = []
        for i in range(len(now)):
            if now[i] != last[i]:
                parts.append("%s=%s" % (TRACE_FIELDS[i], now[i]))
                last[i] = now[i]
        if parts:
            self.note(" ".join(parts))

    def note(self, text):
        """A trace line at the current virtual ms."""
        if not self.tracing:
            return
        self.trace.append("%d %s" % (self.board.now_ms, text))
        self.trace_total += 1
        if len(self.trace) > TRACE_KEEP:
            self.trace.pop(0)

    def trace_since(self, index):
        """Trace lines from the index-th ever recorded (those still kept)."""
        first = self.trace_total - len(self.trace)
        return self.trace[max(index - first, 0):]

    def field(self, key):
        """One observable for scenario expectations, as int or str."""
        names = TRACE_FIELDS
        for i in range(len(names)):
            if names[i] == key:
                return self.values()[i]
        st = self.status()
        if key in PHASE_FIELDS:
            name, i = PHASE_FIELDS[key]
            return st[name][i]
        if key in st and type(st[key]) in (int, str, bool):
            v = st[key]
            return int(v) if type(v) is bool else v
        raise ValueError("unknown field %r" % (key,))

    def limits_in_force(self):
        """T7-MULTI: {source name: mA} of every limit the controller holds now (the
        schedule's period in force, the failsafe only while it is active); the smart
        ones are lifted while the owner overrides (status override)."""
        L = self.ctl.limits
        out = {}
        for src in range(lim_mod.N_SOURCES):
            ma = L.limit_ma(src)
            if ma >= 0 and (src != lim_mod.SRC_FAILSAFE or self.ctl.failsafe.active):
                out[lim_mod.SOURCE_NAMES[src]] = ma
        return out

    def status(self):
        b = self.board
        v = self.values()
        out = {"time_ms": b.now_ms, "power": int(self.mains.up)}
        for i in range(len(TRACE_FIELDS)):
            out[TRACE_FIELDS[i]] = v[i]
        out["duty_permille"] = v[1]
        out["contacts"] = b.contacts_closed()
        out["current_ma"] = list(b.ev_current_ma)
        out["voltage_mv"] = list(b.mains_mv)
        out["frequency_mhz"] = b.mains_mhz
        out["button"] = b.button
        out["rcd"] = b.rcd
        out["lid_open"] = b.lid_open  # the tamper switch (UK-S8)
        ctl = self.ctl
        if ctl is not None:
            s = ctl.status()
            for k in ("delay_remaining_s", "fault", "override", "failsafe", "limit_source",
                      "owner_paused", "available"):
                out[k] = s[k]
            out["delay_s"] = s["delay_remaining_s"]
            out["wire_session"] = lm.SESSION_STATES[ctl.wire_session()]
            out["power_quality"] = s["power_quality"]["state"]  # T7-PQ response state
            out["limits"] = self.limits_in_force()
            m = s["meter"]
            if m is not None:  # what the firmware measured with its MID meter (AG-03)
                out["measured"] = {"i1_ma": m["i1_ma"], "p_total_w": m["p_total_w"],
                                   "session_wh": m["session_wh"], "fault": m["fault"]}
        out["soc"] = self.ev.soc_percent()
        out["ev_state"] = self.ev.state
        out["ev"] = self.ev.describe()
        out["mains"] = self.mains.describe()
        if self.meter is not None:
            imp, exp = self.meter.energy_wh()
            out["meter"] = {"model": self.meter.model, "requests": self.meter.requests,
                            "import_wh": imp, "export_wh": exp}
        out["resets"] = b.resets
        if self.fw is not None:
            out["firmware"] = self.firmware()
        return out

    def firmware(self):
        """The boot code's view (with fw_root): the slot and version running, whether it
        is still a trial, the last boot's outcome and the file the controller came from."""
        fw = self.fw
        mod = sys.modules.get("evse.controller")
        return {"slot": fw["slot"], "version": fw["version"], "trial": bool(fw["trial"]),
                "outcome": fw["outcome"], "code": getattr(mod, "__file__", "") or ""}
