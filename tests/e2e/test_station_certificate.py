"""The station's CSMS-signed client certificate end to end (issue 10; OCPP 2.0.1 A02 and the
1.6 security whitepaper's "Update Charge Point certificate"; UK-S4 sensitive security
parameters: the key never leaves the state directory): TriggerMessage / ExtendedTriggerMessage
-> SignCertificate with a CSR -> the test CSMS's CA signs it -> CertificateSigned, checked,
and used for security profile 3."""

import datetime
import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from ocpp.v16 import call as call16
from ocpp.v201 import call

from gateway.security_log import SecurityLog
from gateway.station_certificate import DIR, KEY, PENDING_KEY
from sim_hardware.broker import make_ca, server_context
from sim_hardware.csms16 import Csms16
from sim_hardware.csms201 import Csms201


def sign(pki, csr_pem, days=30):
    """The test CA's certificate for a CSR (what a CSMS's CA does)."""
    ca = x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca.subject)
            .public_key(csr.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    make_ca(d, client=True, keep_ca_key=True)
    return d


@pytest.fixture
def stations(start_gateway, sim):
    """stations(csms, *security args) -> a started Gateway of the CSMS's OCPP version."""
    return lambda csms, *args: start_gateway(csms, sim, extra_args=args)


def _profile3(pki, cert="client.pem", key="client.key"):
    return ("--security-profile", "3", "--csms-ca", str(pki / "ca.pem"), "--client-cert",
            str(pki / cert), "--client-key", str(pki / key))


def test_a02_csms_signed_certificate_installed_and_used(pki, stations, tmp_path):
    """A02 at profile 3: TriggerMessage SignChargingStationCertificate -> SignCertificate
    (ChargingStationCertificate) whose CSR names the station (CN CS001) and holds the public
    key of STATE_DIR/station_cert/pending_key.pem (mode 0600, the directory 0700); the CA's
    certificate for it -> CertificateSigned Accepted, installed (station_key.pem 0600). The
    gateway restarted with a factory certificate the CSMS does not trust still connects: it
    presents the CSMS-signed one."""
    csms = Csms201(ssl_context=server_context(pki, client_ca=pki / "ca.pem")).start()
    try:
        g = stations(csms, *_profile3(pki))
        csms.wait_for("BootNotification", 30)
        r = csms.request(call.TriggerMessage(requested_message="SignChargingStationCertificate"))
        assert r.status == "Accepted"
        req = csms.wait_for("SignCertificate", 10)
        assert req["certificateType"] == "ChargingStationCertificate"
        csr = x509.load_pem_x509_csr(req["csr"].encode())
        assert csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "CS001"
        d = tmp_path / "state" / DIR
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(d / PENDING_KEY).st_mode) == 0o600
        pending = serialization.load_pem_private_key((d / PENDING_KEY).read_bytes(), None)
        der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        assert csr.public_key().public_bytes(*der) == pending.public_key().public_bytes(*der)
        r = csms.request(call.CertificateSigned(certificate_chain=sign(pki, req["csr"]),
                                                certificate_type="ChargingStationCertificate"))
        assert r.status == "Accepted"
        assert stat.S_IMODE(os.stat(d / KEY).st_mode) == 0o600
        g.stop()
        other = tmp_path / "other"
        other.mkdir()
        make_ca(other, client=True)  # a factory certificate from a CA the CSMS does not know
        stations(csms, *_profile3(pki, str(other / "client.pem"), str(other / "client.key")))
        csms.wait_for("BootNotification", 30, count=2)
    finally:
        csms.stop()


def test_a02_certificate_signed_refusals(csms201, stations, tmp_path, pki):
    """CertificateSigned refused, nothing installed: no request pending; a certificate for
    another key than the CSR's (InvalidChargingStationCertificate in the security log); text
    that is no PEM; a V2GCertificate (no ISO 15118 here)."""
    stations(csms201)
    csms201.wait_for("BootNotification", 30)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_csr = (x509.CertificateSigningRequestBuilder()
                 .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME,
                                                              "CS001")]))
                 .sign(other_key, hashes.SHA256())).public_bytes(
        serialization.Encoding.PEM).decode()
    r = csms201.request(call.CertificateSigned(certificate_chain=sign(pki, other_csr)))
    assert r.status == "Rejected" and "pending" in r.status_info["additional_info"]
    assert csms201.request(call.TriggerMessage(
        requested_message="SignChargingStationCertificate")).status == "Accepted"
    csms201.wait_for("SignCertificate", 10)
    r = csms201.request(call.CertificateSigned(certificate_chain=sign(pki, other_csr)))
    assert r.status == "Rejected" and "not for the key" in r.status_info["additional_info"]
    r = csms201.request(call.CertificateSigned(certificate_chain="not a certificate"))
    assert r.status == "Rejected"
    r = csms201.request(call.CertificateSigned(certificate_chain=sign(pki, other_csr),
                                               certificate_type="V2GCertificate"))
    assert r.status == "Rejected"
    assert not (tmp_path / "state" / DIR / KEY).exists()
    types = [e["type"] for e in SecurityLog(tmp_path / "state").lines()]
    assert types.count("InvalidChargingStationCertificate") == 3


def test_whitepaper_1_6_extended_trigger_sign_certificate(stations, tmp_path, pki):
    """1.6 security whitepaper: ExtendedTriggerMessage SignChargePointCertificate ->
    SignCertificate with the CSR -> CertificateSigned Accepted and installed; another
    ExtendedTriggerMessage is NotImplemented."""
    csms = Csms16().start()
    try:
        stations(csms)
        csms.wait_for("BootNotification", 30)
        r = csms.request(call16.ExtendedTriggerMessage(
            requested_message="SignChargePointCertificate"))
        assert r.status == "Accepted"
        req = csms.wait_for("SignCertificate", 10)
        r = csms.request(call16.CertificateSigned(certificate_chain=sign(pki, req["csr"])))
        assert r.status == "Accepted"
        assert (tmp_path / "state" / DIR / KEY).exists()
        assert csms.request(call16.ExtendedTriggerMessage(
            requested_message="BootNotification")).status == "NotImplemented"
    finally:
        csms.stop()
