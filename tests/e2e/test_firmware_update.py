"""Signed firmware update and certificate management end to end (issue 10, UK-S2): the test
CSMSs (sim_hardware/csms16.py, csms201.py), `python -m gateway`, `python -m sim_hardware`
(the firmware core, with its evse/fw_update.py receiving the image), and the package served by
a loopback http / https server, signed by a test manufacturer CA (sim_hardware/firmware_package.py).

Named after the OCPP 2.0.1 use cases (L01 secure firmware update, M03-M05 certificates) and the
1.6 security whitepaper messages they exercise."""

import datetime
import time

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from ocpp16_fixture import LinkRelay

from sim_hardware.firmware_package import ManufacturerPki, PackageServer, TlsFiles, evse_bundle

BUNDLE_NAME = "evse-0.2.0.bin"
TO_INSTALL = ["Downloading", "Downloaded", "SignatureVerified", "Installing",
              "InstallRebooting"]
TRANSFER_S = 120  # 157 KB in 243-byte chunks through the sim's 10 ms tick, on a busy CI


@pytest.fixture(scope="module")
def pki():
    return ManufacturerPki()


@pytest.fixture(scope="module")
def bundle():
    return evse_bundle()


@pytest.fixture
def server():
    srv = PackageServer().start()
    yield srv
    srv.stop()


def statuses16(csms):
    return [p["status"] for p in csms.calls("SignedFirmwareStatusNotification")]


def statuses201(csms):
    return [p["status"] for p in csms.calls("FirmwareStatusNotification")]


def wait_last(csms, get, final, timeout_s):
    return csms.wait_until(lambda: get(csms) and get(csms)[-1] in final and get(csms),
                           timeout_s, "status %s" % (final,))


def install_root16(csms, pki):
    r = csms.request(call16.InstallCertificate(certificate_type="ManufacturerRootCertificate",
                                               certificate=pki.root_pem))
    assert r.status == "Accepted"


def install_root201(csms, pki, use="ManufacturerRootCertificate", pem=None):
    r = csms.request(call201.InstallCertificate(certificate_type=use,
                                                certificate=pem or pki.root_pem))
    assert r.status == "Accepted"


def test_l01_1_6_signed_update_reaches_the_firmware(csms, sim, start_gateway, pki, bundle,
                                                     server):
    """1.6 SignedUpdateFirmware with an ECDSA-signed bundle: Accepted, then
    SignedFirmwareStatusNotification Downloading, Downloaded, SignatureVerified, Installing
    (FW_BEGIN / 649 FW_CHUNKs / FW_END(VERIFY): the firmware's own SHA-256 check passed) and
    InstallRebooting (FW_END(APPLY) accepted: the firmware swaps at its next idle moment), each
    with the requestId, then Installed once the firmware booted the new bundle and confirmed it
    after its trial boot: the sim now runs evse-0.2.0 from an update slot."""
    before = sim.status()["firmware"]
    gw = start_gateway(csms, sim)
    csms.wait_status(1, "Available")
    install_root16(csms, pki)
    server.put(BUNDLE_NAME, bundle)
    fw = pki.signer("ec").firmware(server.url(BUNDLE_NAME), bundle)
    r = csms.request(call16.SignedUpdateFirmware(request_id=41, firmware=fw, retries=1,
                                                 retry_interval=1))
    assert r.status == "Accepted"
    got = wait_last(csms, statuses16, ("Installed", "InstallationFailed",
                                       "InstallVerificationFailed"), TRANSFER_S)
    assert got == TO_INSTALL + ["Installed"], gw.log_text()[-3000:]
    assert {p["requestId"] for p in csms.calls("SignedFirmwareStatusNotification")} == {41}
    assert server.requests == ["/" + BUNDLE_NAME]
    now = sim.status()["firmware"]
    assert before["version"] != "evse-0.2.0" and before["slot"] == ""
    assert now["version"] == "evse-0.2.0" and now["slot"] and not now["trial"]
    assert "/%s/evse/controller.py" % now["slot"] in now["code"]


