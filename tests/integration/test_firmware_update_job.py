"""The firmware update job (gateway/firmware_update.py) with its real parts: the package
downloaded over loopback http / https (sim_hardware/firmware_package.py), the signature
checked, the image sent by EvseLink (gateway/link/firmware.py) to a scripted firmware that
speaks the FW messages of protocols/LINK.md §4 (fw_peer.py), the statuses as they are queued
for the CSMS. The same job against the real firmware over OCPP:
tests/e2e/test_firmware_update.py."""

import asyncio

import pytest
from fw_peer import FwPeer
from sim_link_fixture import async_wait_for

from gateway.firmware_update import ACTION, FirmwareUpdater
from gateway.link import EvseLink
from gateway.store import Store
from protocols import link_messages as lm
from sim_hardware.firmware_package import ManufacturerPki, PackageServer, TlsFiles

PACKAGE = bytes(range(256)) * 40  # 10240 bytes: 43 chunks
GOOD = ["Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting",
        "Installed"]
DONE = ("Installed", "InstallationFailed", "InstallVerificationFailed", "DownloadFailed",
        "InvalidSignature", "InvalidCertificate")


class FakeStation:
    def __init__(self, links, store):
        self.links = {i + 1: ln for i, ln in enumerate(links)}
        self.store = store
        self.queue_changed = asyncio.Event()
        self.security = []

    def security_event(self, event_type, tech_info=None):
        self.security.append(event_type)


@pytest.fixture(scope="module")
def pki():
    return ManufacturerPki()


@pytest.fixture
def server():
    srv = PackageServer().start()
    yield srv
    srv.stop()


def queued(store, kind="status"):
    return [m.payload for m in store.peek(1000) if m.action == ACTION
            and m.payload["kind"] == kind]


def statuses(store):
    return [p["status"] for p in queued(store)]


class Rig:
    def __init__(self, tmp_path, peers, pki, server):
        self.tmp, self.peers, self.pki, self.server = tmp_path, peers, pki, server
        self.store = Store(tmp_path / "gw.db")
        self.links = []
        self.fw = None

    async def start(self, install_root=True):
        self.links = [EvseLink(p, self.store, i + 1, request_timeout_s=1.0)
                      for i, p in enumerate(self.peers)]
        for ln in self.links:
            await ln.start()
        self.station = FakeStation(self.links, self.store)
        self.fw = FirmwareUpdater(self.station, self.tmp / "state", install_timeout_s=30,
                                  retry_unit_s=0.05)
        if install_root:
            self.fw.certificates.install("ManufacturerRootCertificate", self.pki.root_pem)
        await self.fw.resume()
        await async_wait_for(lambda: all(ln.online for ln in self.links), 5, "online")
        return self

    async def request(self, package=PACKAGE, name="evse-0.2.0.bin", signer=None, signature=None,
                      location=None, retries=0):
        self.server.put(name, package)
        signer = signer or self.pki.signer("ec")
        fw = signer.firmware(location or self.server.url(name), PACKAGE)
        refusal = self.fw.check(fw["location"], fw["signingCertificate"],
                                signature or fw["signature"])
        if refusal is not None:
            return refusal[0]
        return await self.fw.start(7, fw["location"], fw["signingCertificate"],
                                   signature or fw["signature"], retries=retries,
                                   retry_interval_s=1)

    async def finished(self, timeout_s=30):
        await async_wait_for(lambda: statuses(self.store) and statuses(self.store)[-1] in DONE,
                             timeout_s, "the job's last status")
        return statuses(self.store)

    async def stop(self):
        await self.fw.stop()
        for ln in self.links:
            await ln.stop()
        self.store.close()


def run(tmp_path, pki, server, peers, body):
    async def main():
        rig = await Rig(tmp_path, peers, pki, server).start()
        try:
            await body(rig)
        finally:
            await rig.stop()
    asyncio.run(main())


