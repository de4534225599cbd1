"""OCPP 1.6 signed firmware update (security whitepaper, "Secure firmware update") on the
version-neutral job of gateway/firmware_update.py: SignedUpdateFirmware in,
SignedFirmwareStatusNotification (with requestId) and SecurityEventNotification out through
the durable queue; ExtendedTriggerMessage SignedFirmwareStatusNotification gives the current
status (Idle when no update runs).

SignedUpdateFirmware.conf: Accepted (the job starts); AcceptedCanceled (it replaced a job
still downloading or transferring); InvalidCertificate (the signing certificate is not issued
by an installed ManufacturerRootCertificate or not valid now; with a SecurityEventNotification
InvalidFirmwareSigningCertificate); Rejected (a location that is not http(s), a signature that
is not base64, an install already past its transfer).

The 1.6 core UpdateFirmware (unsigned) is not handled: this station installs signed firmware
only (UK-S2)."""

import logging

from ocpp.routing import on
from ocpp.v16 import call, call_result

from gateway.firmware_update import send_message
from gateway.firmware_update import unix_s_of as _unix_s

log = logging.getLogger(__name__)


async def send_firmware_message(cp, p):
    """A queued message of the job (gateway/firmware_update.py ACTION) -> its 1.6 call."""
    def status_call(status, request_id):
        return call.SignedFirmwareStatusNotification(status=status, request_id=request_id)

    return await send_message(cp, p, status_call, call.SecurityEventNotification)


class FirmwareHandlers:
    """ChargePoint mixin; needs self.station with .firmware (FirmwareUpdater)."""

    @on("SignedUpdateFirmware")
    async def on_signed_update_firmware(self, request_id, firmware, retries=None,
                                        retry_interval=None):
        fw = getattr(self.station, "firmware", None)
        if fw is None:
            return call_result.SignedUpdateFirmware(status="Rejected")
        cert, signature = firmware.get("signing_certificate"), firmware.get("signature")
        refusal = fw.check(firmware.get("location"), cert, signature)
        if refusal is not None:
            status, why = refusal
            log.warning("SignedUpdateFirmware %d: %s: %s", request_id, status, why)
            if status == "InvalidCertificate":
                await fw.refuse_certificate(why)
            return call_result.SignedUpdateFirmware(status=status)
        answer = await fw.start(int(request_id), firmware["location"], cert, signature,
                                retrieve_unix_s=_unix_s(firmware.get("retrieve_date_time")),
                                install_unix_s=_unix_s(firmware.get("install_date_time")),
                                retries=retries, retry_interval_s=retry_interval)
        return call_result.SignedUpdateFirmware(status=answer)


SIGNED_FIRMWARE_STATUS = "SignedFirmwareStatusNotification"  # ExtendedTriggerMessage


def signed_firmware_status_call(station):
    """ExtendedTriggerMessage SignedFirmwareStatusNotification (gateway/ocpp16/
    sign_certificate.py routes it here): the running update's status, Idle when none runs."""
    fw = getattr(station, "firmware", None)
    if fw is None or fw.request_id() is None:
        return call.SignedFirmwareStatusNotification(status="Idle")
    return call.SignedFirmwareStatusNotification(status=fw.status(), request_id=fw.request_id())


# the signed job's status -> the 1.6 core FirmwareStatus (TriggerMessage FirmwareStatusNotification)
CORE_STATUS = {"Downloading": "Downloading", "Downloaded": "Downloaded",
               "SignatureVerified": "Downloaded", "DownloadFailed": "DownloadFailed",
               "Installing": "Installing", "InstallScheduled": "Downloaded",
               "InstallRebooting": "Installing", "Installed": "Installed",
               "InstallationFailed": "InstallationFailed",
               "InstallVerificationFailed": "InstallationFailed"}


def core_firmware_status(station):
    """TriggerMessage FirmwareStatusNotification (1.6 §5.17): the running signed update in the
    core statuses, Idle when none runs."""
    fw = getattr(station, "firmware", None)
    return CORE_STATUS.get(fw.status(), "Idle") if fw is not None else "Idle"
