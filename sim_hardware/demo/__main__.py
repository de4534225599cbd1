"""python -m sim_hardware.demo [--interactive] [--ocpp 1.6|2.0.1] [--vm micropython|cpython]
[--time-scale N] [--random-delay-max-s S] [--seed N] [--out DIR] [--plain]

`make demo`: the bundled CSMS, a mosquitto broker, the emulated charger and the gateway, a
scripted session on a live dashboard, then a summary and a plot in DIR (default
demo-output/). The environment gives the defaults `make demo` passes on: DEMO=interactive,
OCPP=1.6|2.0.1, DEMO_VM=micropython|cpython, DEMO_SEED=N. Exit 0 when every step happened,
1 when one did not (the summary says which), 2 on bad options or a missing prerequisite."""

import argparse
import contextlib
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from sim_hardware.csms_web import CsmsWeb
from sim_hardware.demo import keys, report, script
from sim_hardware.demo.dashboard import LiveDashboard, PlainProgress
from sim_hardware.demo.energy_manager import EnergyManager
from sim_hardware.demo.observer import Observer
from sim_hardware.demo.processes import (
    HEMS_PREFIX,
    INSTALL_MOSQUITTO,
    REPO,
    PartFailed,
    Parts,
    find_mosquitto,
)

OCPP_KNOWN = ("1.6", "2.0.1")
VMS = ("micropython", "cpython")
DEMO_MODES = ("", "scripted", "interactive")


def _env(name, default):
    return os.environ.get(name) or default


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m sim_hardware.demo", description=(
        "The whole charger on emulated hardware: bundled CSMS, mosquitto, the emulated "
        "charger, the gateway, a scripted session on a live dashboard."))
    p.add_argument("--interactive", action="store_true",
                   help="keep running; keys plug, unplug, press the button, cut power, quit "
                        "(default: DEMO=interactive)")
    p.add_argument("--ocpp", default=_env("OCPP", "1.6"),
                   help="OCPP version: 1.6 or 2.0.1 (default: $OCPP or 1.6)")
    p.add_argument("--vm", default=_env("DEMO_VM", "micropython"),
                   help="interpreter of the firmware core: micropython (the MicroPython 1.27 "
                        "VM) or cpython (default: $DEMO_VM or micropython)")
    p.add_argument("--time-scale", type=float, default=2.0,
                   help="charger seconds per wall second (default 2)")
    p.add_argument("--random-delay-max-s", type=int, default=20,
                   help="the firmware's random_delay_max_s for the demo (default 20; the "
                        "regulations' default is 600)")
    p.add_argument("--seed", type=int, default=None,
                   help="the charger's entropy seed (default: $DEMO_SEED or a random one)")
    p.add_argument("--out", default=str(REPO / "demo-output"),
                   help="directory of the summary, the plot and the logs (default "
                        "demo-output/)")
    p.add_argument("--plain", action="store_true",
                   help="plain progress lines even on a terminal")
    args = p.parse_args(argv)
    mode = os.environ.get("DEMO", "")
    problems = []
    if mode not in DEMO_MODES:
        problems.append("DEMO=%s: must be interactive (or unset)" % mode)
    args.interactive = args.interactive or mode == "interactive"
    if args.ocpp not in OCPP_KNOWN:
        problems.append("OCPP %r: must be one of %s" % (args.ocpp, ", ".join(OCPP_KNOWN)))
    if args.vm not in VMS:
        problems.append("DEMO_VM / --vm %r: must be micropython or cpython" % args.vm)
    if not 0 < args.time_scale <= 10:
        problems.append("--time-scale %g: must be in (0, 10]" % args.time_scale)
    if not 0 <= args.random_delay_max_s <= 1800:
        problems.append("--random-delay-max-s %d: must be 0..1800 (UK SCP reg 11)"
                        % args.random_delay_max_s)
    if args.seed is None:
        seed = os.environ.get("DEMO_SEED", "")
        if seed and not seed.isdigit():
            problems.append("DEMO_SEED=%s: must be a whole number" % seed)
        args.seed = int(seed) if seed.isdigit() else random.SystemRandom().randrange(1, 10**6)
    if problems:
        p.error("; ".join(problems))
    return args


