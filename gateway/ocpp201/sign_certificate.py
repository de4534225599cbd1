"""OCPP 2.0.1 A02 "Update Charging Station Certificate by request of CSMS": TriggerMessage
SignChargingStationCertificate -> SignCertificate with the CSR of a new key (kept in the state
directory, 0600) -> the CSMS's CertificateSigned, checked and installed for security
profile 3 (gateway/station_certificate.py). A ChargePoint mixin; needs self.client.signing."""

import logging

from ocpp.routing import on
from ocpp.v201 import call, call_result

log = logging.getLogger(__name__)

CERTIFICATE_TYPE = "ChargingStationCertificate"  # no ISO 15118: V2GCertificate is refused


class SignCertificateHandlers:
    async def _trigger_sign_certificate(self, ids):
        csr = self.client.signing.request()
        r = await self.call(call.SignCertificate(csr=csr, certificate_type=CERTIFICATE_TYPE))
        log.info("SignCertificate: %s", r.status if r is not None else "no answer")

    @on("CertificateSigned")
    def on_certificate_signed(self, certificate_chain, certificate_type=None, **_):
        if certificate_type not in (None, CERTIFICATE_TYPE):
            return call_result.CertificateSigned(status="Rejected", status_info={
                "reason_code": "UnsupportedCertType",
                "additional_info": "this station has no ISO 15118 (V2G) certificate"})
        why = self.client.signing.signed(certificate_chain)
        if why is not None:
            log.warning("CertificateSigned rejected: %s", why)
            return call_result.CertificateSigned(status="Rejected", status_info={
                "reason_code": "InvalidCertificate", "additional_info": why[:512]})
        return call_result.CertificateSigned(status="Accepted")
