"""P5: one gateway process serving 64 EVSEs with 1 s telemetry (DESIGN §7: < 10 % of one
core, p99 schedule push < 100 ms).

What runs, all real processes and sockets on loopback, in real time, once per OCPP version
(`--ocpp 1.6|2.0.1`, default both, printed side by side):
- the test CSMS (sim_hardware/csms16.py or csms201.py, the mobilityhouse `ocpp` library on a
  thread here);
- ONE `python -m sim_hardware --count 64 --link socket://127.0.0.1:0` process: 64 emulated
  chargers (the firmware core unchanged on CPython, each its own sim board, EV and link
  listener), ticking every 10 ms of wall time, TELEMETRY every second
  (`telemetry_interval_s=1`);
- `python -m gateway --ocpp 1.6|2.0.1 --evse socket://… ×64`: one station, connectors (EVSEs)
  1..64.

Every EVSE runs a free-vend session (EV on a 32 A cable asking 16 A on 3 phases).

CPU share: utime + stime of the gateway process (all its threads) from /proc/<pid>/stat over
a steady window of WINDOW_S seconds of sessions and telemetry with no CSMS request, divided
by the wall time of the window: the share of one core. The sim process's share is printed
beside it (it is the 64 chargers, not the gateway). OCPP MeterValues (2.0.1: TransactionEvent
Updated) go at the gateway's MeterValueSampleInterval (2.0.1: SampledDataCtrlr
TxUpdatedInterval; 60 s by default, `--meter-values-s` changes it before the window).

Push latency: PUSHES times the CSMS installs a TxDefaultProfile on connector 0 (2.0.1: evseId
0; so for all 64 connectors), alternating 10 A and 16 A (same id, each replaces the last).
For each push and each EVSE, the latency is from handing the call to the CSMS's library to
the round of 10 ms ticks in which that EVSE's pilot duty became the new one: the sim process stamps
every duty change with time.monotonic() (CLOCK_MONOTONIC, the same clock in every process of
the host; `pilots` on its control socket), so the bench polls it lazily and the poll adds
nothing. p50/p99 are over PUSHES x 64 samples; "all 64" is the time until the last EVSE of
a push had it. It includes the CSMS library's schema check, the WebSocket, the gateway
(profile rules, profiles.json, composite per connector, the SQLite generation, 64 SCHEDULE
frames), socket:// (unpaced: P2 measures a 115200 baud line) and the firmware's next tick.
`pwm_min_interval_ms=0` on the chargers, as in P2: with the firmware default an increase
waits up to 5 s after the last change by design (IEC 61851-1 Annex A).

Run from the repository root: .venv/bin/python bench/p5_gateway_64_evses.py
[--evses 64] [--window-s 30] [--pushes 10] [--ocpp 1.6|2.0.1|both]. It finishes in under 2
minutes a version on 2 CPUs.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "e2e")]

from latency import add_ocpp_argument, pct, side_by_side, summary, versions  # noqa: E402
from ocpp16_fixture import read_lines  # noqa: E402

from protocols import iec61851, link  # noqa: E402
from protocols import link_messages as lm  # noqa: E402

CPU_TARGET = 0.10  # of one core
PUSH_TARGET_MS = 100
CURRENTS_A = (10, 16)
FLOOR_A = (7, 9)  # under the gateway's last TxDefaultProfile, which stays in force
FLOOR_GENERATION = 1000  # newer (RFC 1982 order) than the gateway's csms LIMITs
# no_charge_windows=[]: the gateway syncs the real time and the firmware's default UK-10
# hours (weekdays 08-11, 16-22) would hold every session when the bench runs then
SIM_SETTINGS = ("random_delay_max_s=0", "telemetry_interval_s=1", "pwm_min_interval_ms=0",
                "no_charge_windows=[]")
CLK_TCK = os.sysconf("SC_CLK_TCK")
METER = "SDM630"  # each charger's MID meter, polled by its firmware: energy in MeterValues


def cpu_s(pid):
    """utime + stime of a process (all threads) in seconds, /proc/<pid>/stat fields 14, 15."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Control:
    """The sim process's JSON-lines control socket."""

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.file = self.sock.makefile("r")

    def __call__(self, cmd, **fields):
        fields["cmd"] = cmd
        self.sock.sendall((json.dumps(fields) + "\n").encode())
        reply = json.loads(self.file.readline())
        if not reply.get("ok"):
            raise SystemExit("sim refused %s: %s" % (cmd, reply))
        return reply

    def pilots(self):
        return self("pilots")["pilots"]

    def wait_pilots(self, pred, timeout_s, what):
        deadline = time.monotonic() + timeout_s
        while True:
            pilots = self.pilots()
            if all(pred(p) for p in pilots):
                return pilots
            if time.monotonic() > deadline:
                late = [(p["evse"], p["duty_permille"]) for p in pilots if not pred(p)]
                raise SystemExit("timed out waiting for %s; (EVSE, duty) late: %s" % (what, late))
            time.sleep(0.05)


