"""The station's own TLS client certificate, signed by the CSMS's CA (OCPP 2.0.1 A02/A03,
1.6 security whitepaper "Update Charge Point certificate"): the key never leaves the state
directory.

    sc = StationCertificate(state_dir, station_id)
    csr_pem = sc.new_request(organization)   # a new P-256 key (0600) and its CSR
    sc.accept(chain_pem, trusted_roots)      # CertificateSigned: checked, then installed
    sc.files()                               # (cert, key) paths for security profile 3, or None

Files, all mode 0600 from creation: STATE_DIR/station_cert/pending_key.pem (the key of the
last CSR), and once a signed certificate for it is accepted station.pem / station_key.pem
(the active pair, the previous one kept as previous*.pem). A certificate is accepted only if it
is for the pending key, valid now, names the station (its subject CN is the station id, A00),
and chains to a trusted root when the station has any (the CSMS roots, gateway/certificates.py);
otherwise CertificateError says why and nothing changes."""

import datetime
import os
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.certificates import CertificateStore
from gateway.private_file import write_private

DIR = "station_cert"
PENDING_KEY = "pending_key.pem"
CERT, KEY = "station.pem", "station_key.pem"
MAX_CHAIN_CHARS = 10000  # CertificateSignedRequest.certificateChain maxLength


class CertificateError(ValueError):
    """A signed certificate the station refuses; str() says why."""


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _public_der(key):
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def _signed_by(cert, issuer):
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, Exception):  # InvalidSignature and friends
        return False
    return True


class StationCertificate:
    def __init__(self, state_dir, station_id, clock=None):
        self.dir = Path(state_dir) / DIR
        self.station_id = station_id
        self.clock = clock or (lambda: datetime.datetime.now(datetime.UTC))

    def new_request(self, organization="smartevse-ref"):
        """A new EC P-256 key, kept as the pending key (0600), and the PEM CSR for it
        (subject CN = the station id, O = organization: A00.FR.511/512)."""
        key = ec.generate_private_key(ec.SECP256R1())
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        write_private(self.dir / PENDING_KEY, _key_pem(key))
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.station_id),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])
        csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(
            key, hashes.SHA256())
        return csr.public_bytes(serialization.Encoding.PEM).decode()

    def accept(self, chain_pem, trusted_roots=()):
        """Check the CertificateSigned chain (leaf first) and install it with the pending
        key. trusted_roots: x509 certificates; with none, the chain is not checked further
        than its own links."""
        if not isinstance(chain_pem, str) or len(chain_pem) > MAX_CHAIN_CHARS:
            raise CertificateError("the certificate chain is not a PEM text of at most %d "
                                   "characters" % MAX_CHAIN_CHARS)
        try:
            chain = x509.load_pem_x509_certificates(chain_pem.encode())
            for c in chain:  # parsed lazily: a field that does not parse raised later (fuzzing)
                c.subject, c.issuer, c.public_key(), c.serial_number, c.extensions
        except (ValueError, UnsupportedAlgorithm) as e:
            raise CertificateError("the certificate chain is not PEM: %s" % e) from None
        pending = self.dir / PENDING_KEY
        try:
            key = serialization.load_pem_private_key(pending.read_bytes(), None)
        except FileNotFoundError:
            raise CertificateError("no certificate request is pending") from None
        leaf = chain[0]
        if _public_der(leaf.public_key()) != _public_der(key.public_key()):
            raise CertificateError("the certificate is not for the key of the last request")
        now = self.clock()
        for c in chain:
            if not c.not_valid_before_utc <= now <= c.not_valid_after_utc:
                raise CertificateError("certificate %s is not valid now"
                                       % c.subject.rfc4514_string())
        cn = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if not cn or cn[0].value != self.station_id:
            raise CertificateError("the certificate's CN is not the station id %s"
                                   % self.station_id)
        for child, parent in zip(chain, chain[1:], strict=False):
            if not _signed_by(child, parent):
                raise CertificateError("the chain is broken at %s"
                                       % child.subject.rfc4514_string())
        roots = list(trusted_roots)
        if roots and not any(_signed_by(chain[-1], r) or chain[-1] == r for r in roots):
            raise CertificateError("the chain does not lead to an installed CSMS root")
        for name in (CERT, KEY):
            if (self.dir / name).exists():
                os.replace(self.dir / name, self.dir / ("previous_" + name))
        write_private(self.dir / CERT, chain_pem.encode())
        write_private(self.dir / KEY, pending.read_bytes())
        pending.unlink()
        return leaf

    def files(self):
        """(certificate, key) paths of the active CSMS-signed pair, or None."""
        cert, key = self.dir / CERT, self.dir / KEY
        return (cert, key) if cert.exists() and key.exists() else None


class CertificateSigning:
    """The version-neutral half of A02/A03 for the OCPP adapters: `request()` -> the CSR of a
    new key; `signed(chain_pem)` -> None (installed: the next profile-3 connections present
    it) or why it was refused (a security event InvalidChargingStationCertificate)."""

    def __init__(self, state_dir, station_id, station, security=None, organization=None):
        self.cert = StationCertificate(state_dir, station_id)
        self.state_dir = Path(state_dir)
        self.station, self.security = station, security
        self.organization = organization or "smartevse-ref"

    def request(self):
        return self.cert.new_request(self.organization)

    def _roots(self):
        """The installed CSMS roots (InstallCertificate) and the --csms-ca file's."""
        roots = CertificateStore(self.state_dir / "certs").roots("CSMSRootCertificate")
        ca = self.security.csms_ca if self.security is not None else None
        if ca:
            try:
                roots += x509.load_pem_x509_certificates(Path(ca).read_bytes())
            except (OSError, ValueError):
                pass
        return roots

    def signed(self, chain_pem):
        try:
            leaf = self.cert.accept(chain_pem, self._roots())
        except CertificateError as e:
            self.station.security_event("InvalidChargingStationCertificate", str(e))
            return str(e)
        if self.security is not None:
            self.security.use_client_certificate(*self.cert.files())
        self.station.security_event("ReconfigurationOfSecurityParameters",
                                    "new station certificate, serial %x" % leaf.serial_number)
        return None
