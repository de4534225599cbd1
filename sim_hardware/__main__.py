"""python -m sim_hardware [--vm cpython|micropython] [--link socket://HOST:PORT | --link pty]
[--control HOST:PORT] [--time-scale N] [--scenario FILE] [--trace] [--seed N] [--ev KIND]
[--setting KEY=VALUE ...] [--meter MODEL]

The emulated charger as a process (docs/sim_hardware.md). It prints where it
can be reached, then runs until SIGTERM / SIGINT (or the control command
shutdown, or the end of --scenario: exit 0 passed, 1 failed). Exit 2 on bad
arguments.
"""

import argparse
import json
import selectors
import shutil
import signal
import sys
import time

from protocols import meters
from sim_hardware import commands
from sim_hardware.ev import KINDS
from sim_hardware.process import (
    INTERNAL,
    MAX_BATCH,
    TICK_S,
    Control,
    LocalEngine,
    PtyLink,
    SocketLink,
    VmEngine,
    serve_meter,
)


def _host_port(text, what):
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError("%s must be HOST:PORT (port 0 picks a free one), got %r" % (what, text))
    return host, int(port)


def _scale(text):
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 10000:
        raise argparse.ArgumentTypeError("must be a number in (0, 10000], got %r" % text)
    return value


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m sim_hardware", description=(
        "The emulated charger: the firmware core on the sim board with an EV and mains, its "
        "link served like a UART, a JSON-lines control interface."))
    p.add_argument("--vm", choices=("cpython", "micropython"), default="cpython",
                   help="interpreter of the firmware core (default cpython)")
    p.add_argument("--link", default="socket://127.0.0.1:7000",
                   help="socket://HOST:PORT (TCP, like ser2net; port 0 = free) or pty "
                        "(default socket://127.0.0.1:7000)")
    p.add_argument("--control", default="127.0.0.1:7001",
                   help="HOST:PORT of the JSON-lines control socket (default 127.0.0.1:7001)")
    p.add_argument("--time-scale", type=_scale, default=1.0,
                   help="virtual seconds per real second (default 1)")
    p.add_argument("--scenario", help="run this scenario file, then exit (0 passed, 1 failed)")
    p.add_argument("--trace", action="store_true", help="print trace lines as they happen")
    p.add_argument("--seed", type=int, default=1, help="entropy seed of the sim board")
    p.add_argument("--ev", choices=sorted(KINDS), default="basic", help="EV model")
    p.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                   help="a firmware setting (docs/firmware.md), repeatable")
    p.add_argument("--meter", choices=sorted(meters.METERS),
                   help="an emulated MID meter on the charger's RS-485 port, also served on its "
                        "own pty (its path is printed); the firmware polls it")
    args = p.parse_args(argv)
    try:
        if args.link == "pty":
            args.link_address = None
        elif args.link.startswith("socket://"):
            args.link_address = _host_port(args.link[len("socket://"):], "--link socket://")
        else:
            raise ValueError("--link must be socket://HOST:PORT or pty, got %r" % args.link)
        args.control_address = _host_port(args.control, "--control")
        args.settings = {}
        for item in args.setting:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ValueError("--setting must be KEY=VALUE, got %r" % item)
            args.settings[key] = json.loads(value) if value[:1] in "[{\"" else (
                int(value) if value.lstrip("-").isdigit() else value)
        args.scenario_text = None
        if args.scenario:
            with open(args.scenario) as f:
                args.scenario_text = f.read()
        args.node = shutil.which("node") if args.vm == "micropython" else None
        if args.vm == "micropython" and args.node is None:
            raise ValueError("--vm micropython needs node (apt-get install nodejs; npm ci)")
    except (ValueError, OSError) as e:
        p.error(str(e))
    return p, args


