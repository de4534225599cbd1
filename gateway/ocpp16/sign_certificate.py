"""OCPP 1.6 security whitepaper "Update Charge Point certificate by request of Central
System": ExtendedTriggerMessage SignChargePointCertificate -> SignCertificate with the CSR of
a new key (kept in the state directory, 0600) -> CertificateSigned, checked and installed
for security profile 3 (gateway/station_certificate.py). A ChargePoint mixin; needs
self.signing (set by the client). ExtendedTriggerMessage SignedFirmwareStatusNotification:
gateway/ocpp16/firmware.py; other requests: NotImplemented."""

import logging

from ocpp.routing import after, on
from ocpp.v16 import call, call_result

from gateway.ocpp16.firmware import SIGNED_FIRMWARE_STATUS, signed_firmware_status_call

log = logging.getLogger(__name__)

SIGN = "SignChargePointCertificate"


class SignCertificateHandlers:
    @on("ExtendedTriggerMessage")
    def on_extended_trigger_message(self, requested_message, connector_id=None):
        return call_result.ExtendedTriggerMessage(
            status="Accepted" if requested_message in (SIGN, SIGNED_FIRMWARE_STATUS)
            else "NotImplemented")

    @after("ExtendedTriggerMessage")
    async def after_extended_trigger_message(self, requested_message, connector_id=None):
        if requested_message == SIGN:
            r = await self.call(call.SignCertificate(csr=self.signing.request()))
            log.info("SignCertificate: %s", r.status if r is not None else "no answer")
        elif requested_message == SIGNED_FIRMWARE_STATUS:  # gateway/ocpp16/firmware.py
            await self.call(signed_firmware_status_call(self.station))

    @on("CertificateSigned")
    def on_certificate_signed(self, certificate_chain):
        why = self.signing.signed(certificate_chain)
        if why is not None:
            log.warning("CertificateSigned rejected: %s", why)
        return call_result.CertificateSigned(status="Rejected" if why else "Accepted")
