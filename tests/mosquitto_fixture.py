"""A real mosquitto broker for the MQTT link tests (DESIGN §9): the Debian package's binary,
started by the test on free loopback ports with its own config file, no system service.
Username/password on every listener (no anonymous clients); optionally a TLS listener with
a CA made for the test. Used by tests/integration/test_gateway_link_mqtt.py and
tests/e2e/test_ocpp16_mqtt.py:

    broker = start_broker(tmp_dir, {"gateway": "pw1", "charger": "pw2"}, tls=False)
    broker.port, broker.tls_port, broker.dir        # broker.dir / "ca.pem" with tls=True
    broker.stop(); broker.start()                   # a restart keeps the ports
    broker.stop()
"""

import datetime
import ipaddress
import os
import shutil
import socket
import subprocess
import time

import pytest

MOSQUITTO = "/usr/sbin/mosquitto"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_ca(directory):
    """A CA and a server certificate for 127.0.0.1 (cryptography, a gateway dependency):
    directory/ca.pem, server.pem, server.key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def cert(subject, issuer, key, sign_key, ca, san=None):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            b = b.add_extension(san, critical=False)
        return b.sign(sign_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "link test CA")])
    ca = cert(ca_name, ca_name, ca_key, ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    srv = cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), ca_name,
               key, ca_key, False, san)
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "server.pem").write_bytes(srv.public_bytes(pem))
    (directory / "server.key").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


class Broker:
    """mosquitto with a password file of `users` ({name: password}), a plain listener on
    `port` and, with tls, a TLS listener on `tls_port`; both on 127.0.0.1."""

    def __init__(self, directory, users, tls=True):
        self.dir = directory
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.proc = None
        self.log = directory / "mosquitto.log"
        passwd = directory / "passwd"
        passwd.write_text("")
        for user, pw in users.items():
            subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, pw], check=True,
                           capture_output=True, timeout=10)
        conf = ("user root\npersistence false\nallow_anonymous false\n"
                "password_file %s\nlog_dest file %s\nlistener %d 127.0.0.1\n"
                % (passwd, self.log, self.port))
        if tls:
            make_ca(directory)
            conf += ("listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n"
                     % (self.tls_port, directory / "ca.pem", directory / "server.pem",
                        directory / "server.key"))
        (directory / "mosquitto.conf").write_text(conf)

    def _ports(self):
        return [p for p in (self.port, self.tls_port) if p is not None]

    def start(self):
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.dir / "mosquitto.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")
                self.proc.stderr.close()
                pytest.fail("mosquitto exited: %s\n%s" % (err, self.log_tail()))
            try:
                for port in self._ports():
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail("mosquitto did not listen within 5 s\n" + self.log_tail())

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()

    def log_tail(self):
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""


def start_broker(directory, users, tls=True):
    """A started Broker, or the test fails saying what to install."""
    if not os.access(MOSQUITTO, os.X_OK):
        pytest.fail("mosquitto is not installed at %s: the MQTT link tests need the Debian "
                    "package 'mosquitto' (apt-get install mosquitto)" % MOSQUITTO)
    if shutil.which("mosquitto_passwd") is None:
        pytest.fail("mosquitto_passwd is missing: install the Debian package 'mosquitto'")
    b = Broker(directory, users, tls)
    b.start()
    return b