def test_l01_2_0_1_bundle_that_does_not_start_is_rolled_back(csms201, sim, start_gateway, pki,
                                                             bundle, server):
    """A correctly signed bundle whose controller fails to import: the firmware's boot code
    rolls back to the previous firmware; FirmwareStatusNotification InstallationFailed after
    InstallRebooting, and the sim runs the flashed firmware again."""
    broken = evse_bundle(overrides={"evse/controller.py": b"raise ImportError('broken')\n"})
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    install_root201(csms201, pki)
    server.put(BUNDLE_NAME, broken)
    fw = pki.signer("ec").firmware(server.url(BUNDLE_NAME), broken)
    assert csms201.request(call201.UpdateFirmware(request_id=3, firmware=fw)).status == \
        "Accepted"
    got = wait_last(csms201, statuses201, ("Installed", "InstallationFailed"), TRANSFER_S)
    assert got == TO_INSTALL + ["InstallationFailed"]
    now = sim.status()["firmware"]
    assert now["slot"] == "" and now["version"] != "evse-0.2.0"
    assert now["outcome"] == "rolled_back"


def test_l01_fr_04_2_0_1_tampered_package_invalid_signature(csms201, sim, start_gateway, pki,
                                                            bundle, server):
    """2.0.1 UpdateFirmware whose package was changed after signing (RSA-PSS): Downloading,
    Downloaded, InvalidSignature, a SecurityEventNotification InvalidFirmwareSignature, and
    nothing sent to the firmware (the gateway's log has no transfer)."""
    gw = start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    install_root201(csms201, pki)
    fw = pki.signer("rsa").firmware(server.url(BUNDLE_NAME), bundle)
    server.put(BUNDLE_NAME, bundle[:-1] + b"!")
    r = csms201.request(call201.UpdateFirmware(request_id=5, firmware=fw))
    assert r.status == "Accepted"
    got = wait_last(csms201, statuses201, ("InvalidSignature",), 30)
    assert got == ["Downloading", "Downloaded", "InvalidSignature"]
    ev = csms201.wait_for("SecurityEventNotification",
                          where=lambda p: p["type"] == "InvalidFirmwareSignature")
    assert "does not verify" in ev["techInfo"]
    assert "firmware transfer" not in gw.log_text() and "Installing" not in statuses201(csms201)


def test_l01_fr_02_2_0_1_certificate_of_another_root_invalid_certificate(
        csms201, sim, start_gateway, pki, bundle, server):
    """L01.FR.02/03: a signing certificate the installed manufacturer root did not issue:
    UpdateFirmware answered InvalidCertificate, a SecurityEventNotification
    InvalidFirmwareSigningCertificate, nothing downloaded."""
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    install_root201(csms201, pki)
    server.put(BUNDLE_NAME, bundle)
    fw = ManufacturerPki().signer("ec").firmware(server.url(BUNDLE_NAME), bundle)
    r = csms201.request(call201.UpdateFirmware(request_id=6, firmware=fw))
    assert r.status == "InvalidCertificate"
    csms201.wait_for("SecurityEventNotification",
                     where=lambda p: p["type"] == "InvalidFirmwareSigningCertificate")
    assert server.requests == [] and statuses201(csms201) == []


def test_1_6_expired_signing_certificate_invalid_certificate(csms, sim, start_gateway, pki,
                                                             bundle, server):
    """1.6 whitepaper: an expired signing certificate -> SignedUpdateFirmware.conf
    InvalidCertificate and a SecurityEventNotification InvalidFirmwareSigningCertificate."""
    start_gateway(csms, sim)
    csms.wait_status(1, "Available")
    install_root16(csms, pki)
    fw = pki.expired_signer("ec").firmware(server.url(BUNDLE_NAME), bundle)
    r = csms.request(call16.SignedUpdateFirmware(request_id=8, firmware=fw))
    assert r.status == "InvalidCertificate"
    csms.wait_for("SecurityEventNotification",
                  where=lambda p: p["type"] == "InvalidFirmwareSigningCertificate")
    assert statuses16(csms) == []


def test_1_6_download_retries_then_download_failed(csms, sim, start_gateway, pki, bundle,
                                                   server):
    """retries 2 and a server that answers 503: three Downloading, then DownloadFailed."""
    start_gateway(csms, sim)
    csms.wait_status(1, "Available")
    install_root16(csms, pki)
    server.put(BUNDLE_NAME, bundle)
    server.fail_next = 10
    fw = pki.signer("ec").firmware(server.url(BUNDLE_NAME), bundle)
    r = csms.request(call16.SignedUpdateFirmware(request_id=9, firmware=fw, retries=2,
                                                 retry_interval=1))
    assert r.status == "Accepted"
    got = wait_last(csms, statuses16, ("DownloadFailed",), 30)
    assert got == ["Downloading"] * 3 + ["DownloadFailed"]
    assert len(server.requests) == 3