def prerequisites(opts):
    """-> (mosquitto paths, None) or (None, what is missing and how to install it)."""
    if opts.interactive and not sys.stdin.isatty():
        return None, "DEMO=interactive needs a terminal to read keys from"
    mosquitto = find_mosquitto()
    if mosquitto is None:
        return None, INSTALL_MOSQUITTO
    if opts.vm == "micropython" and (shutil.which("node") is None
                                     or not (REPO / "node_modules").is_dir()):
        return None, ("the firmware core on the MicroPython VM needs Node.js 20+ and the "
                      "npm packages: sudo apt-get install nodejs npm, then make setup (or "
                      "DEMO_VM=cpython make demo)")
    return mosquitto, None


def firmware_settings(opts):
    return {
        "random_delay_max_s": opts.random_delay_max_s,
        # the UK-10 default no-charge hours (weekdays 08-11, 16-22) would hold the demo's
        # charge at those hours: the owner may remove them, and the demo does
        "no_charge_windows": [],
        "telemetry_interval_s": 1,  # a lively MQTT state
    }


def header(opts):
    return ("OCPP %s · firmware core on %s · charger time x%g · seed %d\n"
            "random_delay_max_s=%d for the demo (the UK default is 600 s); no default "
            "no-charge hours (UK-10) so the demo charges at any time of day"
            % (opts.ocpp, "the MicroPython 1.27 VM" if opts.vm == "micropython" else "CPython",
               opts.time_scale, opts.seed, opts.random_delay_max_s))


def _terminated(signum, frame):
    raise KeyboardInterrupt  # SIGTERM / SIGHUP end the demo like Ctrl-C: every part stops


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _terminated)
    signal.signal(signal.SIGHUP, _terminated)  # its terminal closed: no broker left behind
    mosquitto, missing = prerequisites(opts)
    if missing:
        print("make demo: " + missing, file=sys.stderr)
        return 2
    with contextlib.suppress(AttributeError):  # a stdout without reconfigure (captured)
        sys.stdout.reconfigure(errors="replace")
    out_dir = Path(opts.out)
    live = sys.stdout.isatty() and not opts.plain
    help_line = keys.HELP if opts.interactive else None
    ui = (LiveDashboard(Console(), opts, header(opts), help_line) if live
          else PlainProgress(sys.stdout, opts, header(opts), help_line))
    started = time.monotonic()
    results, marks, obs, em, web, engine = [], [], None, None, None, opts.vm
    code = 0
    with tempfile.TemporaryDirectory(prefix="smartevse-demo-") as tmp:
        parts = Parts(out_dir, Path(tmp), opts, firmware_settings(opts))
        try:
            parts.start(mosquitto, ui.say)
            web = CsmsWeb(parts.csms)
            page = "the CSMS's web page (loopback): %s" % web.start()
            ui.say(page)
            ui.header += "\n" + page
            engine = parts.charger.banner.split(",")[0].replace("firmware core on ", "")
            em = EnergyManager(parts.broker.url(HEMS_PREFIX))
            em.start()
            obs = Observer(parts, em)
            runner = script.Runner(parts, obs, em, ui, opts)
            ui.attach(obs)
            obs.poll()
            ui.start()
            if opts.interactive:
                results = keys.run(runner, marks)
            else:
                def on_step(i, row, facts, error):
                    if facts is None and error is None and row[0] in report.MARKERS:
                        marks.append((report.MARKERS[row[0]], obs.vs()))
                    ui.step(i, row, facts, error)

                script.run(runner, on_step, results)
        except (PartFailed, RuntimeError) as e:  # a part that did not start or stopped
            ui.stop()
            print("make demo: %s" % e, file=sys.stderr)
            code = 1
        except KeyboardInterrupt:
            code = 130
        finally:
            ui.stop()
            if em is not None:
                em.stop()
            if web is not None:
                web.stop()
            parts.stop()
    if obs is None:
        return code or 1
    s = report.summary(results, obs, opts, time.monotonic() - started, engine,
                       interrupted=code == 130)
    print("\n" + report.write(out_dir, s, obs, marks), flush=True)
    if code:
        return code
    return 0 if s["ok"] or opts.interactive else 1


if __name__ == "__main__":
    sys.exit(main())