class Runner:
    def __init__(self, args, engine):
        self.args = args
        self.engine = engine
        self.sel = selectors.DefaultSelector()
        self.pending = bytearray()  # link bytes from the gateway for the next tick
        self.stop = False
        self.exit_code = 0
        if args.link_address is None:
            self.link = PtyLink(self.sel)
        else:
            self.link = SocketLink(self.sel, *args.link_address)
        self.control = Control(self.sel, *args.control_address, self.handle)
        self.meter = None
        if args.meter:
            m = meters.get(args.meter)
            self.meter = serve_meter(engine, m["baud"], m["parity"])

    def handle(self, req):
        name = req.get("cmd")
        if name in INTERNAL:
            return {"ok": False, "error": "%s is internal to the engine" % name}
        if name == "shutdown":
            self.stop = True
            return {"ok": True}
        if name == "help":
            return {"ok": True, "help": commands.help_text() + "\nscenario {text}, trace "
                    "{since}, shutdown, help"}
        reply = self.engine.request(req)
        if name == "status" and reply.get("ok"):
            reply["status"]["link"] = {"url": self.link.url, "connected": self.link.connected()}
            reply["status"]["time_scale"] = self.args.time_scale
        return reply

    def _after_ticks(self, rep):
        if rep.get("link_out"):
            self.link.write(bytes.fromhex(rep["link_out"]))
        if self.args.trace or self.args.scenario_text is not None:
            for line in rep.get("trace", ()):
                print(line, flush=True)
        result = rep.get("scenario", "")
        if self.args.scenario_text is not None and result not in ("", "running"):
            if result != "passed":
                print("sim_hardware: scenario " + result, file=sys.stderr, flush=True)
                self.exit_code = 1
            self.stop = True

    def run(self):
        tick_s = TICK_S / self.args.time_scale
        start = time.monotonic()
        done = 0
        while not self.stop:
            due = int((time.monotonic() - start) / tick_s)
            if due - done > 20 * MAX_BATCH:  # cannot keep up: carry on from now
                start = time.monotonic() - done * tick_s
                due = done + MAX_BATCH
            if due > done:
                n = min(due - done, MAX_BATCH)
                rep = self.engine.request({"cmd": "tick", "n": n,
                                           "link_in": self.pending.hex()})
                self.pending.clear()
                done += n
                self._after_ticks(rep)
                continue
            wait = start + (done + 1) * tick_s - time.monotonic()
            for key, _ in self.sel.select(max(wait, 0)):
                key.data(self.pending)

    def close(self):
        if self.meter is not None:
            self.meter.stop()
        self.control.close()
        self.link.close()
        self.engine.close()


def main(argv=None):
    parser, args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        engine = VmEngine(args.node) if args.vm == "micropython" else LocalEngine()
    except RuntimeError as e:
        print("sim_hardware: %s" % e, file=sys.stderr)
        return 1
    rep = engine.request({"cmd": "init", "settings": args.settings, "seed": args.seed,
                          "ev": args.ev, "meter": args.meter})
    if rep.get("ok") and args.scenario_text is not None:
        rep = engine.request({"cmd": "scenario", "text": args.scenario_text})
    if not rep.get("ok"):
        engine.close()
        parser.error(rep.get("error", "refused"))
    try:
        runner = Runner(args, engine)
    except OSError as e:
        engine.close()
        parser.error("cannot listen: %s" % e)
    stop = lambda *_: setattr(runner, "stop", True)  # noqa: E731
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("sim_hardware: firmware core on %s, time scale %g" % (engine.name, args.time_scale))
    print("link: " + runner.link.url)
    if runner.meter is not None:
        print("meter: %s (%s, %d baud %s)" % (runner.meter.path, args.meter,
                                               runner.meter.baud, runner.meter.parity))
    print("control: " + runner.control.address, flush=True)
    try:
        runner.run()
    finally:
        runner.close()
    print("sim_hardware: stopped", flush=True)
    return runner.exit_code


if __name__ == "__main__":
    sys.exit(main())
