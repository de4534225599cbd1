"""OCPP 2.0.1 certificate management of the station's roots (M03 GetInstalledCertificateIds,
M04 DeleteCertificate, M05 InstallCertificate) on gateway/certificates.py. The station keeps
root certificates only (CSMSRootCertificate, ManufacturerRootCertificate, V2GRootCertificate,
MORootCertificate); a V2GCertificateChain is never installed, so asking for it finds none."""

import logging

from ocpp.routing import on
from ocpp.v201 import call_result

from gateway.certificates import USES, CertificateError, CertificateId

log = logging.getLogger(__name__)


def _info(code, text):
    return {"reason_code": code, "additional_info": text[:512]}


class CertificateHandlers:
    """ChargePoint mixin; needs self.station.firmware.certificates (CertificateStore)."""

    @property
    def _certificates(self):
        fw = getattr(self.station, "firmware", None)
        return None if fw is None else fw.certificates

    @on("InstallCertificate")
    def on_install_certificate(self, certificate_type, certificate, **_):
        """M05.FR.02/03: Rejected for a certificate that is not valid (or not one), Failed
        when it cannot be stored."""
        store = self._certificates
        if store is None:
            return call_result.InstallCertificate(status="Failed")
        try:
            cid = store.install(certificate_type, certificate)
        except CertificateError as e:
            log.warning("InstallCertificate %s refused: %s", certificate_type, e)
            return call_result.InstallCertificate(status="Rejected",
                                                  status_info=_info("InvalidCertificate", str(e)))
        except OSError as e:
            return call_result.InstallCertificate(status="Failed",
                                                  status_info=_info("WriteError", str(e)))
        log.info("InstallCertificate %s: serial %s", certificate_type, cid.serial_number)
        return call_result.InstallCertificate(status="Accepted")

    @on("DeleteCertificate")
    def on_delete_certificate(self, certificate_hash_data, **_):
        store = self._certificates
        if store is None:
            return call_result.DeleteCertificate(status="Failed")
        try:
            n = store.delete(CertificateId.from_ocpp(certificate_hash_data))
        except OSError as e:
            return call_result.DeleteCertificate(status="Failed",
                                                 status_info=_info("WriteError", str(e)))
        return call_result.DeleteCertificate(status="Accepted" if n else "NotFound")

    @on("GetInstalledCertificateIds")
    def on_get_installed_certificate_ids(self, certificate_type=None, **_):
        store = self._certificates
        uses = [u for u in (certificate_type or USES) if u in USES]
        ids = [] if store is None or (certificate_type and not uses) else store.ids(uses)
        if not ids:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        chain = [{"certificate_type": use, "certificate_hash_data": {
            "hash_algorithm": c.hash_algorithm, "issuer_name_hash": c.issuer_name_hash,
            "issuer_key_hash": c.issuer_key_hash, "serial_number": c.serial_number}}
            for use, c in ids]
        return call_result.GetInstalledCertificateIds(status="Accepted",
                                                      certificate_hash_data_chain=chain)
