"""Processes for the OCPP 1.6 end-to-end tests: the emulated charger (`python -m sim_hardware`,
its link on socket://, its JSON-lines control socket), the gateway (`python -m gateway`) and
the in-process test CSMS (sim_hardware/csms16.py). Every wait is bounded; every process is
stopped."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from protocols.iec61851 import duty_from_current

REPO = Path(__file__).resolve().parents[2]
# no_charge_windows=[]: the gateway syncs the real time, and the firmware's default UK-10
# windows (weekdays 08-11, 16-22 UK time) would otherwise hold charges at those hours
SIM_SETTINGS = ("random_delay_max_s=0", "telemetry_interval_s=1", "pwm_min_interval_ms=0",
                "no_charge_windows=[]")


# the firmware's SDM630 polled every 200 ms: the register follows the EV within a poll
FAST_METER_ARGS = ("--meter", "SDM630", "--setting", 'meter={"model": "SDM630", "unit_id": 1, '
                   '"baud": 9600, "parity": "N", "poll_ms": 200}')


def duty(a):
    """The pilot duty (permille) of a current of a amps (IEC 61851-1 Annex A)."""
    return duty_from_current(int(a * 1000))


def import_wh(sim):
    return sim.status()["meter"]["import_wh"]


def charge(sim):
    """Plug in and draw 16 A on 3 phases; -> the meter's import register before."""
    before = import_wh(sim)
    sim.control("plug", state="B", pp_ohms=220)
    sim.control("draw", a=16, phases=3)
    sim.wait(lambda s: s["draw_ma"] > 15000, 15, "16 A to flow")
    return before


def duties_until_drawing(sim, timeout_s=15):
    """Every pilot duty the sim shows (~20 ms apart) until its EV draws current."""
    out = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        st = sim.status()
        out.append(st["duty_permille"])
        if st["draw_ma"] > 0:
            return out
        time.sleep(0.02)
    raise AssertionError("the EV did not draw within %d s; duties %s" % (timeout_s, out))


def read_lines(proc, prefixes, timeout_s):
    """Lines of proc's stdout until one starting with each prefix was seen."""
    found = {}
    deadline = time.monotonic() + timeout_s
    while len(found) < len(prefixes) and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        for p in prefixes:
            if line.startswith(p):
                found[p] = line[len(p):].strip()
    if len(found) < len(prefixes):
        proc.kill()
        raise AssertionError("%s did not print %s; stderr: %s"
                             % (proc.args[:3], prefixes, proc.stderr.read()[-2000:]))
    return found


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Sim:
    """python -m sim_hardware on free loopback ports; extra_args e.g. ("--meter", "SDM630");
    link e.g. "mqtt://USER:PASS@127.0.0.1:PORT/PREFIX" with ("--evse-id", "2")."""

    def __init__(self, extra_args=(), link="socket://127.0.0.1:0"):
        args = [sys.executable, "-m", "sim_hardware", "--link", link,
                "--control", "127.0.0.1:0"]
        for s in SIM_SETTINGS:
            args += ["--setting", s]
        args += list(extra_args)
        self.proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        found = read_lines(self.proc, ("link: ", "control: "), 15)
        self.link_url = found["link: "]
        host, _, port = found["control: "].rpartition(":")
        self._sock = socket.create_connection((host, int(port)), timeout=5)
        self._file = self._sock.makefile("r")

    def control(self, cmd, **fields):
        fields["cmd"] = cmd
        self._sock.sendall((json.dumps(fields) + "\n").encode())
        reply = json.loads(self._file.readline())
        assert reply["ok"], reply
        return reply

    def status(self):
        return self.control("status")["status"]

    def wait(self, pred, timeout_s, what):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            st = self.status()
            if pred(st):
                return st
            time.sleep(0.05)
        raise AssertionError("timed out after %.0f s waiting for %s; sim status: %s"
                             % (timeout_s, what, self.status()))

    def stop(self):
        with contextlib.suppress(OSError):
            self._sock.close()
        _stop(self.proc)


class Gateway:
    """python -m gateway against the test CSMS and the sim's link."""

    def __init__(self, csms_url, links, state_dir, station_id="CS001", config=None,
                 extra_args=(), ocpp="1.6"):
        args = [sys.executable, "-m", "gateway", "--csms", csms_url, "--station-id", station_id,
                "--ocpp", ocpp, "--state-dir", str(state_dir), *extra_args]
        for url in links:
            args += ["--evse", url]
        if config is not None:
            path = Path(state_dir).parent / "gateway_config.json"
            path.write_text(json.dumps(config))
            args += ["--config", str(path)]
        self.log = Path(state_dir).parent / "gateway.log"
        self._log_file = open(self.log, "w")  # noqa: SIM115 (closed in stop)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE,
                                     stderr=self._log_file, text=True, env=env)
        read_lines(self.proc, ("gateway: station",), 15)

    def stop(self):
        _stop(self.proc)
        self._log_file.close()

    def log_text(self):
        return self.log.read_text()


class LinkRelay:
    """A TCP relay on a free loopback port in front of a sim's socket:// link: give the
    gateway `link_url`. cut() closes both sides and refuses new connections (the link cable
    pulled: the gateway sees its link go down); restore() listens again on the same port."""

    def __init__(self, target_url):
        host, _, port = target_url.removeprefix("socket://").rpartition(":")
        self._target = (host, int(port))
        self._lock = threading.Lock()
        self._conns = []
        self._listener = None
        self.port = 0
        self.restore()
        self.link_url = "socket://127.0.0.1:%d" % self.port

    def restore(self):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(1)
        ls.settimeout(0.2)
        self.port = ls.getsockname()[1]
        self._listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def cut(self):
        with self._lock:
            ls, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if ls is not None:
            ls.close()
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()

    stop = cut

    def _accept(self, ls):
        while True:
            with self._lock:
                if self._listener is not ls:
                    return
            try:
                down, _ = ls.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                up = socket.create_connection(self._target, timeout=5)
            except OSError:
                down.close()
                continue
            up.settimeout(None)
            down.settimeout(None)
            with self._lock:
                self._conns += [down, up]
            for a, b in ((down, up), (up, down)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        with contextlib.suppress(OSError):
            while data := src.recv(4096):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