def test_l01_2_0_1_https_download_and_trigger_message(csms201, sim, start_gateway, pki, bundle,
                                                      tmp_path):
    """https download trusted through an installed CSMSRootCertificate (M05); a retrieve
    time in the future -> DownloadScheduled, and TriggerMessage FirmwareStatusNotification
    (F06 / L01) reports it with the requestId; the update then installs; afterwards the
    trigger says Idle (no requestId)."""
    tls = TlsFiles.make(tmp_path / "tls")
    srv = PackageServer(tls=tls).start()
    try:
        start_gateway(csms201, sim)
        csms201.wait_status(1, "Available")
        install_root201(csms201, pki)
        install_root201(csms201, pki, "CSMSRootCertificate", tls.ca_pem)
        srv.put(BUNDLE_NAME, bundle)
        soon = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=4))
        fw = pki.signer("ec").firmware(srv.url(BUNDLE_NAME), bundle,
                                       retrieve=soon.isoformat().replace("+00:00", "Z"))
        assert csms201.request(call201.UpdateFirmware(request_id=12, firmware=fw)).status == \
            "Accepted"
        csms201.wait_until(lambda: "DownloadScheduled" in statuses201(csms201), 10,
                           "DownloadScheduled")
        assert csms201.request(call201.TriggerMessage(
            requested_message="FirmwareStatusNotification")).status == "Accepted"
        csms201.wait_until(lambda: statuses201(csms201).count("DownloadScheduled") == 2, 10,
                           "the triggered status")
        assert csms201.calls("FirmwareStatusNotification")[1]["requestId"] == 12
        got = wait_last(csms201, statuses201, ("Installed", "InstallationFailed",
                                               "DownloadFailed"), TRANSFER_S)
        assert got == ["DownloadScheduled", "DownloadScheduled"] + TO_INSTALL + ["Installed"]
        csms201.request(call201.TriggerMessage(requested_message="FirmwareStatusNotification"))
        idle = csms201.wait_for("FirmwareStatusNotification", count=len(got) + 1)
        assert idle == {"status": "Idle"}
    finally:
        srv.stop()


def test_m03_m04_m05_2_0_1_certificate_management(csms201, sim, start_gateway, pki):
    """M05 InstallCertificate (a garbage one Rejected), M03 GetInstalledCertificateIds by
    type, M04 DeleteCertificate by its hash data, then NotFound for both."""
    start_gateway(csms201, sim)
    csms201.wait_status(1, "Available")
    install_root201(csms201, pki)
    bad = csms201.request(call201.InstallCertificate(
        certificate_type="CSMSRootCertificate", certificate="not a certificate"))
    assert bad.status == "Rejected"
    ids = csms201.request(call201.GetInstalledCertificateIds(
        certificate_type=["ManufacturerRootCertificate"]))
    assert ids.status == "Accepted" and len(ids.certificate_hash_data_chain) == 1
    chain = ids.certificate_hash_data_chain[0]
    assert chain["certificate_type"] == "ManufacturerRootCertificate"
    assert chain["certificate_hash_data"]["serial_number"] == "%x" % pki.cert.serial_number
    hash_data = chain["certificate_hash_data"]
    assert csms201.request(call201.DeleteCertificate(certificate_hash_data=hash_data)).status \
        == "Accepted"
    assert csms201.request(call201.DeleteCertificate(certificate_hash_data=hash_data)).status \
        == "NotFound"
    assert csms201.request(call201.GetInstalledCertificateIds()).status == "NotFound"


