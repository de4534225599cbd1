"""python -m conformance --target sim|hil [--port PORT] [--firmware DIR] [--out DIR]
                        [--only ID[,ID...]] [--seed N]

Runs one check per requirement ID of DESIGN §6 against the target and writes the
evidence report (report.md, report.html, junit.xml, report.json and the plots) to --out.
Exit 0 when no ID failed, 1 when one did, 2 on bad arguments or a target that cannot be
reached. --firmware runs the suite against another copy of firmware/ (its evse/ package
is imported instead of the repository's): how a modified or deliberately broken firmware
is checked (tests/conformance/test_planted_faults.py)."""

import argparse
import datetime
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _args(argv):
    p = argparse.ArgumentParser(prog="python -m conformance", description=__doc__.split("\n\n")[1])
    p.add_argument("--target", required=True, choices=("sim", "hil"))
    p.add_argument("--port", help="hil: the rig controller's serial port")
    p.add_argument("--link-port", help="hil: the board's gateway link serial port")
    p.add_argument("--firmware", help="a firmware/ tree to check instead of the repository's")
    p.add_argument("--out", default="conformance-report", help="report directory")
    p.add_argument("--only", help="comma-separated requirement IDs")
    p.add_argument("--seed", type=int, default=1, help="entropy seed of the emulated boards")
    return p.parse_args(argv)


def _fail(msg):
    print("python -m conformance: " + msg, file=sys.stderr)
    return 2


def main(argv=None):
    a = _args(argv)
    firmware = Path(a.firmware or ROOT / "firmware").resolve()
    if not (firmware / "evse" / "controller.py").is_file():
        return _fail("--firmware %s: no evse/controller.py there" % firmware)
    sys.path[:0] = [str(firmware), str(ROOT)]  # before anything imports evse
    from conformance import report, runner
    from conformance.requirements import IDS

    only = None
    if a.only:
        only = [i.strip() for i in a.only.split(",") if i.strip()]
        unknown = [i for i in only if i not in IDS]
        if unknown:
            return _fail("--only: unknown requirement IDs %s (known: %s)"
                         % (", ".join(unknown), ", ".join(IDS)))
    if a.target == "sim":
        from conformance.targets import SimTarget

        target = SimTarget(seed=a.seed, firmware_dir=firmware)
    else:
        if not a.port:
            return _fail("--target hil needs --port, the rig controller's serial port")
        from sim_hardware.rig import RigError, RigTarget

        try:
            target = RigTarget(a.port, a.link_port)
        except RigError as e:
            return _fail(str(e))
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    t0 = time.monotonic()

    def progress(r):
        print("%-10s %-10s %-34s %6.2f s" % (r.req_id, r.verdict, r.check_name, r.duration_s),
              flush=True)

    results = runner.run(target, ids=only, progress=progress)
    runtime_s = time.monotonic() - t0
    meta = {"target": target.name, "target_description": target.description,
            "firmware": str(firmware), "started": started, "runtime_s": runtime_s}
    out = Path(a.out)
    report.write_all(results, meta, out)
    counts = report.summary(results)
    print("%d requirement IDs: pass %d, fail %d, not shown %d, not applicable %d; %.1f s"
          % (len(results), counts["pass"], counts["fail"], counts["not shown"],
             counts["not applicable"], runtime_s))
    print("report: %s" % (out / "report.html"))
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
