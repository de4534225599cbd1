"""OCPP 1.6 security whitepaper "Get Security Log" (GetLog / LogStatusNotification), a
ChargePoint mixin over the version-neutral gateway/log_upload.py (needs self.log_uploads,
set by the client)."""

from ocpp.routing import after, on
from ocpp.v16 import call, call_result

from gateway.log_upload import request_refusal


class LogHandlers:
    @on("GetLog")
    def on_get_log(self, log, log_type, request_id, retries=None, retry_interval=None):
        if request_refusal(log, log_type):
            return call_result.GetLog(status="Rejected")
        self._log_name = self.log_uploads.name(log_type)
        return call_result.GetLog(status="AcceptedCanceled" if self.log_uploads.busy
                                  else "Accepted", filename=self._log_name)

    @after("GetLog")
    async def after_get_log(self, log, log_type, request_id, retries=None, retry_interval=None):
        if request_refusal(log, log_type):
            return

        async def notify(status):
            await self.call(call.LogStatusNotification(status=status, request_id=request_id))

        self.log_uploads.start({"log": log, "log_type": log_type, "request_id": request_id,
                                "retries": retries, "retry_interval": retry_interval,
                                "filename": self._log_name}, notify)
