"""OCPP 2.0.1 firmware update (L01 secure firmware update) on the version-neutral job of
gateway/firmware_update.py: UpdateFirmware in, FirmwareStatusNotification (with requestId) and
SecurityEventNotification out through the durable queue, TriggerMessage
FirmwareStatusNotification (L01.FR.25 / F06) giving the current status.

UpdateFirmwareResponse:
- Accepted: the job starts;
- AcceptedCanceled: it replaced a job still downloading or transferring (L01.FR.24);
- InvalidCertificate: the signing certificate is not issued by an installed
  ManufacturerRootCertificate or not valid now (L01.FR.02), with a SecurityEventNotification
  InvalidFirmwareSigningCertificate (L01.FR.03);
- Rejected: no signature or signing certificate (signed firmware only, UK-S2), a location
  that is not http(s), or an install already past its transfer.
"""

import logging

from ocpp.routing import on
from ocpp.v201 import call, call_result

from gateway.firmware_update import send_message
from gateway.firmware_update import unix_s_of as _unix_s

log = logging.getLogger(__name__)


async def send_firmware_message(cp, p):
    """A queued message of the job (gateway/firmware_update.py ACTION) -> its 2.0.1 call."""
    def status_call(status, request_id):
        return call.FirmwareStatusNotification(status=status, request_id=request_id)

    return await send_message(cp, p, status_call, call.SecurityEventNotification)


def firmware_status_call(station):
    """TriggerMessage FirmwareStatusNotification: the running update's status and requestId,
    Idle when none runs."""
    fw = getattr(station, "firmware", None)
    if fw is None or fw.request_id() is None:
        return call.FirmwareStatusNotification(status="Idle")
    return call.FirmwareStatusNotification(status=fw.status(), request_id=fw.request_id())


def _refused(status, why):
    return call_result.UpdateFirmware(status=status, status_info={
        "reason_code": "InvalidCertificate" if status == "InvalidCertificate" else "Rejected",
        "additional_info": why[:512]})


class FirmwareHandlers:
    """ChargePoint mixin; needs self.station with .firmware (FirmwareUpdater)."""

    @on("UpdateFirmware")
    async def on_update_firmware(self, request_id, firmware, retries=None, retry_interval=None,
                                 **_):
        fw = getattr(self.station, "firmware", None)
        if fw is None:
            return _refused("Rejected", "no firmware update on this station")
        cert, signature = firmware.get("signing_certificate"), firmware.get("signature")
        if not cert or not signature:
            return _refused("Rejected", "signed firmware only: signingCertificate and "
                            "signature are required")
        refusal = fw.check(firmware["location"], cert, signature)
        if refusal is not None:
            status, why = refusal
            log.warning("UpdateFirmware %d: %s: %s", request_id, status, why)
            if status == "InvalidCertificate":
                await fw.refuse_certificate(why)
            return _refused(status, why)
        answer = await fw.start(request_id, firmware["location"], cert, signature,
                                retrieve_unix_s=_unix_s(firmware.get("retrieve_date_time")),
                                install_unix_s=_unix_s(firmware.get("install_date_time")),
                                retries=retries, retry_interval_s=retry_interval)
        return call_result.UpdateFirmware(status=answer)
