"""The CSMS / manufacturer side of a signed firmware update, for tests and the demo: a test
manufacturer root CA, firmware signing certificates it issues (ECDSA P-256 or RSA), the
signature of a package (ECDSA with SHA-256, or RSA-PSS with SHA-256), and a loopback http or
https server the station downloads the package from.

    pki = ManufacturerPki()                       # root CA (EC P-256), valid for a year
    signer = pki.signer("rsa")                    # a signing certificate from that root
    firmware = signer.firmware(url, package)      # the 2.0.1 FirmwareType / 1.6 firmware dict
    pki.root_pem                                  # InstallCertificate ManufacturerRootCertificate

    srv = PackageServer(tls=TlsFiles.make(tmp)).start()   # https://127.0.0.1:PORT/
    srv.put("evse-0.2.0.bin", package); srv.url("evse-0.2.0.bin"); srv.stop()

`evse_bundle()` packs the firmware's evse/ package in the boot code's bundle format
(firmware/fwboot.py), the image a real update carries. `TlsFiles.make(dir)` writes a test CA
and a server certificate for 127.0.0.1 / localhost;
its `ca_pem` is what the station installs as CSMSRootCertificate to trust the https server."""

import base64
import datetime
import http.server
import ipaddress
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

UTC = datetime.UTC


def _key(kind):
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError("key kind must be 'ec' or 'rsa', not %r" % kind)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "smartevse-ref test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def issue(subject_key, subject_cn, issuer_key=None, issuer_cert=None, ca=False, days=365,
          not_before=None, san=()):
    """A certificate for subject_key, self-signed when no issuer is given."""
    now = not_before or datetime.datetime.now(UTC) - datetime.timedelta(minutes=5)
    issuer_name = issuer_cert.subject if issuer_cert is not None else _name(subject_cn)
    b = (x509.CertificateBuilder().subject_name(_name(subject_cn)).issuer_name(issuer_name)
         .public_key(subject_key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return b.sign(issuer_key or subject_key, hashes.SHA256())


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Signer:
    key: object
    cert: x509.Certificate

    @property
    def cert_pem(self):
        return pem(self.cert)

    def sign(self, package):
        """base64 signature over the package: ECDSA/SHA-256 (DER) or RSA-PSS/SHA-256."""
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            raw = self.key.sign(package, ec.ECDSA(hashes.SHA256()))
        else:
            raw = self.key.sign(package, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                     salt_length=padding.PSS.DIGEST_LENGTH),
                                hashes.SHA256())
        return base64.b64encode(raw).decode()

    def firmware(self, location, package, retrieve="2020-01-01T00:00:00Z", install=None):
        """The request's firmware object (camelCase, as on the wire)."""
        fw = {"location": location, "retrieveDateTime": retrieve,
              "signingCertificate": self.cert_pem, "signature": self.sign(package)}
        if install is not None:
            fw["installDateTime"] = install
        return fw


class ManufacturerPki:
    def __init__(self, kind="ec", cn="Test Manufacturer Root"):
        self.key = _key(kind)
        self.cert = issue(self.key, cn, ca=True, days=3650)

    @property
    def root_pem(self):
        return pem(self.cert)

    def signer(self, kind="ec", days=365, not_before=None):
        key = _key(kind)
        return Signer(key, issue(key, "Firmware Signing", self.key, self.cert, days=days,
                                 not_before=not_before))

    def expired_signer(self, kind="ec"):
        start = datetime.datetime.now(UTC) - datetime.timedelta(days=30)
        return self.signer(kind, days=1, not_before=start)


@dataclass
class TlsFiles:
    ca_pem: str
    cert_file: Path
    key_file: Path

    @classmethod
    def make(cls, directory):
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        ca_key = _key("ec")
        ca = issue(ca_key, "Test Download CA", ca=True)
        key = _key("ec")
        cert = issue(key, "127.0.0.1", ca_key, ca, san=[
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
        (d / "server.pem").write_text(pem(cert))
        (d / "server.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        return cls(pem(ca), d / "server.pem", d / "server.key")


def evse_bundle(root=None, packages=("evse",), overrides=None):
    """A MicroPython bundle (firmware/fwboot.py's EVB1 format) of the firmware tree's
    packages: what the boot code installs into a slot (a slot's evse/ shadows the flashed
    one; hal/ and protocols/ come from the root unless bundled). overrides: {"evse/x.py":
    bytes} replaces those files (a broken bundle for rollback tests)."""
    import sys

    root = Path(root) if root else Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root / "firmware"))
    try:
        import fwboot
    finally:
        sys.path.remove(str(root / "firmware"))
    files = []
    for pkg in packages:
        base = root / "firmware" / pkg if pkg != "protocols" else root / pkg
        for f in sorted(base.glob("*.py")):
            name = "%s/%s" % (pkg, f.name)
            files.append((name, (overrides or {}).get(name, f.read_bytes())))
    return fwboot.pack(files)


class PackageServer:
    """Serves put() files at /NAME on 127.0.0.1 (http, or https with `tls`); `fail_next`
    answers that many requests 503 (download retries); `requests` lists the paths asked."""

    def __init__(self, tls=None):
        self.tls = tls
        self.files = {}
        self.requests = []
        self.fail_next = 0
        self._httpd = None

    def put(self, name, data):
        self.files["/" + name] = bytes(data)

    def url(self, name):
        host, port = self._httpd.server_address[:2]
        return "%s://127.0.0.1:%d/%s" % ("https" if self.tls else "http", port, name)

    def start(self):
        srv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                srv.requests.append(self.path)
                data = srv.files.get(self.path)
                if srv.fail_next > 0:
                    srv.fail_next -= 1
                    data, code = None, 503
                else:
                    code = 404
                if data is None:
                    self.send_error(code)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.tls.cert_file, self.tls.key_file)
            self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
        threading.Thread(target=self._httpd.serve_forever, daemon=True,
                         name="package server").start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