def test_l01_good_update_reaches_every_evse_and_reports_each_step(tmp_path, pki, server):
    """L01.FR.01: a status per step; both EVSEs get the image (FW_BEGIN size/sha256/version,
    chunks of 243 bytes, VERIFY, then APPLY) and come back on the new version: Installed."""
    peers = [FwPeer(), FwPeer()]

    async def body(rig):
        assert await rig.request() == "Accepted"
        assert await rig.finished() == GOOD
        for p in peers:
            assert p.applied == ["evse-0.2.0"]
            assert p.of(lm.FW_BEGIN)[0]["size"] == len(PACKAGE)
            assert len(p.of(lm.FW_CHUNK)) == -(-len(PACKAGE) // 243)
            assert [f["action"] for f in p.of(lm.FW_END)] == [lm.FWE_VERIFY, lm.FWE_APPLY]
        assert rig.station.security == ["FirmwareUpdated"]
        assert rig.fw.status() == "Idle"

    run(tmp_path, pki, server, peers, body)


def test_transfer_resumes_from_received_after_a_link_drop(tmp_path, pki, server):
    """The link drops mid-transfer (the chunk's answer lost); the firmware kept what it had:
    the same FW_BEGIN again is answered with `received` and the chunks continue from there."""
    peer = FwPeer(drop_at=5000)

    async def body(rig):
        await rig.request()
        assert await rig.finished() == GOOD
        assert len(peer.of(lm.FW_BEGIN)) == 2
        # 21 chunks up to the drop, the lost one again, then the rest: no restart from 0
        assert len(peer.of(lm.FW_CHUNK)) <= -(-len(PACKAGE) // 243) + 2
        assert peer.applied == ["evse-0.2.0"]

    run(tmp_path, pki, server, [peer], body)


def test_transfer_starts_again_when_the_firmware_lost_the_image(tmp_path, pki, server):
    """A firmware that rebooted mid-transfer and lost its staging answers FW_BEGIN with
    received 0: the image goes again from the start and still installs."""
    peer = FwPeer(drop_at=5000, keep_on_drop=False)

    async def body(rig):
        await rig.request()
        assert await rig.finished() == GOOD
        assert [f["offset"] for f in peer.of(lm.FW_CHUNK)].count(0) == 2

    run(tmp_path, pki, server, [peer], body)


def test_wrong_hash_is_install_verification_failed_and_nothing_applied(tmp_path, pki, server):
    """A byte changed on the way: the firmware's SHA-256 check fails at FW_END(VERIFY);
    InstallVerificationFailed, the staged image aborted, no APPLY, the old version runs."""
    peer = FwPeer(corrupt_at=3000)

    async def body(rig):
        await rig.request()
        assert (await rig.finished())[-1] == "InstallVerificationFailed"
        assert [f["action"] for f in peer.of(lm.FW_END)] == [lm.FWE_VERIFY, lm.FWE_ABORT]
        assert peer.version == "0.1.0" and peer.applied == []

    run(tmp_path, pki, server, [peer], body)


def test_firmware_without_cap_fw_update_gets_no_fw_messages(tmp_path, pki, server):
    """LINK.md §5.3: no FW_BEGIN to a firmware that did not announce CAP_FW_UPDATE: the
    verified package is not installed (InstallationFailed), the firmware heard nothing."""
    peer = FwPeer(caps=lm.CAP_SCHEDULE)

    async def body(rig):
        await rig.request()
        assert (await rig.finished())[-3:] == ["SignatureVerified", "Installing",
                                               "InstallationFailed"]
        assert peer.of(lm.FW_BEGIN) == [] and peer.of(lm.FW_END) == []

    run(tmp_path, pki, server, [peer], body)


def test_rollback_reported_as_installation_failed(tmp_path, pki, server):
    """The new image did not come up and the firmware rolled back (EV_FW_UPDATE FW_FAILED,
    the old version in its HELLO): InstallationFailed after InstallRebooting."""
    peer = FwPeer(rollback=True)

    async def body(rig):
        await rig.request()
        assert (await rig.finished())[-2:] == ["InstallRebooting", "InstallationFailed"]
        assert peer.version == "0.1.0"

    run(tmp_path, pki, server, [peer], body)


def test_l01_fr_04_tampered_package_is_invalid_signature_and_never_sent(tmp_path, pki, server):
    """The server's package is not what was signed: InvalidSignature, a security event
    InvalidFirmwareSignature queued, and no FW message reaches the firmware."""
    peer = FwPeer()

    async def body(rig):
        await rig.request(package=PACKAGE[:-1] + b"X")
        assert await rig.finished() == ["Downloading", "Downloaded", "InvalidSignature"]
        assert [p["type"] for p in queued(rig.store, "security")] == ["InvalidFirmwareSignature"]
        assert peer.of(lm.FW_BEGIN) == []

    run(tmp_path, pki, server, [peer], body)


def test_l01_fr_02_certificate_of_another_root_refused_at_once(tmp_path, pki, server):
    """A signing certificate the installed manufacturer root did not issue: the request is
    answered InvalidCertificate; nothing is downloaded."""
    async def body(rig):
        assert await rig.request(signer=ManufacturerPki().signer("rsa")) == "InvalidCertificate"
        assert server.requests == [] and statuses(rig.store) == []

    run(tmp_path, pki, server, [FwPeer()], body)


def test_download_retries_then_succeeds_or_fails(tmp_path, pki, server):
    """retries 2 and two 503 answers: three Downloading, then the update installs; retries 1
    and a missing file: two attempts, DownloadFailed."""
    async def body(rig):
        server.fail_next = 2
        await rig.request(retries=2)
        got = await rig.finished()
        assert got.count("Downloading") == 3 and got[-1] == "Installed"
        before = len(got)
        await rig.request(location=server.url("missing.bin"), retries=1)
        await async_wait_for(lambda: len(statuses(rig.store)) > before
                             and statuses(rig.store)[-1] in DONE, 20, "second job")
        assert statuses(rig.store)[before:] == ["Downloading", "Downloading", "DownloadFailed"]

    run(tmp_path, pki, server, [FwPeer()], body)


def test_https_download_trusts_the_installed_csms_root(tmp_path, pki):
    """https: refused (DownloadFailed) until the download server's CA is installed as a
    CSMSRootCertificate, then installed."""
    tls = TlsFiles.make(tmp_path / "tls")
    srv = PackageServer(tls=tls).start()

    async def body(rig):
        await rig.request()
        assert (await rig.finished())[-1] == "DownloadFailed"
        rig.fw.certificates.install("CSMSRootCertificate", tls.ca_pem)
        n = len(statuses(rig.store))
        await rig.request()
        await async_wait_for(lambda: statuses(rig.store)[-1] == "Installed", 30, "Installed")
        assert statuses(rig.store)[n:] == GOOD

    try:
        run(tmp_path, pki, srv, [FwPeer()], body)
    finally:
        srv.stop()


def test_gateway_restart_mid_transfer_resumes_and_installs(tmp_path, pki, server):
    """The gateway stops in the middle of the transfer; a new one (same state dir and
    store) resumes the job from the stored state: the package is verified again, the
    transfer continues from the firmware's `received`, and it installs once."""
    peer = FwPeer(answer_delay_s=0.02)

    async def main():
        rig = await Rig(tmp_path, [peer], pki, server).start()
        await rig.request()
        await async_wait_for(lambda: len(peer.of(lm.FW_CHUNK)) >= 10, 10, "10 chunks")
        await rig.stop()
        rig2 = await Rig(tmp_path, [peer], pki, server).start()
        try:
            got = await rig2.finished()
            assert got[-2:] == ["InstallRebooting", "Installed"]
            assert peer.applied == ["evse-0.2.0"]
            assert len(peer.of(lm.FW_BEGIN)) == 2
            begins = [i for i, (m, _) in enumerate(peer.sent) if m == lm.FW_BEGIN]
            resumed = next(f for m, f in peer.sent[begins[1]:] if m == lm.FW_CHUNK)
            assert resumed["offset"] >= 10 * 243  # from `received`, not from 0
        finally:
            await rig2.stop()

    asyncio.run(main())


def test_package_changed_on_disk_during_a_restart_is_never_applied(tmp_path, pki, server):
    """The stored package is altered while the gateway is down in the install phase: the
    resumed job verifies it again, reports InstallationFailed and sends no APPLY."""
    peer = FwPeer(answer_delay_s=0.02)

    async def main():
        rig = await Rig(tmp_path, [peer], pki, server).start()
        await rig.request()
        await async_wait_for(lambda: len(peer.of(lm.FW_CHUNK)) >= 5, 10, "5 chunks")
        await rig.stop()
        path = rig.fw.package_path
        path.write_bytes(path.read_bytes()[:-1] + b"Y")
        rig2 = await Rig(tmp_path, [peer], pki, server).start()
        try:
            assert (await rig2.finished())[-1] == "InstallationFailed"
            assert lm.FWE_APPLY not in [f["action"] for f in peer.of(lm.FW_END)]
            assert peer.version == "0.1.0"
        finally:
            await rig2.stop()

    asyncio.run(main())


def test_l01_fr_24_new_request_during_transfer_cancels_the_old_one(tmp_path, pki, server):
    """A second request while the first is transferring: AcceptedCanceled; the staged image
    is aborted (FW_END ABORT) and the second job installs from a new FW_BEGIN."""
    peer = FwPeer(answer_delay_s=0.02)

    async def body(rig):
        await rig.request()
        await async_wait_for(lambda: len(peer.of(lm.FW_CHUNK)) >= 5, 10, "5 chunks")
        assert await rig.request(name="evse-0.3.0.bin") == "AcceptedCanceled"
        await async_wait_for(lambda: statuses(rig.store)[-1] == "Installed", 30, "Installed")
        assert lm.FWE_ABORT in [f["action"] for f in peer.of(lm.FW_END)]
        assert [f["version"] for f in peer.of(lm.FW_BEGIN)][-1] == "evse-0.3.0"
        assert peer.applied == ["evse-0.3.0"]

    run(tmp_path, pki, server, [peer], body)
