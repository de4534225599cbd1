"""The station's installed root certificates (OCPP 2.0.1 M03-M05, 1.6 security whitepaper
InstallCertificate / DeleteCertificate / GetInstalledCertificateIds), one PEM file each:

    STATE_DIR/certs/<use>/<first 16 hex of the DER's SHA-256>.pem

`use` is the 2.0.1 name (CSMSRootCertificate, ManufacturerRootCertificate, V2GRootCertificate,
MORootCertificate); 1.6's CentralSystemRootCertificate is stored as CSMSRootCertificate.
The firmware update (gateway/firmware_update.py) checks signing certificates against the
ManufacturerRootCertificate files; the firmware download trusts the CSMSRootCertificate files.

Ids (2.0.1 CertificateHashDataType, RFC 6960 CertID): SHA-256 of the DER issuer name, of the
issuer's public key (the subjectPublicKey BIT STRING's content) and the serial number in hex.
A root is its own issuer; for a certificate whose issuer is not installed its own key stands in.
"""

import datetime
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

USES = ("CSMSRootCertificate", "ManufacturerRootCertificate", "V2GRootCertificate",
        "MORootCertificate")
ALIASES_16 = {"CentralSystemRootCertificate": "CSMSRootCertificate"}  # 1.6 whitepaper name
MAX_PER_USE = 20  # CertificateStoreMaxLength: beyond it an install is refused
MAX_PEM_CHARS = 5500  # 2.0.1 InstallCertificateRequest.certificate maxLength


class CertificateError(ValueError):
    """A certificate that cannot be installed; str() says why."""


@dataclass(frozen=True)
class CertificateId:
    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str

    def as_ocpp(self):
        """camelCase CertificateHashDataType (the library's snake_case keys also work)."""
        return {"hashAlgorithm": self.hash_algorithm, "issuerNameHash": self.issuer_name_hash,
                "issuerKeyHash": self.issuer_key_hash, "serialNumber": self.serial_number}

    @classmethod
    def from_ocpp(cls, d):
        def get(snake, camel):
            return str(d.get(snake, d.get(camel, "")))
        return cls(get("hash_algorithm", "hashAlgorithm"),
                   get("issuer_name_hash", "issuerNameHash").lower(),
                   get("issuer_key_hash", "issuerKeyHash").lower(),
                   get("serial_number", "serialNumber").lower().lstrip("0") or "0")


def key_bits(public_key):
    """The subjectPublicKey BIT STRING content of a key (what RFC 6960 hashes)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.public_bytes(serialization.Encoding.X962,
                                       serialization.PublicFormat.UncompressedPoint)
    if isinstance(public_key, rsa.RSAPublicKey):
        return public_key.public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.PKCS1)
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def certificate_id(cert, issuer=None):
    issuer = issuer or cert
    return CertificateId("SHA256", hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
                         hashlib.sha256(key_bits(issuer.public_key())).hexdigest(),
                         "%x" % cert.serial_number)


def load_pem(text):
    """-> x509.Certificate, or CertificateError naming the problem."""
    if not isinstance(text, str) or not text.strip():
        raise CertificateError("no certificate given")
    if len(text) > MAX_PEM_CHARS:
        raise CertificateError("certificate over %d characters" % MAX_PEM_CHARS)
    try:
        cert = x509.load_pem_x509_certificate(text.encode())
        # cryptography parses these lazily: one that does not parse was stored, then broke
        # every later use of its store (InternalError; found by bench/fuzz_campaigns.py)
        cert.subject, cert.issuer, cert.public_key(), cert.serial_number, cert.extensions
    except (ValueError, UnsupportedAlgorithm) as e:
        raise CertificateError("not a PEM X.509 certificate: %s" % e) from None
    return cert


def is_valid_now(cert, now=None):
    now = now or datetime.datetime.now(datetime.UTC)
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


class CertificateStore:
    def __init__(self, root):
        self.root = Path(root)

    @staticmethod
    def use_name(use):
        use = ALIASES_16.get(use, use)
        if use not in USES:
            raise CertificateError("unknown certificate type %r" % use)
        return use

    def _dir(self, use):
        return self.root / self.use_name(use)

    def certificates(self, use):
        """[(path, x509.Certificate)] of one use, in name order; unreadable files skipped."""
        d = self._dir(use)
        out = []
        for path in sorted(d.glob("*.pem")) if d.is_dir() else ():
            try:
                out.append((path, x509.load_pem_x509_certificate(path.read_bytes())))
            except (OSError, ValueError):
                continue
        return out

    def install(self, use, pem, now=None):
        """Install a root certificate of `use` -> its CertificateId. CertificateError when it
        is not a certificate, not valid now, or the store of that use is full."""
        d = self._dir(use)
        cert = load_pem(pem)
        if not is_valid_now(cert, now):
            raise CertificateError("certificate not valid now (%s .. %s)" % (
                cert.not_valid_before_utc.isoformat(), cert.not_valid_after_utc.isoformat()))
        der = cert.public_bytes(serialization.Encoding.DER)
        path = d / ("%s.pem" % hashlib.sha256(der).hexdigest()[:16])
        if not path.exists() and len(self.certificates(use)) >= MAX_PER_USE:
            raise CertificateError("already %d certificates of %s" % (MAX_PER_USE, use))
        d.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        os.replace(tmp, path)
        return self._id(cert, use)

    def _id(self, cert, use):
        issuer = None
        if cert.issuer != cert.subject:
            issuer = next((c for _, c in self.certificates(use) if c.subject == cert.issuer),
                          None)
        return certificate_id(cert, issuer)

    def ids(self, uses=None):
        """[(use, CertificateId)] of every installed certificate (of `uses` when given)."""
        uses = USES if not uses else [self.use_name(u) for u in uses]
        return [(u, self._id(c, u)) for u in uses for _, c in self.certificates(u)]

    def delete(self, cert_id):
        """Delete the certificate(s) with that id -> how many were deleted."""
        n = 0
        for use in USES:
            for path, cert in self.certificates(use):
                if self._id(cert, use) == cert_id:
                    path.unlink()
                    n += 1
        return n

    def roots(self, use):
        return [c for _, c in self.certificates(use)]

    def pem_files(self, use):
        return [p for p, _ in self.certificates(use)]
