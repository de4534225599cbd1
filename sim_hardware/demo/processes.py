"""The demo's parts, started and stopped in order: a mosquitto broker with its own config on
a free loopback port, the bundled CSMS of the OCPP version (in this process: Csms16 or
Csms201), the emulated charger
(`python -m sim_hardware`) and the gateway (`python -m gateway … --hems mqtt://…`). Each
child process writes to its own log under OUT/logs/; a child that dies or does not come up
raises PartFailed with the tail of its log. Every wait is bounded; stop() ends everything
this module started (SIGTERM, then SIGKILL after 5 s)."""

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from sim_hardware.broker import Mosquitto
from sim_hardware.csms16 import Csms16  # noqa: F401 (conformance/backend_lab.py: parts.Csms16)
from sim_hardware.csms_calls import VERSIONS

REPO = Path(__file__).resolve().parents[2]
MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
INSTALL_MOSQUITTO = ("the demo needs the mosquitto MQTT broker (it starts its own on a free "
                     "loopback port, no system service): sudo apt-get install mosquitto")
STATION_ID = "DEMO-CS1"
HEMS_PREFIX = "demo"
START_TIMEOUT_S = 60  # the MicroPython VM and the gateway start in seconds; a busy machine


class PartFailed(RuntimeError):
    pass


def find_mosquitto():
    """(mosquitto, mosquitto_passwd) paths, or None when the broker is not installed."""
    broker = shutil.which("mosquitto") or next(
        (p for p in MOSQUITTO_PATHS if os.access(p, os.X_OK)), None)
    passwd = shutil.which("mosquitto_passwd")
    return (broker, passwd) if broker and passwd else None


def _tail(path, n=3000):
    try:
        return Path(path).read_text(errors="replace")[-n:]
    except OSError:
        return ""


class Child:
    """A subprocess whose stdout and stderr go to `log`; wait_line() finds the lines it
    prints when it is ready."""

    def __init__(self, name, args, log):
        self.name = name
        self.log = Path(log)
        self._out = open(self.log, "w")  # noqa: SIM115 (closed in stop)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(args, cwd=REPO, stdout=self._out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     text=True, env=env)

    def failed(self, why):
        return PartFailed("%s %s; its log (%s):\n%s" % (self.name, why, self.log,
                                                       _tail(self.log)))

    def wait_lines(self, prefixes, timeout_s=START_TIMEOUT_S):
        """{prefix: rest of the first line starting with it} once every prefix was printed."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = {}
            for line in _tail(self.log, 1 << 20).splitlines():
                for p in prefixes:
                    if line.startswith(p) and p not in found:
                        found[p] = line[len(p):].strip()
            if len(found) == len(prefixes):
                return found
            if self.proc.poll() is not None:
                raise self.failed("exited with %s before it was ready" % self.proc.returncode)
            time.sleep(0.1)
        raise self.failed("did not print %s within %d s" % (", ".join(prefixes), timeout_s))

    def check(self):
        if self.proc.poll() is not None:
            raise self.failed("stopped unexpectedly (exit %s)" % self.proc.returncode)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._out.close()


class Broker(Mosquitto):
    """mosquitto (sim_hardware/broker.py) on 127.0.0.1:port with a password file of one user
    made for this run (no default credentials, UK-S2), started at once; wait_ready() waits
    for it; url(prefix) is what the gateway's --hems takes."""

    failure = PartFailed

    def __init__(self, run_dir, log_dir, paths):
        self.user, self.password = "demo", secrets.token_hex(12)
        super().__init__(run_dir, {self.user: self.password}, paths=paths,
                         log=log_dir / "mosquitto.log")
        self.launch()

    def url(self, prefix):
        return "mqtt://%s:%s@127.0.0.1:%d/%s" % (self.user, self.password, self.port, prefix)


class Charger(Child):
    """python -m sim_hardware: the firmware core on `vm`, an SDM630 meter, its link on a free
    socket:// port, its JSON-lines control socket (control())."""

    def __init__(self, log_dir, vm, time_scale, seed, settings):
        args = [sys.executable, "-m", "sim_hardware", "--vm", vm, "--meter", "SDM630",
                "--link", "socket://127.0.0.1:0", "--control", "127.0.0.1:0",
                "--time-scale", "%g" % time_scale, "--seed", str(seed)]
        for key, value in settings.items():
            args += ["--setting", "%s=%s" % (key, json.dumps(value) if isinstance(
                value, (list, dict)) else value)]
        super().__init__("the emulated charger (python -m sim_hardware)", args,
                         log_dir / "charger.log")
        self._sock = self._file = None
        self.banner = ""

    def wait_ready(self):
        found = self.wait_lines(("sim_hardware: ", "link: ", "control: "))
        self.banner = found["sim_hardware: "]
        self.link_url = found["link: "]
        host, _, port = found["control: "].rpartition(":")
        self._sock = socket.create_connection((host, int(port)), timeout=10)
        self._file = self._sock.makefile("r")

    def control(self, cmd, **fields):
        """One control request -> its reply; PartFailed when refused or the charger is gone."""
        fields["cmd"] = cmd
        try:
            self._sock.sendall((json.dumps(fields) + "\n").encode())
            line = self._file.readline()
        except OSError as e:
            raise self.failed("control socket: %s" % e) from None
        if not line:
            raise self.failed("closed its control socket")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise PartFailed("the charger refused %s: %s" % (fields, reply.get("error")))
        return reply

    def stop(self):
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        super().stop()


class Gateway(Child):
    def __init__(self, log_dir, state_dir, csms_url, link_url, hems_url, ocpp):
        config = state_dir.parent / "gateway.json"
        config.write_text(json.dumps({"reconnect_max_s": 2, "model": "demo"}))
        args = [sys.executable, "-m", "gateway", "--csms", csms_url, "--station-id",
                STATION_ID, "--ocpp", ocpp, "--evse", link_url, "--state-dir", str(state_dir),
                "--config", str(config), "--hems", hems_url]
        super().__init__("the gateway (python -m gateway)", args, log_dir / "gateway.log")

    def wait_ready(self):
        self.wait_lines(("gateway: station",))


class Parts:
    """Everything the demo runs, started by start() and stopped by stop() (also after a
    failed start)."""

    def __init__(self, out_dir, run_dir, opts, settings):
        self.log_dir = out_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir = run_dir
        self.opts = opts
        self.settings = settings
        self.broker = self.csms = self.charger = self.gateway = None

    def start(self, mosquitto, say):
        say("starting mosquitto on a free loopback port")
        self.broker = Broker(self.run_dir, self.log_dir, mosquitto)
        self.broker.wait_ready()
        say("starting the bundled OCPP %s CSMS" % self.opts.ocpp)
        self.csms = VERSIONS[self.opts.ocpp].csms_class().start()  # Csms16 or Csms201
        say("starting the emulated charger (firmware core on %s)" % self.opts.vm)
        self.charger = Charger(self.log_dir, self.opts.vm, self.opts.time_scale,
                               self.opts.seed, self.settings)
        self.charger.wait_ready()
        say("starting the gateway")
        self.gateway = Gateway(self.log_dir, self.run_dir / "gateway-state", self.csms.url,
                               self.charger.link_url, self.broker.url(HEMS_PREFIX),
                               self.opts.ocpp)
        self.gateway.wait_ready()

    def check(self):
        for child in (self.gateway, self.charger, self.broker):
            if child is not None:
                child.check()

    def stop(self):
        for child in (self.gateway, self.charger):
            if child is not None:
                child.stop()
        if self.csms is not None:
            self.csms.stop()
        if self.broker is not None:
            self.broker.stop()
