"""Is a firmware package authentic (UK-S2 authenticated updates; OCPP 2.0.1 L01.FR.02-04, 1.6
security whitepaper "Secure firmware update")?

1. the signing certificate (PEM, from the request) is directly issued by one of the installed
   ManufacturerRootCertificates (gateway/certificates.py) and valid now -> else
   InvalidCertificate;
2. the signature (base64, from the request) over the whole package verifies with the signing
   certificate's key: ECDSA P-256 with SHA-256 (DER signature), or RSA-PSS with SHA-256 and
   MGF1-SHA-256, any salt length -> else InvalidSignature.

`check_certificate` runs when the request arrives (its answer can say InvalidCertificate),
`verify` once the package is downloaded, and again before every install step after a restart.
"""

import base64
import binascii
import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from gateway.certificates import CertificateError, is_valid_now, load_pem

INVALID_CERTIFICATE = "InvalidCertificate"
INVALID_SIGNATURE = "InvalidSignature"
MAX_SIGNATURE_B64 = 800  # 2.0.1 FirmwareType.signature maxLength


class VerificationError(Exception):
    """status: INVALID_CERTIFICATE or INVALID_SIGNATURE; str(): why."""

    def __init__(self, status, why):
        super().__init__(why)
        self.status = status


def check_certificate(signing_pem, roots, now=None):
    """-> the signing x509 certificate, or VerificationError(InvalidCertificate)."""
    now = now or datetime.datetime.now(datetime.UTC)
    try:
        cert = load_pem(signing_pem)
    except CertificateError as e:
        raise VerificationError(INVALID_CERTIFICATE, "signing certificate: %s" % e) from None
    if not roots:
        raise VerificationError(INVALID_CERTIFICATE, "no ManufacturerRootCertificate installed")
    if not is_valid_now(cert, now):
        raise VerificationError(INVALID_CERTIFICATE, "signing certificate not valid now "
                                "(%s .. %s)" % (cert.not_valid_before_utc.isoformat(),
                                                cert.not_valid_after_utc.isoformat()))
    for root in roots:
        if root.subject != cert.issuer or not is_valid_now(root, now):
            continue
        try:
            cert.verify_directly_issued_by(root)
            return cert
        except (ValueError, TypeError, InvalidSignature):
            continue
    raise VerificationError(INVALID_CERTIFICATE, "signing certificate (issuer %s) is not "
                            "issued by an installed manufacturer root"
                            % cert.issuer.rfc4514_string())


def decode_signature(signature_b64):
    if not isinstance(signature_b64, str) or not 0 < len(signature_b64) <= MAX_SIGNATURE_B64:
        raise VerificationError(INVALID_SIGNATURE, "signature must be 1..%d base64 characters"
                                % MAX_SIGNATURE_B64)
    try:
        return base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(INVALID_SIGNATURE, "signature is not base64") from None


def verify(package, signing_pem, signature_b64, roots, now=None):
    """The package is authentic, or VerificationError says which check failed."""
    cert = check_certificate(signing_pem, roots, now)
    sig = decode_signature(signature_b64)
    key = cert.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            if not isinstance(key.curve, ec.SECP256R1):
                raise VerificationError(INVALID_SIGNATURE, "ECDSA key is not P-256")
            key.verify(sig, package, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, package, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                 salt_length=padding.PSS.AUTO),
                       hashes.SHA256())
        else:
            raise VerificationError(INVALID_SIGNATURE, "signing key is neither EC nor RSA")
    except InvalidSignature:
        raise VerificationError(INVALID_SIGNATURE, "signature does not verify over the "
                                "package (%d bytes)" % len(package)) from None
    return cert
