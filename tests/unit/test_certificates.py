"""The station's root certificate store (gateway/certificates.py; OCPP 2.0.1 M03-M05, 1.6
security whitepaper certificate management): install, ids, delete, refusals."""

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization

from gateway.certificates import CertificateError, CertificateId, CertificateStore
from sim_hardware.firmware_package import ManufacturerPki, pem


def test_m05_install_then_m03_ids_are_rfc6960_hashes(tmp_path):
    """An installed root is listed under its use with SHA-256 of its DER issuer name, of its
    own public key bits (a root is its own issuer) and its serial in hex."""
    store = CertificateStore(tmp_path)
    pki = ManufacturerPki()
    cid = store.install("ManufacturerRootCertificate", pki.root_pem)
    point = pki.cert.public_key().public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint)
    name_hash = hashlib.sha256(pki.cert.issuer.public_bytes()).hexdigest()
    assert cid == CertificateId("SHA256", name_hash, hashlib.sha256(point).hexdigest(),
                                "%x" % pki.cert.serial_number)
    assert store.ids() == [("ManufacturerRootCertificate", cid)]
    assert store.ids(["CSMSRootCertificate"]) == []
    assert [c.serial_number for c in store.roots("ManufacturerRootCertificate")] == [
        pki.cert.serial_number]


def test_1_6_central_system_root_is_the_csms_root(tmp_path):
    """1.6's CentralSystemRootCertificate is kept (and listed) as CSMSRootCertificate."""
    store = CertificateStore(tmp_path)
    store.install("CentralSystemRootCertificate", ManufacturerPki().root_pem)
    assert [u for u, _ in store.ids(["CentralSystemRootCertificate"])] == ["CSMSRootCertificate"]


def test_m04_delete_by_id_then_not_found(tmp_path):
    """DeleteCertificate by the hash data the CSMS got from M03 (camelCase, serial with
    leading zeros, upper-case hex): deleted once, then none."""
    store = CertificateStore(tmp_path)
    a, b = ManufacturerPki(), ManufacturerPki(kind="rsa")
    ida = store.install("ManufacturerRootCertificate", a.root_pem)
    store.install("ManufacturerRootCertificate", b.root_pem)
    wire = ida.as_ocpp()
    wire["serialNumber"] = "00" + wire["serialNumber"].upper()
    assert store.delete(CertificateId.from_ocpp(wire)) == 1
    assert store.delete(CertificateId.from_ocpp(wire)) == 0
    assert len(store.ids()) == 1


@pytest.mark.parametrize("text, why", [
    ("", "no certificate"),
    ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a PEM"),
    ("x" * 6000, "over 5500"),
])
def test_m05_bad_certificate_refused_with_reason(tmp_path, text, why):
    """Not a certificate: CertificateError naming the problem, nothing stored."""
    store = CertificateStore(tmp_path)
    with pytest.raises(CertificateError, match=why):
        store.install("CSMSRootCertificate", text)
    assert store.ids() == []


def test_m05_expired_and_unknown_type_refused(tmp_path):
    """A certificate that is not valid now, and an unknown certificate type, are refused."""
    store = CertificateStore(tmp_path)
    pki = ManufacturerPki()
    with pytest.raises(CertificateError, match="not valid now"):
        store.install("ManufacturerRootCertificate", pem(pki.expired_signer().cert))
    with pytest.raises(CertificateError, match="unknown certificate type"):
        store.install("V2GCertificateChain", pki.root_pem)
