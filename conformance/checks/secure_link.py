"""Secure communication with the back-end (AG-01, UK reg 12 Schedule 1 paras 2 and 5),
checked as a lab would: the gateway in OCPP 1.6 security profile 2 against a CSMS that
serves TLS 1.2+ only with a certificate from the root installed on the station and checks
the station's password; a server from another root is refused before anything is sent; a
wrong password gets nothing; the station's generated password is its own."""

import contextlib
import os
import stat
import sys
import tempfile
import time
from pathlib import Path

from conformance.registry import check
from sim_hardware.broker import make_ca, server_context
from sim_hardware.csms16 import Csms16
from sim_hardware.demo import processes as parts

STATION = "CONF-S5"
REFUSED_WAIT_S = 8


@contextlib.contextmanager
def _stack(run, csms, *security):
    """The emulated charger and `python -m gateway` against csms with security args."""
    logs = run / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    charger = gateway = None
    try:
        charger = parts.Charger(logs, "cpython", 1, 1, {"random_delay_max_s": 0})
        charger.wait_ready()
        gateway = parts.Child("gateway", [
            sys.executable, "-m", "gateway", "--csms", csms.url, "--station-id", STATION,
            "--ocpp", "1.6", "--evse", charger.link_url, "--state-dir", str(run / "state"),
            *security], logs / ("gateway-%d.log" % time.monotonic_ns()))
        gateway.wait_lines(("gateway: station",))
        yield gateway
    finally:
        for child in (gateway, charger):
            if child is not None:
                child.stop()


def _booted(csms, timeout_s):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if csms.calls("BootNotification"):
            return time.monotonic() - t0
        time.sleep(0.1)
    return None


@check("UK-S5", needs=("backend",))
def secure_communication(target, r):
    """Profile 2: TLS 1.2+ with the installed root and the station's password -> boots;
    the same station against a server whose certificate comes from another root, and with
    a wrong password -> no BootNotification reaches the server."""
    with tempfile.TemporaryDirectory(prefix="conformance-s5-") as d:
        run = Path(d)
        good, other = run / "pki", run / "other"
        good.mkdir()
        other.mkdir()
        make_ca(good)
        make_ca(other)
        pw = run / "password"
        pw.write_text("Conformance-S5.Station:0001\n")
        os.chmod(pw, 0o600)
        args = ("--security-profile", "2", "--password-file", str(pw), "--csms-ca",
                str(good / "ca.pem"))
        cases = (("installed root, right password", server_context(good), pw.read_text().strip(),
                  True),
                 ("server certificate from another root", server_context(other),
                  pw.read_text().strip(), False),
                 ("wrong password", server_context(good), "Not-The-Password-0001", False))
        for what, ctx, expected_pw, should_boot in cases:
            csms = Csms16(ssl_context=ctx, passwords={STATION: expected_pw}).start()
            t0 = time.monotonic()
            try:
                with _stack(run / what.replace(" ", "_").replace(",", ""), csms, *args):
                    booted = _booted(csms, 20 if should_boot else REFUSED_WAIT_S)
                    t = None if booted is None else time.monotonic() - t0
            finally:
                csms.stop()
            if should_boot:
                r.measure("%s: gateway start -> BootNotification over wss" % what,
                          -1 if t is None else round(t, 2), "s", "<=", 20)
                r.expect(csms.url.startswith("wss://"), "%s: wss:// (TLS 1.2+ only)" % what)
            else:
                r.expect(t is None, "%s: nothing reached the server in %d s"
                         % (what, REFUSED_WAIT_S))
            if what == "wrong password":
                r.expect(csms.auth_failures >= 1, "wrong password: refused by the server (401)"
                         " %d times, the station retrying" % csms.auth_failures)
            if what == "server certificate from another root":
                r.expect(csms.connections == 0, "another root: no WebSocket connection at "
                         "all (the TLS handshake failed at the station)")
        r.did("OCPP 1.6 security profile 2 (wss + Basic auth) against a CSMS serving TLS 1.2+"
              " only; the station's CA file holds only the installed root")


@check("UK-S2", needs=("backend",))
def unique_passwords(target, r):
    """Schedule 1 para 2: no shared default password: the gateway provisions a password
    of its own for each station (16-40 characters, readable by its user only)."""
    with tempfile.TemporaryDirectory(prefix="conformance-s2-") as d:
        run = Path(d)
        made = []
        for n in (1, 2):
            csms = Csms16(passwords={STATION: "unused-by-this-check"}).start()
            try:
                with _stack(run / ("station%d" % n), csms, "--security-profile", "1"):
                    pass
            finally:
                csms.stop()
            path = run / ("station%d" % n) / "state" / "csms_password"
            text = path.read_text().strip() if path.exists() else ""
            made.append(text)
            r.measure("station %d: generated password length" % n, len(text), "characters",
                      ">=", 16)
            r.measure("station %d: generated password length (upper)" % n, len(text),
                      "characters", "<=", 40)
            mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else -1
            r.expect(mode == 0o600, "station %d: password file mode 0600 (got %o)" % (n, mode))
        r.expect(made[0] != made[1] and all(made), "two stations got different passwords")
