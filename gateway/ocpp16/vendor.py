"""OCPP 1.6 DataTransfer (§4.3 station -> CSMS, §5.6 CSMS -> station) under our vendorId
(gateway/ocpp16/pdus.py VENDOR_ID; the messages are listed in docs/ocpp.md).

- To the CSMS: the notices of gateway/notices.py (failsafe, randomised delay, manual
  override, meter faults: what the firmware decides on its own), taken from the durable queue
  in order: messageId = the notice's kind, data = a JSON object with connectorId and
  timestamp added. The CSMS's answer is logged; a CallError (a CSMS without DataTransfer) is
  logged too and the notice is done: a notice never holds a transaction message back.
- From the CSMS: "GetEvseState" {"connectorId": N} -> Accepted with the EVSE's state as JSON
  data; another messageId of ours -> UnknownMessageId; bad data or an unknown connector ->
  Rejected; another vendorId -> UnknownVendorId."""

import json
import logging

from ocpp.exceptions import OCPPError
from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action, DataTransferStatus

from gateway.ocpp16.pdus import VENDOR_ID, iso

log = logging.getLogger(__name__)


def _json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


async def send_notice(cp, p):
    """One queued notice as a DataTransfer; True once the CSMS answered (a CallError too)."""
    data = dict(p["data"], connectorId=p["connector_id"], timestamp=iso(p["unix_s"]))
    try:
        r = await cp.call(call.DataTransfer(vendor_id=VENDOR_ID, message_id=p["kind"],
                                            data=_json(data)), suppress=False)
    except OCPPError as e:
        log.warning("DataTransfer %s refused by the CSMS: %s", p["kind"], e)
        return True
    log.info("DataTransfer %s %s: %s", p["kind"], _json(data), r.status)
    return True


class DataTransferHandlers:
    """ChargePoint mixin; needs self.station."""

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id, message_id=None, data=None):
        if vendor_id != VENDOR_ID:
            return call_result.DataTransfer(status=DataTransferStatus.unknown_vendor_id)
        handler = {"GetEvseState": self._evse_state}.get(message_id)
        if handler is None:
            return call_result.DataTransfer(status=DataTransferStatus.unknown_message_id)
        try:
            request = json.loads(data) if data else {}
            answer = handler(request) if isinstance(request, dict) else None
        except ValueError:
            answer = None
        if answer is None:
            log.warning("DataTransfer %s rejected: data %r", message_id, data)
            return call_result.DataTransfer(status=DataTransferStatus.rejected)
        return call_result.DataTransfer(status=DataTransferStatus.accepted, data=_json(answer))

    def _evse_state(self, request):
        """{"connectorId": N} -> the firmware's own decisions (Station.evse_state), or None
        for an unknown connector."""
        cid = request.get("connectorId")
        if type(cid) is not int or cid not in self.station.connector_ids:
            return None
        return dict(self.station.evse_state(cid), connectorId=cid)