def start_sessions(ocpp, csms, ctl, n):
    for evse in range(1, n + 1):
        ctl("plug", evse=evse, state="B", pp_ohms=220)
        ctl("draw", evse=evse, a=16, phases=3)
    csms.wait_until(lambda: ocpp.started(csms) >= n, 60, "%d started transactions" % n)
    duty = iec61851.duty_from_current(32000)
    ctl.wait_pilots(lambda p: p["duty_permille"] == duty, 30, "the 32 A duty")


def push(ocpp, csms, ctl, limit_a):
    """One TxDefaultProfile on connector 0 -> (ms until each EVSE's pilot had the new duty,
    ms until the CSMS had the station's answer)."""
    want = iec61851.duty_from_current(limit_a * 1000)
    answered = []
    t0 = time.monotonic()
    fut = csms.send(ocpp.set_profile(0, limit_a, 5))
    fut.add_done_callback(lambda _f: answered.append(time.monotonic()))
    pilots = ctl.wait_pilots(lambda p: p["duty_permille"] == want, 30, "%d A" % limit_a)
    r = fut.result(30)
    if r.status != "Accepted":
        raise SystemExit("SetChargingProfile %d A: %s" % (limit_a, r.status))
    return [(p["duty_changed_s"] - t0) * 1000 for p in pilots], (answered[0] - t0) * 1000


