"""P2: CSMS SetChargingProfile -> the new PWM duty on the emulated pilot line, over the link
at 115200 baud (DESIGN §7: p99 <= 50 ms, compared with the line time of the frames + one
tick).

What runs, all real processes and sockets on loopback (no virtual time), once per OCPP
version (`--ocpp 1.6|2.0.1`, default both, printed side by side):
- the test CSMS (sim_hardware/csms16.py or csms201.py, the mobilityhouse `ocpp` library on a
  thread here);
- `python -m sim_hardware --link socket://127.0.0.1:0` at time scale 1 (10 ms ticks of
  wall time), the firmware core unchanged on CPython;
- a pacing proxy (this file) between the two on the link: socket:// itself has no baud
  rate, so each chunk of bytes is held until its last byte would have arrived over a
  115200 baud 8N1 line (10 bits a byte, one direction at a time busy); `--no-pacing`
  connects the gateway to the sim directly;
- `python -m gateway --ocpp 1.6|2.0.1 --evse socket://<proxy>`.

A free-vend session charges on connector (EVSE) 1 (32 A cable, EV asking 32 A); then CHANGES
times the CSMS installs a TxDefaultProfile on it alternating 16 A and 10 A (same id, so each
replaces the last; 2.0.1: SetChargingProfile evseId 1). One change is the wall time from
handing the call to the CSMS's library to the first sim control-socket `status` that shows the
new duty (polled every POLL_MS). It includes the CSMS library's own schema check of the
call, the WebSocket, the gateway (profile rules, profiles.json, the composite, the SQLite
generation, the SCHEDULE frame), the paced link, the firmware's next 10 ms tick and the
poll.

pwm_min_interval_ms is set to 0 on the sim (`--setting`): the firmware's default 5000 holds
every increase for 5 s after the last change (IEC 61851-1 Annex A, load-driven changes at
most every 5 s), which is policy, not latency; decreases apply at once either way. Both
directions are reported; decreases are what the default firmware shows unchanged.

Floor: the SCHEDULE frame of one period (protocols.link, the gateway's own encoding) at
115200 baud, 10 bits a byte, plus one 10 ms tick (the firmware applies it at its next tick).
Run from the repository root: .venv/bin/python bench/p2_profile_to_duty.py [--changes N]
[--ocpp 1.6|2.0.1|both]
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]

from latency import add_ocpp_argument, pct, side_by_side, summary, versions  # noqa: E402
from ocpp16_fixture import read_lines  # noqa: E402

from protocols import iec61851, link  # noqa: E402
from protocols import link_messages as lm  # noqa: E402

TARGET_MS = 50
BAUD = 115200
BITS_PER_BYTE = 10  # 8N1: start + 8 data + stop
TICK_MS = 10
POLL_MS = 2
CURRENTS_A = (16, 10)
# no_charge_windows=[]: the gateway syncs the real time, and the firmware's default UK-10
# windows (weekdays 08-11, 16-22 UK time) would otherwise hold charges at those hours
SIM_SETTINGS = ("random_delay_max_s=0", "telemetry_interval_s=1", "pwm_min_interval_ms=0",
                "no_charge_windows=[]")


def line_ms(n_bytes):
    return n_bytes * BITS_PER_BYTE * 1000 / BAUD


def schedule_frame_bytes():
    """The SCHEDULE a one-period TxDefaultProfile becomes, framed as on the wire."""
    fields = {"entity": lm.SRC_CSMS, "generation": 123456, "start_unix_s": int(time.time()),
              "duration_s": 0, "repeat_s": 0, "periods": [(0, 10000)]}
    return len(link.encode_frame(lm.SCHEDULE, fields, tag=200))


class PacedProxy:
    """TCP proxy on the link that delivers each chunk when its last byte would have crossed
    a BAUD line (store and forward per chunk; each direction a line of its own)."""

    def __init__(self, upstream_host, upstream_port):
        self.upstream = (upstream_host, upstream_port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.bytes = [0, 0]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                down, _ = self.server.accept()
            except OSError:
                return
            up = socket.create_connection(self.upstream)
            for s in (down, up):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pipe, args=(down, up, 0), daemon=True).start()
            threading.Thread(target=self._pipe, args=(up, down, 1), daemon=True).start()

    def _pipe(self, src, dst, direction):
        free_at = 0.0
        byte_s = BITS_PER_BYTE / BAUD
        while True:
            try:
                data = src.recv(4096)
            except OSError:
                data = b""
            if not data:
                for s in (src, dst):
                    try:
                        s.close()
                    except OSError:
                        pass
                return
            done = max(time.monotonic(), free_at) + len(data) * byte_s
            free_at = done
            wait = done - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self.bytes[direction] += len(data)
            try:
                dst.sendall(data)
            except OSError:
                return


class Control:
    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self.sock = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("r")

    def __call__(self, cmd, **fields):
        fields["cmd"] = cmd
        self.sock.sendall((json.dumps(fields) + "\n").encode())
        reply = json.loads(self.file.readline())
        if not reply.get("ok"):
            raise SystemExit("sim refused %s: %s" % (cmd, reply))
        return reply

    def duty(self):
        return self("status")["status"]["duty_permille"]

    def wait_duty(self, pred, timeout_s):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            d = self.duty()
            if pred(d):
                return d
            time.sleep(0.05)
        raise SystemExit("timed out waiting for the duty (now %d)" % self.duty())


def measure(ocpp, csms, ctl, changes):
    lat = {a: [] for a in CURRENTS_A}
    for i in range(changes):
        limit_a = CURRENTS_A[i % 2]
        want = iec61851.duty_from_current(limit_a * 1000)
        t0 = time.monotonic()
        fut = csms.send(ocpp.set_profile(1, limit_a))
        while True:
            d = ctl.duty()
            if d == want:
                lat[limit_a].append((time.monotonic() - t0) * 1000)
                break
            if time.monotonic() - t0 > 10:
                raise SystemExit("change %d: duty %d, never %d" % (i, d, want))
            time.sleep(POLL_MS / 1000)
        r = fut.result(10)
        if r.status != "Accepted":
            raise SystemExit("change %d: SetChargingProfile %s" % (i, r.status))
        time.sleep(0.1 + (i % 7) * 0.013)  # not in step with the 10 ms tick
    return lat


def run(ocpp, args):
    """One version's run -> {"lat": {A: [ms]}, "wall_s", "bytes": link bytes or None}."""
    procs = []
    csms = ocpp.csms().start()
    tmp = tempfile.TemporaryDirectory(prefix="p2_")
    try:
        sim_args = [sys.executable, "-m", "sim_hardware", "--link", "socket://127.0.0.1:0",
                    "--control", "127.0.0.1:0", "--time-scale", "1"]
        for s in SIM_SETTINGS:
            sim_args += ["--setting", s]
        sim = subprocess.Popen(sim_args, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        procs.append(sim)
        found = read_lines(sim, ("link: ", "control: "), 20)
        host, _, port = found["link: "][len("socket://"):].rpartition(":")
        proxy = None
        link_url = found["link: "]
        if not args.no_pacing:
            proxy = PacedProxy(host, int(port))
            link_url = "socket://127.0.0.1:%d" % proxy.port
        ctl = Control(found["control: "])
        gw = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--csms", csms.url, "--station-id", "P2",
             "--ocpp", ocpp.VERSION, "--evse", link_url,
             "--state-dir", str(Path(tmp.name) / "state")],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"))
        procs.append(gw)
        read_lines(gw, ("gateway: station",), 20)
        csms.wait_status(1, "Available", 20)
        ctl("plug", state="B", pp_ohms=220)
        ctl("draw", a=32, phases=3)
        csms.wait_until(lambda: ocpp.started(csms) >= 1, 20, "the transaction")
        ctl.wait_duty(lambda d: d == iec61851.duty_from_current(32000), 20)
        measure(ocpp, csms, ctl, 4)  # warm-up, not counted

        t_run = time.monotonic()
        lat = measure(ocpp, csms, ctl, args.changes)
        wall_s = time.monotonic() - t_run
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
        csms.stop()
        tmp.cleanup()
    return {"lat": lat, "wall_s": wall_s, "bytes": list(proxy.bytes) if proxy else None}


