"""A mosquitto broker of its own, as `make demo`, the conformance suite's back-end lab
(sim_hardware/demo/processes.py) and the MQTT tests (tests/mosquitto_fixture.py) start it:
the Debian package's binary with a config file and a password file made for the run, on
free loopback ports, no system service. No anonymous clients (no default credentials,
UK-S2); optionally a TLS listener with a certificate from a CA made for the run.

    b = Mosquitto(directory, {"gateway": "pw1", "charger": "pw2"}, tls=True)
    b.start()                  # listening; BrokerFailed with its log's tail otherwise
    b.port, b.tls_port         # b.dir / "ca.pem" with tls=True; b.log: its output
    b.stop(); b.start()        # a restart keeps the ports and the config
    b.stop()
"""

import datetime
import ipaddress
import os
import pwd
import socket
import ssl
import subprocess
import time
from pathlib import Path

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "mosquitto_passwd"


class BrokerFailed(RuntimeError):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """mosquitto with a password file of `users` ({name: password}), a plain listener on
    `port` and, with tls, a TLS listener on `tls_port`; both on 127.0.0.1. `paths`:
    (mosquitto, mosquitto_passwd)."""

    failure = BrokerFailed  # what start(), wait_ready() and check() raise

    def __init__(self, directory, users, tls=False, paths=(MOSQUITTO, MOSQUITTO_PASSWD),
                 log=None):
        self.dir = Path(directory)
        self.binary, passwd_tool = paths
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.log = Path(log) if log is not None else self.dir / "mosquitto.log"
        self.proc = self._out = None
        passwd = self.dir / "mosquitto.passwd"
        passwd.write_text("")
        for user, pw in users.items():
            subprocess.run([passwd_tool, "-b", str(passwd), user, pw], check=True,
                           capture_output=True, timeout=10)
        conf = ("persistence false\nallow_anonymous false\npassword_file %s\n"
                "log_dest stderr\nlistener %d 127.0.0.1\n" % (passwd, self.port))  # unbuffered
        if os.geteuid() == 0:  # mosquitto started as root switches to user "mosquitto"
            conf = "user %s\n" % pwd.getpwuid(0).pw_name + conf
        if tls:  # the last listener: a test may append options for it
            make_ca(self.dir)
            conf += ("listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n"
                     % (self.tls_port, self.dir / "ca.pem", self.dir / "server.pem",
                        self.dir / "server.key"))
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(conf)

    def launch(self):
        """Start mosquitto, its output to self.log (appended to after a restart); returns
        at once (wait_ready() waits)."""
        self._out = open(self.log, "a" if self.proc else "w")  # noqa: SIM115 (stop closes)
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=self._out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait_ready(self, timeout_s=10):
        """Return once every listener takes a connection."""
        deadline = time.monotonic() + timeout_s
        ports = [p for p in (self.port, self.tls_port) if p is not None]
        while time.monotonic() < deadline:
            self.check()
            try:
                for port in ports:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise self.failed("did not listen on port %s within %d s"
                          % (" and ".join(map(str, ports)), timeout_s))

    def start(self, timeout_s=10):
        self.launch()
        self.wait_ready(timeout_s)

    def check(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise self.failed("stopped unexpectedly (exit %s)" % self.proc.returncode)

    def failed(self, why):
        return self.failure("mosquitto %s; its log (%s):\n%s" % (why, self.log,
                                                                self.log_tail()))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._out is not None:
            self._out.close()
            self._out = None

    def log_tail(self, n=3000):
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def server_context(directory, client_ca=None):
    """A TLS 1.2+ server context with make_ca's server.pem / server.key of directory; with
    client_ca (a CA file) client certificates are required (OCPP security profile 3)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(directory / "server.pem", directory / "server.key")
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
    return ctx


def make_ca(directory, client=False, keep_ca_key=False):
    """A CA and a server certificate for 127.0.0.1 (cryptography, a gateway dependency):
    directory/ca.pem, server.pem, server.key; with client, also a client certificate
    (CN "client") from the same CA: client.pem, client.key; keep_ca_key: ca.key too (a test
    CSMS that signs station certificates)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    pem = serialization.Encoding.PEM
    ca_key = ec.generate_private_key(ec.SECP256R1())

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write(stem, cn, key, ca=False, san=None):
        b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name("test CA"))
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san is not None:
            b = b.add_extension(san, critical=False)
        cert = b.sign(ca_key, hashes.SHA256())
        (directory / (stem + ".pem")).write_bytes(cert.public_bytes(pem))
        if not ca or keep_ca_key:
            (directory / (stem + ".key")).write_bytes(key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    write("ca", "test CA", ca_key, ca=True)
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    write("server", "127.0.0.1", ec.generate_private_key(ec.SECP256R1()), san=san)
    if client:
        write("client", "client", ec.generate_private_key(ec.SECP256R1()))
