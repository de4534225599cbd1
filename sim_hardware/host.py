"""The chargers of one `python -m sim_hardware` process, in real time.

Each charger (a `Unit`) has its own engine (firmware core, sim board, EV, mains: the
`engine.Engine` of sim_hardware/process.py), its own link (socket://, pty or MQTT) and its
own meter pty when asked. One loop ticks them all every 10 ms of wall time (`time_scale`
times faster), one JSON-lines control socket serves them all: a request names its charger
with `"evse": N` (optional with one charger). With 64 chargers a round of ticks costs a
few ms on CPython, so one process stands for a site of EVSEs where 64 processes would not
fit a small machine (bench/p5_gateway_64_evses.py)."""

import sys
import time

from sim_hardware import commands
from sim_hardware.process import INTERNAL, MAX_BATCH, TICK_S


class Unit:
    """One charger: its EVSE id, engine, link and meter pty (or None). It remembers its
    pilot duty after the last round of ticks and the time.monotonic() of that round when it
    changed (CLOCK_MONOTONIC: comparable with any process's monotonic clock on the host)."""

    def __init__(self, evse_id, engine, link, meter=None):
        self.evse_id = evse_id
        self.engine = engine
        self.link = link
        self.meter = meter
        self.duty_permille = None
        self.duty_changed_s = None

    def tick(self, n):
        rep = self.engine.request({"cmd": "tick", "n": n, "link_in": self.link.take().hex()})
        if rep.get("link_out"):
            self.link.write(bytes.fromhex(rep["link_out"]))
        duty = rep.get("duty_permille")
        if duty != self.duty_permille:
            self.duty_permille = duty
            self.duty_changed_s = time.monotonic()
        return rep

    def pilot(self):
        return {"evse": self.evse_id, "duty_permille": self.duty_permille,
                "duty_changed_s": self.duty_changed_s, "link_connected": self.link.connected()}

    def close(self):
        if self.meter is not None:
            self.meter.stop()
        self.link.close()
        self.engine.close()


class Host:
    """Runs the units until stop is set (a signal, `shutdown`, the end of a scenario)."""

    def __init__(self, units, sel, time_scale=1.0, trace=False, scenario=False):
        self.units = []
        self.by_id = {}
        for unit in units:
            self.add(unit)
        self.sel = sel
        self.control = None  # process.Control, set by the caller (it calls handle)
        self.time_scale = time_scale
        self.trace = trace or scenario
        self.scenario = scenario  # one unit runs a scenario: its end stops the process
        self.stop = False
        self.exit_code = 0

    def add(self, unit):
        self.units.append(unit)
        self.by_id[unit.evse_id] = unit

    # --- control ----------------------------------------------------------------------------

    def _unit(self, req):
        evse = req.get("evse")
        if evse is None:
            if len(self.units) == 1:
                return self.units[0], None
            return None, "evse is required with %d chargers (%d..%d)" % (
                len(self.units), self.units[0].evse_id, self.units[-1].evse_id)
        unit = self.by_id.get(evse) if type(evse) is int else None
        if unit is None:
            return None, "no charger with evse %r (%d..%d)" % (
                evse, self.units[0].evse_id, self.units[-1].evse_id)
        return unit, None

    def handle(self, req):
        name = req.get("cmd")
        if name in INTERNAL:
            return {"ok": False, "error": "%s is internal to the engine" % name}
        if name == "shutdown":
            self.stop = True
            return {"ok": True}
        if name == "help":
            return {"ok": True, "help": commands.help_text() + "\nscenario {text}, trace "
                    "{since}, pilots, shutdown, help; with several chargers every request "
                    "but pilots, shutdown and help names one: evse"}
        if name == "pilots":
            return {"ok": True, "pilots": [u.pilot() for u in self.units]}
        unit, error = self._unit(req)
        if unit is None:
            return {"ok": False, "error": error}
        req = {k: v for k, v in req.items() if k != "evse"}
        reply = unit.engine.request(req)
        if name == "status" and reply.get("ok"):
            st = reply["status"]
            st["link"] = dict(unit.link.status(), url=unit.link.url,
                              connected=unit.link.connected())
            st["evse"] = unit.evse_id
            st["time_scale"] = self.time_scale
        return reply

    # --- the loop ---------------------------------------------------------------------------

    def _after_ticks(self, unit, rep):
        if self.trace:
            prefix = "" if len(self.units) == 1 else "[%d] " % unit.evse_id
            for line in rep.get("trace", ()):
                print(prefix + line, flush=True)
        result = rep.get("scenario", "")
        if self.scenario and result not in ("", "running"):
            if result != "passed":
                print("sim_hardware: scenario " + result, file=sys.stderr, flush=True)
                self.exit_code = 1
            self.stop = True

    def run(self):
        tick_s = TICK_S / self.time_scale
        start = time.monotonic()
        done = 0
        while not self.stop:
            due = int((time.monotonic() - start) / tick_s)
            if due - done > 20 * MAX_BATCH:  # cannot keep up: carry on from now
                start = time.monotonic() - done * tick_s
                due = done + MAX_BATCH
            if due > done:
                n = min(due - done, MAX_BATCH)
                for unit in self.units:
                    self._after_ticks(unit, unit.tick(n))
                done += n
            # behind or not, the sockets are served between rounds (timeout 0 when behind)
            wait = start + (done + 1) * tick_s - time.monotonic()
            for key, _ in self.sel.select(max(wait, 0)):
                key.data()

    def close(self):
        if self.control is not None:
            self.control.close()
        for unit in self.units:
            unit.close()
        self.sel.close()
