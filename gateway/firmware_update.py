"""The signed firmware update job (OCPP 2.0.1 L01, 1.6 security whitepaper SignedUpdateFirmware;
UK-S2 authenticated updates), version-neutral: the OCPP adapters (gateway/ocpp16/firmware.py,
gateway/ocpp201/firmware.py) hand it a request and send the statuses it queues.

    download (retries, retryInterval)     Downloading .. Downloaded | DownloadFailed
    verify (firmware_signature.py)        SignatureVerified | InvalidSignature | InvalidCertificate
    every EVSE: transfer, FW_END(VERIFY)  Installing | InstallVerificationFailed
                                          | InstallationFailed
    every EVSE: FW_END(APPLY)             InstallRebooting (it swaps at its next idle moment)
    the HELLOs name the new version       Installed | InstallationFailed (rolled back, timeout)

Nothing is applied before every EVSE verified the image (FW_END VERIFY: its SHA-256) and the
package's signature verified here; the package is verified again after a restart before it
goes anywhere. The job (STORE meta `firmware.job`) and each status message are committed
together (store.enqueue), so a restart resumes the job where it stood: a download again, a
transfer from the firmware's `received`, the wait for the new version; never half an APPLY
(APPLY goes only after every VERIFY). FW_BEGIN's version is the package file's name without
its extension (`evse-0.2.0.bin` -> `evse-0.2.0`, at most 32 bytes): the firmware announces it
in its HELLO once it runs the new image.
"""

import asyncio
import hashlib
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from gateway import firmware_signature as sig
from gateway.certificates import CertificateStore
from gateway.firmware_download import DownloadError, check_location, fetch
from gateway.link import firmware as fw_link
from gateway.link.values import LinkError
from protocols import link_messages as lm

log = logging.getLogger(__name__)

JOB_KEY = "firmware.job"
ACTION = "firmware"  # queued messages: {"kind": "status" | "security", ...}
INSTALL_TIMEOUT_S = 86400  # the swap waits for an idle EVSE (never during a charge)
APPLY_RECORDS_WAIT_S = 15.0
# EV_FW_UPDATE steps that show a firmware took FW_END(APPLY) (protocols/link_messages.py)
APPLY_STEPS = {lm.FWS_APPLY_ACCEPTED, lm.FWS_APPLY_WAIT, lm.FWS_APPLYING, lm.FWS_INSTALLED,
               lm.FWS_ROLLED_BACK, lm.FWS_INSTALL_FAILED, lm.FWS_CONFIRMED}
ACTIVE = ("download", "install", "apply", "wait_boot")
CANCELLABLE = ("download", "install")
# the security event of a verification failure (2.0.1 L01.FR.03 / whitepaper)
SECURITY_EVENTS = {sig.INVALID_CERTIFICATE: "InvalidFirmwareSigningCertificate",
                   sig.INVALID_SIGNATURE: "InvalidFirmwareSignature"}


async def send_message(cp, p, status_call, security_call):
    """A queued message of the job (ACTION) sent with the version's calls: status_call(status,
    request_id) -> its (Signed)FirmwareStatusNotification, security_call the version's
    SecurityEventNotification class. True once answered (a CallError raises: retried)."""
    if p["kind"] == "status":
        await cp.call(status_call(p["status"], p["request_id"]), suppress=False)
    else:
        stamp = datetime.fromtimestamp(p["unix_s"], UTC).isoformat().replace("+00:00", "Z")
        await cp.call(security_call(type=p["type"], timestamp=stamp,
                                    tech_info=p.get("tech_info")), suppress=False)
    return True


