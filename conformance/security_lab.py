"""The lab of the security checks (AG-01, UK-S1, UK-S4, UK-S7, UK-S9, UK-S10): one station
set up the way an installer sets one up, kept for the whole run (the checks share it:
SimTarget.security_lab(), stopped by SimTarget.close()) and looked at from outside.

    the emulated charger      python -m sim_hardware (the firmware core; its control socket)
    the CSMS                  sim_hardware/csms201.py over TLS 1.2+ (a test CA made here),
                              Basic auth; it knows no password for the station at first
    the gateway               python -m gateway --ocpp 2.0.1 --security-profile 2 --csms-ca
                              CA: no --password-file, so it generates its own, prints it once
    the installer             reads the printed password and enters it at the CSMS
    an upload server          loopback HTTP, for GetLog (what the CSMS operator receives)

What the checks look at: the CSMS's messages, the charger's pilot, the files in the state
directory, the gateway's output, the gateway process's sockets (/proc), and the command
line run again with other options (`python -m gateway`, exit status and message)."""

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gateway.security_log import SecurityLog
from sim_hardware.broker import make_ca, server_context
from sim_hardware.csms201 import Csms201
from sim_hardware.demo import processes as parts
from sim_hardware.upload_server import UploadServer

STATION = "CONF-SEC"
PROVISIONED = "gateway: generated CSMS password for station %s: " % STATION
SETTINGS = {"random_delay_max_s": 0, "pwm_min_interval_ms": 0, "no_charge_windows": []}
RECONNECT_MAX_S = 1  # the gateway's longest wait between connection attempts here
INSTALLER_WAIT_S = 15  # the first refused connection, before the password is entered
BOOT_WAIT_S = 30
CLI_TIMEOUT_S = 60


def listening_sockets(pid):
    """The TCP / UDP sockets of process pid that wait for others to connect or send: TCP in
    LISTEN, UDP bound (from /proc/PID/fd and /proc/net/*) -> [(proto, local address)]."""
    inodes = set()
    fd_dir = Path("/proc/%d/fd" % pid)
    for fd in fd_dir.iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for proto, listening in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
        with contextlib.suppress(OSError):
            for row in Path("/proc/net/" + proto).read_text().splitlines()[1:]:
                f = row.split()
                if f[3] == listening and f[9] in inodes:
                    found.append((proto, f[1]))
    return found


