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
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SIM_SETTINGS = ("random_delay_max_s=0", "telemetry_interval_s=1", "pwm_min_interval_ms=0")


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
    """python -m sim_hardware on free loopback ports; extra_args e.g. ("--meter", "SDM630")."""

    def __init__(self, extra_args=()):
        args = [sys.executable, "-m", "sim_hardware", "--link", "socket://127.0.0.1:0",
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

    def __init__(self, csms_url, links, state_dir, station_id="CS001", config=None):
        args = [sys.executable, "-m", "gateway", "--csms", csms_url, "--station-id", station_id,
                "--ocpp", "1.6", "--state-dir", str(state_dir)]
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