def floor_pushes(link_urls, ctl, pushes):
    """The emulation's own share, without the gateway: the bench writes a LIMIT frame to all
    the links at once (as raw as a gateway could) -> ms until each pilot had the duty."""
    socks = []
    for url in link_urls:
        host, _, port = url[len("socket://"):].rpartition(":")
        socks.append(socket.create_connection((host, int(port)), timeout=10))
    lat = []
    try:
        for i in range(pushes):
            limit_a = FLOOR_A[i % 2]
            frame = link.encode_frame(lm.LIMIT, {
                "entity": lm.SRC_CSMS, "generation": FLOOR_GENERATION + i,
                "limit_ma": limit_a * 1000, "duration_s": 0}, tag=1 + i % 250)
            want = iec61851.duty_from_current(limit_a * 1000)
            t0 = time.monotonic()
            for s in socks:
                s.sendall(frame)
            pilots = ctl.wait_pilots(lambda p, w=want: p["duty_permille"] == w, 30,
                                     "%d A" % limit_a)
            lat += [(p["duty_changed_s"] - t0) * 1000 for p in pilots]
            time.sleep(0.3 + (i % 5) * 0.037)
    finally:
        for s in socks:
            s.close()
    return lat


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def run(args, ocpp, csms, state_dir):
    """Every phase; -> a dict of what was measured."""
    out = {"t0": time.monotonic()}
    procs = []
    try:
        sim_args = [sys.executable, "-m", "sim_hardware", "--count", str(args.evses),
                    "--link", "socket://127.0.0.1:0", "--control", "127.0.0.1:0",
                    "--meter", METER, "--no-meter-pty"]
        for s in SIM_SETTINGS:
            sim_args += ["--setting", s]
        sim = subprocess.Popen(sim_args, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        procs.append(sim)
        labels = ["link %d: " % n for n in range(1, args.evses + 1)] if args.evses > 1 \
            else ["link: "]
        found = read_lines(sim, tuple(labels) + ("control: ",), 30)
        links = [found[label] for label in labels]
        ctl = Control(found["control: "])
        gw_args = [sys.executable, "-m", "gateway", "--csms", csms.url, "--station-id", "P5",
                   "--ocpp", ocpp.VERSION, "--state-dir", str(state_dir)]
        for url in links:
            gw_args += ["--evse", url]
        gw = subprocess.Popen(gw_args, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True,
                              env=dict(os.environ, PYTHONUNBUFFERED="1"))
        procs.append(gw)
        read_lines(gw, ("gateway: station",), 30)
        csms.wait_until(lambda: ocpp.available(csms) >= set(range(1, args.evses + 1)), 60,
                        "every connector Available")
        if args.meter_values_s is not None:
            status = ocpp.set_meter_interval(csms, args.meter_values_s)
            if status != "Accepted":
                raise SystemExit("the meter values interval: %s" % status)
        start_sessions(ocpp, csms, ctl, args.evses)
        out["ready_s"] = time.monotonic() - out["t0"]

        time.sleep(2)  # the sessions' first messages settle
        n_msgs = len(csms.messages)
        cpu0 = (cpu_s(gw.pid), cpu_s(sim.pid), time.monotonic())
        time.sleep(args.window_s)
        cpu1 = (cpu_s(gw.pid), cpu_s(sim.pid), time.monotonic())
        out["window_s"] = wall = cpu1[2] - cpu0[2]
        out["gw_share"] = (cpu1[0] - cpu0[0]) / wall
        out["sim_share"] = (cpu1[1] - cpu0[1]) / wall
        out["window_calls"] = [a for d, _t, a, _p in csms.messages[n_msgs:] if d == "in" and a]

        push(ocpp, csms, ctl, 16)  # warm-up, not counted (the first install writes profiles.json)
        out.update(lat=[], first=[], last=[], answers=[])
        n_msgs = len(csms.messages)
        cpu_p0 = (cpu_s(gw.pid), time.monotonic())
        for i in range(args.pushes):
            ms, answer_ms = push(ocpp, csms, ctl, CURRENTS_A[i % 2])
            out["lat"] += ms
            out["first"].append(min(ms))
            out["last"].append(max(ms))
            out["answers"].append(answer_ms)
            time.sleep(0.3 + (i % 5) * 0.037)  # not in step with the 10 ms tick
        cpu_p1 = (cpu_s(gw.pid), time.monotonic())
        out["push_share"] = (cpu_p1[0] - cpu_p0[0]) / (cpu_p1[1] - cpu_p0[1])
        out["push_calls"] = [a for d, _t, a, _p in csms.messages[n_msgs:] if d == "in" and a]

        t_stop = time.monotonic()
        stop(gw)  # the chargers keep charging (link_timeout_ms 0: no failsafe)
        out["gw_stop_s"] = time.monotonic() - t_stop
        out["floor"] = floor_pushes(links, ctl, args.pushes)
    finally:
        for p in reversed(procs):
            stop(p)
    out["total_s"] = time.monotonic() - out["t0"]
    return out


def _counts(actions):
    kinds = {}
    for action in actions:
        kinds[action] = kinds.get(action, 0) + 1
    return ", ".join("%s %d" % kv for kv in sorted(kinds.items())) or "none"


def report(args, ocpp, r):
    p99 = pct(r["lat"], 99)
    print("P5, OCPP %s: one gateway, %d EVSEs (one sim process), TELEMETRY every 1 s, a "
          "free-vend session on each" % (ocpp.VERSION, args.evses))
    print("setup: %.1f s to every connector charging; bench total %.1f s"
          % (r["ready_s"], r["total_s"]))
    print("CPU over a %.1f s steady window: gateway %.1f %% of one core (target < %d %%: "
          "%.2f x the target -> %s); the %d emulated chargers %.1f %%"
          % (r["window_s"], 100 * r["gw_share"], 100 * CPU_TARGET, r["gw_share"] / CPU_TARGET,
             "met" if r["gw_share"] < CPU_TARGET else "NOT met", args.evses,
             100 * r["sim_share"]))
    print("  OCPP calls from the station in the window: %s" % _counts(r["window_calls"]))
    print("push: TxDefaultProfile on connector 0 -> new duty on each pilot, %d pushes "
          "alternating %s A" % (args.pushes, "/".join(map(str, CURRENTS_A))))
    print(summary("per EVSE", r["lat"], 22))
    print(summary("first EVSE of a push", r["first"], 22))
    print(summary("all %d of a push" % args.evses, r["last"], 22))
    print(summary("CSMS had the answer", r["answers"], 22))
    print("target p99 < %d ms: p99 %.1f ms = %.2f x the target -> %s"
          % (PUSH_TARGET_MS, p99, p99 / PUSH_TARGET_MS,
             "met" if p99 < PUSH_TARGET_MS else "NOT met"))
    print("gateway CPU during the pushes: %.1f %% of one core; its clean stop (SIGTERM) "
          "took %.1f s" % (100 * r["push_share"], r["gw_stop_s"]))
    print("  OCPP calls from the station during the pushes: %s" % _counts(r["push_calls"]))
    print(summary("floor, no gateway", r["floor"], 22) + "   LIMIT frames written by the "
          "bench straight to the %d links (the emulation's and the machine's share)"
          % args.evses)
    print("notes: latency from handing the call to the CSMS library to the sim's tick round "
          "that showed the duty (time.monotonic of both processes); link socket:// unpaced; "
          "pwm_min_interval_ms=0 on the chargers; machine: %d CPUs, load average %s"
          % (os.cpu_count(), " ".join("%.2f" % x for x in os.getloadavg())))


def compare(args, results):
    """The versions side by side, with the ratios to the DESIGN §7 targets."""
    names = list(results)

    def values(fn):
        return {n: fn(r) for n, r in results.items()}

    rows = [("gateway CPU, steady window", values(lambda r: 100 * r["gw_share"]),
             100 * CPU_TARGET, "%"),
            ("gateway CPU, pushing", values(lambda r: 100 * r["push_share"]), None, "%"),
            ("%d chargers' CPU (sim)" % args.evses, values(lambda r: 100 * r["sim_share"]),
             None, "%"),
            ("push p50 per EVSE", values(lambda r: pct(r["lat"], 50)), PUSH_TARGET_MS, "ms"),
            ("push p99 per EVSE", values(lambda r: pct(r["lat"], 99)), PUSH_TARGET_MS, "ms"),
            ("push p99 all %d of a push" % args.evses, values(lambda r: pct(r["last"], 99)),
             PUSH_TARGET_MS, "ms"),
            ("CSMS had the answer p99", values(lambda r: pct(r["answers"], 99)),
             PUSH_TARGET_MS, "ms"),
            ("floor p99 (no gateway)", values(lambda r: pct(r["floor"], 99)), PUSH_TARGET_MS,
             "ms")]
    print(side_by_side("P5 side by side (limits: DESIGN §7, < %d %% of one core, push p99 < "
                       "%d ms)" % (100 * CPU_TARGET, PUSH_TARGET_MS), rows, names))
    for n, r in results.items():
        print("  OCPP %s station calls: in the window %s; during the pushes %s"
              % (n, _counts(r["window_calls"]), _counts(r["push_calls"])))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--evses", type=int, default=64)
    ap.add_argument("--window-s", type=float, default=30.0, help="steady CPU window")
    ap.add_argument("--pushes", type=int, default=10)
    ap.add_argument("--meter-values-s", type=int, default=None,
                    help="MeterValueSampleInterval set by the CSMS before the window")
    add_ocpp_argument(ap)
    args = ap.parse_args()
    if not 1 <= args.evses <= 256 or args.window_s <= 0 or not 2 <= args.pushes <= 200:
        ap.error("--evses 1..256, --window-s > 0, --pushes 2..200")
    results = {}
    for ocpp in versions(args.ocpp):
        csms = ocpp.csms().start()
        try:
            with tempfile.TemporaryDirectory(prefix="p5_") as tmp:
                results[ocpp.VERSION] = r = run(args, ocpp, csms, Path(tmp) / "state")
        finally:
            csms.stop()
        report(args, ocpp, r)
        print()
    if len(results) > 1:
        compare(args, results)


if __name__ == "__main__":
    main()