def test_1_6_whitepaper_certificate_management(csms, sim, start_gateway, pki):
    """1.6 security whitepaper InstallCertificate / GetInstalledCertificateIds /
    DeleteCertificate of a ManufacturerRootCertificate."""
    start_gateway(csms, sim)
    csms.wait_status(1, "Available")
    install_root16(csms, pki)
    ids = csms.request(call16.GetInstalledCertificateIds(
        certificate_type="ManufacturerRootCertificate"))
    assert ids.status == "Accepted" and len(ids.certificate_hash_data) == 1
    hash_data = ids.certificate_hash_data[0]
    assert csms.request(call16.DeleteCertificate(certificate_hash_data=hash_data)).status == \
        "Accepted"
    assert csms.request(call16.GetInstalledCertificateIds(
        certificate_type="ManufacturerRootCertificate")).status == "NotFound"


def _start_update16(csms, pki, bundle, server, request_id):
    install_root16(csms, pki)
    server.put(BUNDLE_NAME, bundle)
    fw = pki.signer("ec").firmware(server.url(BUNDLE_NAME), bundle)
    assert csms.request(call16.SignedUpdateFirmware(request_id=request_id,
                                                    firmware=fw)).status == "Accepted"
    csms.wait_until(lambda: "Installing" in statuses16(csms), 30, "Installing")
    time.sleep(2)  # a part of the 8 s transfer


def test_link_drop_mid_transfer_resumes_from_received(csms, sim, start_gateway, pki, bundle,
                                                      server):
    """The link cable is pulled in the middle of the transfer and put back: the request in
    flight is sent again after the new HELLO exchange (LINK.md §5.4; a chunk at the wrong
    offset would be answered with the firmware's `received`), the transfer goes on from the
    bytes the firmware kept and the update installs."""
    relay = LinkRelay(sim.link_url)
    try:
        gw = start_gateway(csms, relay)
        csms.wait_status(1, "Available")
        _start_update16(csms, pki, bundle, server, 51)
        relay.cut()
        time.sleep(1.5)
        relay.restore()
        got = wait_last(csms, statuses16, ("Installed", "InstallationFailed",
                                           "InstallVerificationFailed"), TRANSFER_S)
        assert got == TO_INSTALL + ["Installed"]
        log = gw.log_text()
        assert log.index("update 51: Installing") < log.index("EVSE 1 offline") < log.index(
            "update 51: InstallRebooting")
        assert sim.status()["firmware"]["version"] == "evse-0.2.0"
    finally:
        relay.cut()


def test_gateway_killed_mid_transfer_resumes_and_installs_once(csms, sim, start_gateway, pki,
                                                               bundle, server):
    """kill -9 of the gateway in the middle of the transfer: the next start resumes the job
    from its stored state (the package verified again, the transfer from the firmware's
    `received`), and the update installs once; nothing is applied half."""
    gw = start_gateway(csms, sim)
    csms.wait_status(1, "Available")
    _start_update16(csms, pki, bundle, server, 52)
    gw.proc.kill()
    gw.proc.wait(5)
    gw2 = start_gateway(csms, sim)
    got = wait_last(csms, statuses16, ("Installed", "InstallationFailed",
                                       "InstallVerificationFailed"), TRANSFER_S)
    assert [s for i, s in enumerate(got) if s not in got[:i]] == TO_INSTALL + ["Installed"]
    log = gw2.log_text()
    assert "firmware update 52 resumes in phase install" in log
    assert "firmware transfer resumes at" in log
    assert sim.status()["firmware"]["version"] == "evse-0.2.0"
    assert server.requests == ["/" + BUNDLE_NAME]  # not downloaded again


def test_power_cut_of_the_charger_mid_transfer_resumes_and_installs(csms, sim, start_gateway,
                                                                    pki, bundle, server):
    """The charger loses power in the middle of the transfer (the sim's power_cut, 2 s): it
    boots the old firmware (the staged parts kept, re-hashed by the boot code), the gateway's
    next chunk is answered with the `received` of the last whole part and the transfer goes
    on from there; the update installs once."""
    gw = start_gateway(csms, sim)
    csms.wait_status(1, "Available")
    _start_update16(csms, pki, bundle, server, 53)
    sim.control("power_cut", s=2)
    got = wait_last(csms, statuses16, ("Installed", "InstallationFailed",
                                       "InstallVerificationFailed"), TRANSFER_S)
    assert got == TO_INSTALL + ["Installed"], gw.log_text()[-3000:]
    st = sim.status()
    assert st["resets"] >= 2 and st["firmware"]["version"] == "evse-0.2.0"  # cut + swap
