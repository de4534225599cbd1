"""OCPP 1.6 security whitepaper certificate management of the station's roots
(InstallCertificate, DeleteCertificate, GetInstalledCertificateIds) on gateway/certificates.py;
CentralSystemRootCertificate is kept as the 2.0.1 CSMSRootCertificate."""

import logging

from ocpp.routing import on
from ocpp.v16 import call_result

from gateway.certificates import CertificateError, CertificateId

log = logging.getLogger(__name__)


class CertificateHandlers:
    """ChargePoint mixin; needs self.station.firmware.certificates (CertificateStore)."""

    @property
    def _certificates(self):
        fw = getattr(self.station, "firmware", None)
        return None if fw is None else fw.certificates

    @on("InstallCertificate")
    def on_install_certificate(self, certificate_type, certificate):
        store = self._certificates
        if store is None:
            return call_result.InstallCertificate(status="Failed")
        try:
            store.install(certificate_type, certificate)
        except CertificateError as e:
            log.warning("InstallCertificate %s refused: %s", certificate_type, e)
            return call_result.InstallCertificate(status="Rejected")
        except OSError:
            return call_result.InstallCertificate(status="Failed")
        return call_result.InstallCertificate(status="Accepted")

    @on("DeleteCertificate")
    def on_delete_certificate(self, certificate_hash_data):
        store = self._certificates
        if store is None:
            return call_result.DeleteCertificate(status="Failed")
        try:
            n = store.delete(CertificateId.from_ocpp(certificate_hash_data))
        except OSError:
            return call_result.DeleteCertificate(status="Failed")
        return call_result.DeleteCertificate(status="Accepted" if n else "NotFound")

    @on("GetInstalledCertificateIds")
    def on_get_installed_certificate_ids(self, certificate_type):
        store = self._certificates
        ids = [] if store is None else store.ids([certificate_type])
        if not ids:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(status="Accepted", certificate_hash_data=[
            {"hash_algorithm": c.hash_algorithm, "issuer_name_hash": c.issuer_name_hash,
             "issuer_key_hash": c.issuer_key_hash, "serial_number": c.serial_number}
            for _, c in ids])
