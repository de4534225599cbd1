"""python -m sim_hardware [--vm cpython|micropython]
[--link socket://HOST:PORT | pty | mqtt://[USER:PASS@]HOST:PORT/PREFIX] [--evse-id N]
[--count N] [--control HOST:PORT] [--time-scale N] [--scenario FILE] [--trace] [--seed N]
[--ev KIND] [--setting KEY=VALUE ...] [--meter MODEL [--no-meter-pty]]

The emulated charger as a process (docs/sim_hardware.md), or --count N of them in one
process. It prints where they can be reached, then runs until SIGTERM / SIGINT (or the
control command shutdown, or the end of --scenario: exit 0 passed, 1 failed). Exit 2 on
bad arguments.
"""

import argparse
import json
import selectors
import shutil
import signal
import sys

from protocols import meters
from sim_hardware.ev import KINDS
from sim_hardware.host import Host, Unit
from sim_hardware.mqtt_link import MqttLink, parse_mqtt_url
from sim_hardware.process import Control, LocalEngine, PtyLink, SocketLink, VmEngine, serve_meter

MAX_COUNT = 256
MAX_EVSE_ID = 9999


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
                   help="socket://HOST:PORT (TCP, like ser2net; port 0 = free), pty, or "
                        "mqtt://[USER:PASS@]HOST:PORT/PREFIX (topics PREFIX/evse/N/up and "
                        "/down) (default socket://127.0.0.1:7000)")
    p.add_argument("--evse-id", type=int, default=1,
                   help="EVSE id N of the (first) charger: its MQTT topics, its number in "
                        "the output and in control requests (default 1)")
    p.add_argument("--count", type=int, default=1,
                   help="chargers in this process (default 1; up to %d): EVSE ids N.., "
                        "socket:// ports PORT.. (or each a free one with port 0), a pty "
                        "each, MQTT topics of each id" % MAX_COUNT)
    p.add_argument("--control", default="127.0.0.1:7001",
                   help="HOST:PORT of the JSON-lines control socket (default 127.0.0.1:7001)")
    p.add_argument("--time-scale", type=_scale, default=1.0,
                   help="virtual seconds per real second (default 1)")
    p.add_argument("--scenario", help="run this scenario file, then exit (0 passed, 1 failed)")
    p.add_argument("--trace", action="store_true", help="print trace lines as they happen")
    p.add_argument("--seed", type=int, default=1,
                   help="entropy seed of the sim board (the k-th charger of --count: seed + k)")
    p.add_argument("--ev", choices=sorted(KINDS), default="basic", help="EV model")
    p.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                   help="a firmware setting (docs/firmware.md), repeatable")
    p.add_argument("--meter", choices=sorted(meters.METERS),
                   help="an emulated MID meter on the charger's RS-485 port, also served on its "
                        "own pty (its path is printed); the firmware polls it")
    p.add_argument("--no-meter-pty", action="store_true",
                   help="with --meter: no pty for outside Modbus masters (each pty costs a "
                        "thread polling it every 2 ms; the firmware polls its meter anyway)")
    args = p.parse_args(argv)
    try:
        args.link_address = args.mqtt = None
        if args.link.startswith("socket://"):
            args.link_address = _host_port(args.link[len("socket://"):], "--link socket://")
            if args.link_address[1] and args.link_address[1] + args.count - 1 > 65535:
                raise ValueError("--link socket://: ports %d.. for %d chargers pass 65535"
                                 % (args.link_address[1], args.count))
        elif args.link.startswith("mqtt"):
            args.mqtt = parse_mqtt_url(args.link)
        elif args.link != "pty":
            raise ValueError("--link must be socket://HOST:PORT, pty or "
                             "mqtt://[USER:PASS@]HOST:PORT/PREFIX, got %r" % args.link)
        if not 1 <= args.count <= MAX_COUNT:
            raise ValueError("--count must be 1..%d, got %d" % (MAX_COUNT, args.count))
        if not 1 <= args.evse_id <= MAX_EVSE_ID - args.count + 1:
            raise ValueError("--evse-id must be 1..%d with --count %d, got %d"
                             % (MAX_EVSE_ID - args.count + 1, args.count, args.evse_id))
        if args.count > 1 and args.vm == "micropython":
            raise ValueError("--count > 1 runs the firmware core on CPython only (one VM "
                             "process per charger: start one sim_hardware each)")
        if args.count > 1 and args.scenario:
            raise ValueError("--scenario runs on one charger: not with --count > 1")
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


def _link(args, sel, k):
    """The k-th charger's link (0-based)."""
    if args.mqtt is not None:
        return MqttLink(evse_id=args.evse_id + k, **args.mqtt)
    if args.link_address is None:
        return PtyLink(sel)
    host, port = args.link_address
    return SocketLink(sel, host, port + k if port else 0)


def _engines(args):
    """One initialised engine per charger, or (None, error)."""
    engines = []
    try:
        for k in range(args.count):
            engine = VmEngine(args.node) if args.vm == "micropython" else LocalEngine()
            engines.append(engine)
            rep = engine.request({"cmd": "init", "settings": args.settings,
                                  "seed": args.seed + k, "ev": args.ev, "meter": args.meter,
                                  "fw_root": engine.fw_root})
            if rep.get("ok") and args.scenario_text is not None:
                rep = engine.request({"cmd": "scenario", "text": args.scenario_text})
            if not rep.get("ok"):
                raise ValueError(rep.get("error", "refused"))
    except (RuntimeError, ValueError):
        for engine in engines:
            engine.close()
        raise
    return engines


def _print_start(args, host):
    many = len(host.units) > 1
    print("sim_hardware: firmware core on %s, time scale %g%s" % (
        host.units[0].engine.name, args.time_scale,
        ", %d chargers" % len(host.units) if many else ""))
    for u in host.units:
        label = " %d" % u.evse_id if many else ""
        print("link%s: %s" % (label, u.link.url))
        if u.meter is not None:
            print("meter%s: %s (%s, %d baud %s)" % (label, u.meter.path, args.meter,
                                                    u.meter.baud, u.meter.parity))
    print("control: " + host.control.address, flush=True)


def main(argv=None):
    parser, args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        engines = _engines(args)
    except RuntimeError as e:
        print("sim_hardware: %s" % e, file=sys.stderr)
        return 1
    except ValueError as e:
        parser.error(str(e))
    sel = selectors.DefaultSelector()
    links = []
    host = Host([], sel, args.time_scale, args.trace, args.scenario_text is not None)
    try:
        for k in range(args.count):
            links.append(_link(args, sel, k))
        host.control = Control(sel, *args.control_address, host.handle)
    except OSError as e:
        for link in links:
            link.close()
        for engine in engines:
            engine.close()
        parser.error("cannot listen: %s" % e)
    for k, (engine, link) in enumerate(zip(engines, links, strict=True)):
        meter = None
        if args.meter and not args.no_meter_pty:
            m = meters.get(args.meter)
            meter = serve_meter(engine, m["baud"], m["parity"])
        host.add(Unit(args.evse_id + k, engine, link, meter))
    stop = lambda *_: setattr(host, "stop", True)  # noqa: E731
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    _print_start(args, host)
    try:
        host.run()
    finally:
        host.close()
    print("sim_hardware: stopped", flush=True)
    return host.exit_code


if __name__ == "__main__":
    sys.exit(main())