def report(ocpp, r):
    lat, wall_s = r["lat"], r["wall_s"]
    frame_n = schedule_frame_bytes()
    floor_ms = line_ms(frame_n) + TICK_MS
    both = lat[16] + lat[10]
    p99 = pct(both, 99)
    print("P2, OCPP %s: CSMS SetChargingProfile -> new pilot duty, %d changes (%.0f s), link %s"
          % (ocpp.VERSION, len(both), wall_s, "paced at %d baud 8N1 by a proxy" % BAUD
             if r["bytes"] else "socket:// unpaced"))
    print(summary("all", both))
    print(summary("decrease", lat[10]) + "   16 A -> 10 A (duty %d -> %d permille)"
          % (iec61851.duty_from_current(16000), iec61851.duty_from_current(10000)))
    print(summary("increase", lat[16]) + "   10 A -> 16 A (pwm_min_interval_ms=0)")
    print("target p99 <= %d ms: p99 %.1f ms = %.2f x the target -> %s"
          % (TARGET_MS, p99, p99 / TARGET_MS, "met" if p99 <= TARGET_MS else "NOT met"))
    print("floor: SCHEDULE frame %d bytes x %d bits / %d baud = %.2f ms + one %d ms tick = "
          "%.2f ms; p50 / floor = %.2f, p99 / floor = %.2f"
          % (frame_n, BITS_PER_BYTE, BAUD, line_ms(frame_n), TICK_MS, floor_ms,
             pct(both, 50) / floor_ms, p99 / floor_ms))
    if r["bytes"]:
        print("link bytes during the run: gateway->firmware %d, firmware->gateway %d"
              % tuple(r["bytes"]))
    print("notes: wall time from handing the call to the CSMS library to the first sim "
          "status showing the duty, polled every %d ms (adds up to ~%d ms + a status round "
          "trip); the firmware applies a schedule at its next 10 ms tick (up to one tick); "
          "pwm_min_interval_ms=0 on the sim, with the default 5000 an increase waits 5 s "
          "after the last change by design (Annex A), decreases are unchanged."
          % (POLL_MS, POLL_MS))


