# The charger behind `python -m sim_hardware`, as one request -> one reply of
# plain dicts (JSON-able), so the same code serves the process on CPython
# (sim_hardware/process.py calls handle() directly) and on the MicroPython VM
# (sim_hardware/vm_host.mjs passes JSON lines to handle_line()).
# MicroPython subset.
#
# Requests are the control interface's commands (commands.run: plug, unplug,
# draw, discharge, ev, set_ev, press_button, power_cut, mains, rcd, limit,
# hello, settings, status) plus:
#   init     {settings, seed, ev, meter,  a new charger (the process sends it first);
#             fw_root}                    meter: a protocols.meters model on its RS-485;
#                                         fw_root: the directory of its update slots
#                                         (booted through firmware/fwboot.py), or none
#   tick     {n, link_in: hex}            n ticks of 10 ms; the link bytes arrive
#                                         before the first; reply link_out (hex),
#                                         time_ms, duty_permille (the pilot now), new
#                                         trace lines, scenario state
#   scenario {text}                       run a scenario on this charger, one
#                                         step per tick from now on
#   trace    {since}                      trace lines from index since
#   meter_request {frame: hex}            the emulated meter's answer (hex, "" silent)
# Every reply has ok (true / false); a refused request has error.
import binascii
import json

from sim_hardware import commands
from sim_hardware.charger import Charger
from sim_hardware.scenario import Scenario


class Engine:
    def __init__(self):
        self.charger = None
        self.scenario = None
        self.scenario_result = ""  # "", "running", "passed" or "failed: why"
        self._sent = 0  # trace lines already returned by tick

    def _tick(self, req):
        ch = self.charger
        data = req.get("link_in")
        if data:
            ch.board.link_inject(binascii.unhexlify(data))
        n = commands.integer(req.get("n", 1), "n")
        for _ in range(n):
            if self.scenario is not None and self.scenario_result == "running":
                try:
                    if not self.scenario.step():
                        self.scenario_result = "passed"
                except ValueError as e:
                    self.scenario_result = "failed: " + str(e)
                if self.scenario_result == "running":
                    continue
            ch.tick()
        out = ch.link_take()
        lines = ch.trace_since(self._sent)
        self._sent = ch.trace_total
        return {"ok": True, "time_ms": ch.board.now_ms, "duty_permille": ch.board.duty_permille,
                "link_out": binascii.hexlify(out).decode() if out else "",
                "trace": lines, "scenario": self.scenario_result}

    def handle(self, req):
        if type(req) is not dict:
            return {"ok": False, "error": "a JSON object expected"}
        name = req.get("cmd")
        try:
            if name == "init":
                fw_root = req.get("fw_root")
                if fw_root is not None and (type(fw_root) is not str or not fw_root):
                    raise ValueError("fw_root must be a directory path")
                self.charger = Charger(req.get("settings"), commands.integer(
                    req.get("seed", 1), "seed"), str(req.get("ev") or "basic"),
                    meter=req.get("meter"), fw_root=fw_root)
                self.scenario = None
                self.scenario_result = ""
                self._sent = 0
                return {"ok": True}
            if self.charger is None:
                return {"ok": False, "error": "no charger yet: init first"}
            if name == "tick":
                return self._tick(req)
            if name == "scenario":
                self.scenario = Scenario(str(req.get("text", "")), charger=self.charger)
                self.scenario_result = "running"
                return {"ok": True}
            if name == "meter_request":  # a Modbus frame from the meter's pty
                meter = self.charger.meter
                if meter is None:
                    return {"ok": False, "error": "no meter"}
                answer = meter.respond(binascii.unhexlify(str(req.get("frame", ""))))
                return {"ok": True,
                        "answer": binascii.hexlify(answer).decode() if answer else ""}
            if name == "trace":
                since = commands.integer(req.get("since", 0), "since")
                return {"ok": True, "lines": self.charger.trace_since(since),
                        "total": self.charger.trace_total}
            if type(name) is not str:
                return {"ok": False, "error": "cmd (a string) expected"}
            reply, _ = commands.run(self.charger, name, req)
            return reply
        except (ValueError, TypeError, KeyError) as e:  # a bad request never stops the charger
            return {"ok": False, "error": str(e)}

    def handle_line(self, line):
        try:
            req = json.loads(line)
        except ValueError:
            return json.dumps({"ok": False, "error": "bad JSON"})
        return json.dumps(self.handle(req))