def unix_s_of(text):
    """An OCPP dateTime -> unix seconds (None for none or an unreadable one)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def package_version(location):
    name = PurePosixPath(urlsplit(location).path).name
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return stem.encode()[:32].decode("utf-8", "ignore") or "unknown"


class FirmwareUpdater:
    def __init__(self, station, state_dir, clock=time.time, install_timeout_s=INSTALL_TIMEOUT_S,
                 retry_unit_s=1.0):
        self.station = station
        self.store = station.store
        self.dir = Path(state_dir) / "firmware"
        self.certificates = CertificateStore(Path(state_dir) / "certs")
        self.clock = clock
        self.install_timeout_s = install_timeout_s
        self.retry_unit_s = retry_unit_s  # tests may shorten retryInterval's second
        self.job = self.store.get_meta(JOB_KEY)
        self._task = None
        self._changed = asyncio.Event()

    # --- what the adapters call ----------------------------------------------------------

    @property
    def package_path(self):
        return self.dir / "package.bin"

    def status(self):
        """The status of the update in progress, Idle when none (TriggerMessage)."""
        j = self.job
        return j["status"] if j and j["phase"] in ACTIVE else "Idle"

    def request_id(self):
        j = self.job
        return j["request_id"] if j and j["phase"] in ACTIVE else None

    def check(self, location, signing_certificate, signature):
        """-> None when the request can start, else (answer status, why): Rejected for a
        location this station cannot download from or a busy install, InvalidCertificate
        (L01.FR.02) for a signing certificate the manufacturer roots do not vouch for."""
        try:
            check_location(location)
            sig.decode_signature(signature)
        except (ValueError, sig.VerificationError) as e:
            return "Rejected", str(e)
        if self.job and self.job["phase"] in ACTIVE and self.job["phase"] not in CANCELLABLE:
            return "Rejected", "an install is in progress (%s)" % self.job["status"]
        try:
            sig.check_certificate(signing_certificate, self.certificates.roots(
                "ManufacturerRootCertificate"))
        except sig.VerificationError as e:
            return e.status, str(e)
        return None

    async def refuse_certificate(self, why):
        await self._security(SECURITY_EVENTS[sig.INVALID_CERTIFICATE], why)

    async def _security(self, event_type, why):
        """Into the security log (UK-S11) and, as L01.FR.03/04 and the whitepaper ask for
        these (non-critical) events, queued as a SecurityEventNotification."""
        security_event = getattr(self.station, "security_event", None)
        if security_event is not None:
            security_event(event_type, why)
        await self._queue({"kind": "security", "type": event_type, "tech_info": why[:255],
                           "unix_s": int(self.clock())})

    async def start(self, request_id, location, signing_certificate, signature,
                    retrieve_unix_s=None, install_unix_s=None, retries=0, retry_interval_s=0):
        """A checked request (check() gave None) -> "Accepted", or "AcceptedCanceled" when
        it replaced a job still downloading or transferring (L01.FR.24)."""
        answer = "Accepted"
        if self.job and self.job["phase"] in CANCELLABLE and self._task is not None:
            await self.cancel()
            answer = "AcceptedCanceled"
        await self.stop()  # the task of a finished job may still be on its last step
        self.job = {"request_id": int(request_id), "location": location,
                    "signing_certificate": signing_certificate, "signature": signature,
                    "retrieve_unix_s": retrieve_unix_s, "install_unix_s": install_unix_s,
                    "retries": max(0, int(retries or 0)),
                    "retry_interval_s": max(0, int(retry_interval_s or 0)),
                    "version": package_version(location), "phase": "download",
                    "status": "Idle", "evses": {}, "deadline_unix_s": None}
        await self.store.aio(self.store.set_meta, JOB_KEY, self.job)
        self._spawn()
        return answer

    async def cancel(self):
        t, self._task = self._task, None
        if t is not None:
            t.cancel()
            await asyncio.gather(t, return_exceptions=True)
        for ln in self.station.links.values():
            await fw_link.abort(ln)

    async def resume(self):
        """At the gateway's start: carry on with a job a restart interrupted."""
        for ln in self.station.links.values():
            ln.on_record(lambda rec, cid=ln.evse_id: self._record(cid, rec))
            ln.on_online(lambda up: self._changed.set())
        if self.job and self.job["phase"] in ACTIVE:
            log.warning("firmware update %d resumes in phase %s (%s)", self.job["request_id"],
                        self.job["phase"], self.job["status"])
            self._spawn()

    async def stop(self):
        t, self._task = self._task, None
        if t is not None:
            t.cancel()
            await asyncio.gather(t, return_exceptions=True)

    # --- the job -------------------------------------------------------------------------

    def _spawn(self):
        self._task = asyncio.create_task(self._run(), name="firmware update")

    async def _queue(self, payload, job=None):
        meta = {JOB_KEY: job} if job is not None else None
        await self.store.aio(self.store.enqueue, ACTION, payload, meta=meta)
        self.station.queue_changed.set()

    async def _report(self, status, **changes):
        """Commit the job's new state together with its status message."""
        self.job = dict(self.job, status=status, **changes)
        log.info("firmware update %d: %s", self.job["request_id"], status)
        await self._queue({"kind": "status", "status": status,
                           "request_id": self.job["request_id"]}, self.job)

    async def _fail(self, status, why):
        log.warning("firmware update %d: %s: %s", self.job["request_id"], status, why)
        await self._report(status, phase="done", why=why[:255])

    async def _sleep_until(self, unix_s):
        while unix_s is not None and self.clock() < unix_s:
            await asyncio.sleep(min(60.0, unix_s - self.clock()))

    async def _run(self):
        try:
            phases = {"download": self._download, "install": self._install,
                      "apply": self._apply, "wait_boot": self._wait_boot}
            while self.job["phase"] in phases:
                before = self.job["phase"]
                await phases[before]()
                if self.job["phase"] == before:
                    break
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug must not leave the job "in progress" for ever
            log.exception("firmware update failed")
            await self._fail("InstallationFailed", "internal error: %s" % e)

    async def _download(self):
        j = self.job
        if j["retrieve_unix_s"] and self.clock() < j["retrieve_unix_s"]:
            await self._report("DownloadScheduled")
            await self._sleep_until(j["retrieve_unix_s"])
        cas = self.certificates.pem_files("CSMSRootCertificate")
        for attempt in range(j["retries"] + 1):
            await self._report("Downloading")
            try:
                package = await fetch(j["location"], cas)
                break
            except DownloadError as e:
                log.warning("firmware download %d/%d: %s", attempt + 1, j["retries"] + 1, e)
                if attempt == j["retries"]:
                    return await self._fail("DownloadFailed", str(e))
                await asyncio.sleep(j["retry_interval_s"] * self.retry_unit_s)
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.package_path.with_suffix(".tmp")
        tmp.write_bytes(package)
        os.replace(tmp, self.package_path)
        await self._report("Downloaded", sha256=hashlib.sha256(package).hexdigest())
        try:
            self._verify(package)
        except sig.VerificationError as e:
            await self._security(SECURITY_EVENTS[e.status], str(e))
            return await self._fail(e.status, str(e))
        await self._report("SignatureVerified", phase="install")

    def _verify(self, package):
        j = self.job
        sig.verify(package, j["signing_certificate"], j["signature"],
                   self.certificates.roots("ManufacturerRootCertificate"))

    def _verified_package(self):
        """The stored package, verified again (after a restart it may have changed)."""
        try:
            package = self.package_path.read_bytes()
        except OSError as e:
            raise sig.VerificationError(sig.INVALID_SIGNATURE, "package: %s" % e) from None
        if hashlib.sha256(package).hexdigest() != self.job.get("sha256"):
            raise sig.VerificationError(sig.INVALID_SIGNATURE, "stored package changed")
        self._verify(package)
        return package

    async def _install(self):
        j = self.job
        try:
            package = self._verified_package()
        except sig.VerificationError as e:
            return await self._fail("InstallationFailed", str(e))
        if j["install_unix_s"] and self.clock() < j["install_unix_s"]:
            await self._report("InstallScheduled")
            await self._sleep_until(j["install_unix_s"])
        if j["status"] != "Installing":
            await self._report("Installing")
        evses = dict(j["evses"])
        for cid, ln in self.station.links.items():
            if evses.get(str(cid), {}).get("state") == "verified":
                continue
            try:
                await fw_link.wait_online(ln)
                old = ln.peer.sw_version if ln.peer else ""
                await fw_link.send_image(ln, package, j["version"])
            except LinkError as e:
                await self.cancel_transfers()
                status = getattr(e, "status", lm.ST_FAILED)
                verify_failed = "FW_END(VERIFY)" in str(e) and status == lm.ST_FAILED
                return await self._fail("InstallVerificationFailed" if verify_failed
                                        else "InstallationFailed", "EVSE %d: %s" % (cid, e))
            evses[str(cid)] = {"state": "verified", "old_version": old}
            self.job = dict(self.job, evses=evses)
            await self.store.aio(self.store.set_meta, JOB_KEY, self.job)
        self.job = dict(self.job, phase="apply")
        await self.store.aio(self.store.set_meta, JOB_KEY, self.job)

    async def cancel_transfers(self):
        for ln in self.station.links.values():
            await fw_link.abort(ln)

    async def _apply(self):
        try:
            self._verified_package()  # never apply what does not verify now
        except sig.VerificationError as e:
            await self.cancel_transfers()
            return await self._fail("InstallationFailed", str(e))
        # the firmware's EV_FW_UPDATE records after this mark tell how the swap went
        marks = {str(cid): await self.store.aio(self._last_record_id, cid)
                 for cid in self.station.links}
        for cid, ln in self.station.links.items():
            try:
                await fw_link.wait_online(ln)
                await fw_link.apply(ln)
            except LinkError as e:
                if await self._apply_taken(cid, marks[str(cid)]):
                    log.info("EVSE %d took FW_END(APPLY) and rebooted before its answer got "
                             "out (%s)", cid, e)
                    continue
                await self.cancel_transfers()
                return await self._fail("InstallationFailed", "EVSE %d: %s" % (cid, e))
        await self._report("InstallRebooting", phase="wait_boot", marks=marks,
                           deadline_unix_s=int(self.clock()) + self.install_timeout_s)

    async def _apply_taken(self, cid, mark, wait_s=APPLY_RECORDS_WAIT_S):
        """An idle firmware swaps in the tick that took FW_END(APPLY): its FW_STATUS may be
        lost in the reset and the resend answered by the rebooted firmware (state idle). Its
        EV_FW_UPDATE records (sent again after the reboot) tell whether it took the APPLY."""
        loop = asyncio.get_running_loop()
        end = loop.time() + wait_s
        while loop.time() < end:
            if APPLY_STEPS & set(await self.store.aio(self._steps, cid, mark)):
                return True
            await asyncio.sleep(0.5)
        return False

    def _last_record_id(self, cid):
        last = 0
        while recs := self.store.records(cid, after_id=last, limit=1000):
            last = recs[-1].id
        return last

    def _steps(self, cid, after_id):
        """The FWS_* steps of the EVSE's EV_FW_UPDATE records committed after after_id."""
        return [r.fields.get("c") for r in self.store.records(cid, after_id=after_id, limit=1000)
                if r.mtype == lm.EVENT and r.code == lm.EV_FW_UPDATE]

    def _record(self, cid, rec):
        if self.job and self.job["phase"] == "wait_boot":
            self._changed.set()

    async def _wait_boot(self):
        """Installed once every EVSE confirmed the new bundle after its trial boot
        (FWS_CONFIRMED, docs/firmware_update.md); InstallationFailed when one rolled back or
        could not unpack it, or none of that happened before the deadline."""
        j = self.job
        while True:
            steps = {cid: await self.store.aio(self._steps, cid, j["marks"][str(cid)])
                     for cid in self.station.links}
            failed = [cid for cid, st in steps.items()
                      if lm.FWS_ROLLED_BACK in st or lm.FWS_INSTALL_FAILED in st]
            if failed:
                return await self._fail("InstallationFailed", "EVSE %s: the new firmware did "
                                        "not come up, the previous one runs" % failed)
            if all(lm.FWS_CONFIRMED in st for st in steps.values()):
                security_event = getattr(self.station, "security_event", None)
                if security_event is not None:  # critical: the log's own queue sends it
                    security_event("FirmwareUpdated", "version %s" % j["version"])
                return await self._report("Installed", phase="done")
            if self.clock() >= j["deadline_unix_s"]:
                versions = {cid: ln.peer.sw_version if ln.peer else None
                            for cid, ln in self.station.links.items()}
                return await self._fail("InstallationFailed", "not confirmed after %d s (the "
                                        "EVSEs run %s)" % (self.install_timeout_s, versions))
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), 1.0)
            except TimeoutError:
                pass
