"""The signed firmware package check of gateway/firmware_signature.py (UK-S2 authenticated
updates; OCPP 2.0.1 L01.FR.02-04, 1.6 security whitepaper "Secure firmware update"): the
verification matrix, with keys and certificates made by sim_hardware/firmware_package.py."""

import base64

import pytest

from gateway import firmware_signature as sig
from sim_hardware.firmware_package import ManufacturerPki

PACKAGE = b"evse bundle " * 1000


@pytest.fixture(scope="module")
def pki():
    return ManufacturerPki()


def verify(pki, signer, package=PACKAGE, signature=None):
    return sig.verify(package, signer.cert_pem, signature or signer.sign(PACKAGE), [pki.cert])


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_uk_s2_good_signature_verifies(pki, kind):
    """ECDSA P-256/SHA-256 and RSA-PSS/SHA-256 signatures by a certificate of the installed
    manufacturer root verify."""
    signer = pki.signer(kind)
    assert verify(pki, signer).serial_number == signer.cert.serial_number


def test_l01_fr_04_bad_signature_is_invalid_signature(pki):
    """A signature by another key of the right shape: InvalidSignature."""
    signer, other = pki.signer("ec"), pki.signer("ec")
    with pytest.raises(sig.VerificationError) as e:
        verify(pki, signer, signature=other.sign(PACKAGE))
    assert e.value.status == sig.INVALID_SIGNATURE


def test_l01_fr_04_tampered_package_is_invalid_signature(pki):
    """One byte of the package changed after signing: InvalidSignature (both key kinds)."""
    for kind in ("ec", "rsa"):
        signer = pki.signer(kind)
        tampered = bytearray(PACKAGE)
        tampered[500] ^= 1
        with pytest.raises(sig.VerificationError) as e:
            verify(pki, signer, package=bytes(tampered))
        assert e.value.status == sig.INVALID_SIGNATURE


def test_l01_fr_02_certificate_from_another_root_is_invalid_certificate(pki):
    """A signing certificate of another manufacturer root: InvalidCertificate, even with a
    signature that matches it."""
    stranger = ManufacturerPki(cn="Test Manufacturer Root").signer("ec")  # same name, other key
    with pytest.raises(sig.VerificationError) as e:
        verify(pki, stranger)
    assert e.value.status == sig.INVALID_CERTIFICATE


def test_l01_fr_02_expired_certificate_is_invalid_certificate(pki):
    """A signing certificate whose validity ended: InvalidCertificate."""
    with pytest.raises(sig.VerificationError) as e:
        verify(pki, pki.expired_signer("rsa"))
    assert e.value.status == sig.INVALID_CERTIFICATE
    assert "not valid now" in str(e.value)


def test_no_manufacturer_root_installed_is_invalid_certificate(pki):
    """Without an installed ManufacturerRootCertificate nothing verifies."""
    signer = pki.signer("ec")
    with pytest.raises(sig.VerificationError) as e:
        sig.verify(PACKAGE, signer.cert_pem, signer.sign(PACKAGE), [])
    assert e.value.status == sig.INVALID_CERTIFICATE


@pytest.mark.parametrize("bad", ["", "not base64!", "A" * 801])
def test_bad_signature_text_is_refused_with_a_reason(pki, bad):
    """A signature that is not 1..800 base64 characters: InvalidSignature with the reason."""
    with pytest.raises(sig.VerificationError) as e:
        verify(pki, pki.signer("ec"), signature=bad or None) if bad else sig.decode_signature(bad)
    assert e.value.status == sig.INVALID_SIGNATURE


def test_garbage_certificate_is_invalid_certificate(pki):
    """A signingCertificate that is not a PEM certificate: InvalidCertificate."""
    with pytest.raises(sig.VerificationError) as e:
        sig.verify(PACKAGE, "-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n",
                   base64.b64encode(b"x").decode(), [pki.cert])
    assert e.value.status == sig.INVALID_CERTIFICATE
