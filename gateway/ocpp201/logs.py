"""OCPP 2.0.1 GetLog (N01) and the security events of the station (A04): a ChargePoint mixin
over the version-neutral gateway/log_upload.py (needs self.client.log_uploads)."""

import logging

from ocpp.routing import after, on
from ocpp.v201 import call, call_result

from gateway.log_upload import request_refusal

log = logging.getLogger(__name__)

class LogHandlers:
    @on("GetLog")
    def on_get_log(self, log, log_type, request_id, retries=None, retry_interval=None, **_):
        refusal = request_refusal(log, log_type)
        if refusal:
            return call_result.GetLog(status="Rejected", status_info={
                "reason_code": refusal[0], "additional_info": refusal[1][:512]})
        self._log_name = self.client.log_uploads.name(log_type)
        return call_result.GetLog(status="AcceptedCanceled" if self.client.log_uploads.busy
                                  else "Accepted", filename=self._log_name)

    @after("GetLog")
    async def after_get_log(self, log, log_type, request_id, retries=None, retry_interval=None,
                            **_):
        if request_refusal(log, log_type):
            return
        client = self.client

        async def notify(status):
            cp = client.cp
            if cp is not None:  # N01.FR.?: a status the CSMS cannot get is dropped
                await cp.call(call.LogStatusNotification(status=status, request_id=request_id))

        client.log_uploads.start({"log": log, "log_type": log_type, "request_id": request_id,
                                  "retries": retries, "retry_interval": retry_interval,
                                  "filename": self._log_name}, notify)