class SecurityLab:
    def __init__(self, firmware_dir):
        self._tmp = tempfile.TemporaryDirectory(prefix="conformance-security-")
        self.run = Path(self._tmp.name)
        self.logs = self.run / "logs"
        self.state = self.run / "state"
        self.pki = self.run / "pki"
        for d in (self.logs, self.pki):
            d.mkdir()
        self.charger = self.gateway = self.csms = self.uploads = None
        self._n = 0
        os.environ["SIM_HARDWARE_FIRMWARE"] = str(firmware_dir)
        try:
            self._start()
        except Exception:
            self.close()
            raise

    def _start(self):
        make_ca(self.pki)
        self.config = self.run / "gateway.json"
        self.config.write_text(json.dumps({"reconnect_max_s": RECONNECT_MAX_S}))
        self.charger = parts.Charger(self.logs, "cpython", 1, 1, SETTINGS)
        self.charger.wait_ready()
        self.csms = Csms201(ssl_context=server_context(self.pki), passwords={}).start()
        self.uploads = UploadServer()  # the GetLog target
        self.started_unix_s = time.time()
        self.gateway = self._gateway(self.args())
        found = self.gateway.wait_lines((PROVISIONED, "gateway: station"))
        self.password = found[PROVISIONED].split(" ", 1)[0]
        self.provisioning_line = PROVISIONED + found[PROVISIONED]
        # the installer: sees the station refused (it has a password the CSMS does not know
        # yet), enters the printed password at the CSMS
        self.csms.wait_until(lambda: self.csms.auth_failures >= 1, INSTALLER_WAIT_S,
                             "the station's first (refused) connection")
        self.refused_before_install = self.csms.auth_failures
        self.installed_at = time.monotonic()
        self.csms.passwords[STATION] = self.password
        self.csms.wait_for("BootNotification", timeout_s=BOOT_WAIT_S)
        self.boot_after_install_s = time.monotonic() - self.installed_at

    # --- the gateway ---------------------------------------------------------------------

    def args(self, profile=2, csms_url=None, state_dir=None, extra=()):
        """The command line of the lab's station, or of a variant of it."""
        a = [sys.executable, "-m", "gateway", "--csms", csms_url or self.csms.url,
             "--station-id", STATION, "--ocpp", "2.0.1", "--evse", self.charger.link_url,
             "--state-dir", str(state_dir or self.state), "--config", str(self.config)]
        if profile is not None:
            a += ["--security-profile", str(profile)]
        if profile in (2, 3):
            a += ["--csms-ca", str(self.pki / "ca.pem")]
        return a + list(extra)

    def _gateway(self, args):
        self._n += 1
        child = parts.Child("the gateway (python -m gateway)", args,
                            self.logs / ("gateway-%d.log" % self._n))
        child.wait_lines(("gateway: station",))
        return child

    def restart_gateway(self):
        """The gateway stopped and started again with the same command line (a power cut of
        the gateway's computer, as far as its state directory is concerned). -> seconds from
        the start to the next BootNotification."""
        n = len(self.csms.calls("BootNotification"))
        self.gateway.stop()
        t0 = time.monotonic()
        self.gateway = self._gateway(self.args())
        self.csms.wait_for("BootNotification", timeout_s=BOOT_WAIT_S, count=n + 1)
        return time.monotonic() - t0

    def run_cli(self, args):
        """`python -m gateway` run to its end (options it must refuse) -> (exit, stderr)."""
        p = subprocess.run(args, cwd=parts.REPO, capture_output=True, text=True,
                           timeout=CLI_TIMEOUT_S, stdin=subprocess.DEVNULL)
        return p.returncode, p.stderr

    def gateway_output(self):
        """Everything every gateway run of this lab printed (stdout and stderr)."""
        return "".join(p.read_text(errors="replace")
                       for p in sorted(self.logs.glob("gateway-*.log")))

    def listening(self):
        return listening_sockets(self.gateway.proc.pid)

    # --- what the station keeps ------------------------------------------------------------

    def security_events(self):
        return SecurityLog(self.state).lines()

    def state_files(self):
        """(path relative to the state dir, mode, bytes) of every file in it."""
        out = []
        for p in sorted(self.state.rglob("*")):
            if p.is_file():
                out.append((str(p.relative_to(self.state)), p.stat().st_mode & 0o777,
                            p.read_bytes()))
        return out

    # --- the CSMS's side -------------------------------------------------------------------

    def tls_version(self):
        """The TLS version of the station's current connection, as the CSMS's end sees it."""
        conn = self.csms._station._connection
        obj = conn.transport.get_extra_info("ssl_object")
        return obj.version() if obj is not None else "none"

    def arrival_times(self, action):
        """The CSMS's wall clock (unix s) at each call of action from the station."""
        with self.csms._lock:
            return [t for a, t in self.csms._arrivals if a == action]

    def wait_connections(self, count, timeout_s):
        """-> seconds until the CSMS has counted `count` connections, or None."""
        t0 = time.monotonic()
        while self.csms.connections < count:
            if time.monotonic() - t0 > timeout_s:
                return None
            time.sleep(0.05)
        return time.monotonic() - t0

    def close(self):
        for part in (self.gateway, self.charger):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.stop()
        if self.csms is not None:
            with contextlib.suppress(Exception):
                self.csms.stop()
        if self.uploads is not None:
            self.uploads.stop()
        os.environ.pop("SIM_HARDWARE_FIRMWARE", None)
        self._tmp.cleanup()