def compare(results):
    """The versions side by side, with the ratios to the target and to the floor."""
    names = list(results)
    floor_ms = line_ms(schedule_frame_bytes()) + TICK_MS

    def values(fn):
        return {n: fn(r["lat"]) for n, r in results.items()}

    rows = [("p50 all", values(lambda lat: pct(lat[16] + lat[10], 50)), floor_ms, "ms"),
            ("p99 all", values(lambda lat: pct(lat[16] + lat[10], 99)), TARGET_MS, "ms"),
            ("p99 all / floor", values(lambda lat: pct(lat[16] + lat[10], 99)), floor_ms, "ms"),
            ("p99 decrease (16 -> 10 A)", values(lambda lat: pct(lat[10], 99)), TARGET_MS,
             "ms"),
            ("p99 increase (10 -> 16 A)", values(lambda lat: pct(lat[16], 99)), TARGET_MS,
             "ms"),
            ("max all", values(lambda lat: max(lat[16] + lat[10])), TARGET_MS, "ms")]
    print(side_by_side("P2 side by side (limit: the %d ms target, or the %.2f ms floor)"
                       % (TARGET_MS, floor_ms), rows, names))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--changes", type=int, default=200)
    ap.add_argument("--no-pacing", action="store_true", help="gateway straight on socket://")
    add_ocpp_argument(ap)
    args = ap.parse_args()
    if args.changes < 2:
        ap.error("--changes: at least 2 (one of each direction)")
    results = {}
    for ocpp in versions(args.ocpp):
        results[ocpp.VERSION] = r = run(ocpp, args)
        report(ocpp, r)
        print()
    if len(results) > 1:
        compare(results)


if __name__ == "__main__":
    main()
