"""OCPP 1.6 TriggerMessage (§5.17, feature profile RemoteTrigger): the answer first, then the
message (`@after`). connectorId: an unknown one is Rejected; none means every connector (and
connector 0 for StatusNotification).

| requestedMessage | sent |
| --- | --- |
| BootNotification | BootNotification (an Accepted interval becomes HeartbeatInterval) |
| Heartbeat | Heartbeat |
| StatusNotification | the connector's current status (none: connector 0 and every connector) |
| MeterValues | MeterValuesSampledData of the latest TELEMETRY, context Trigger, with the |
| | transactionId while one runs; connector 0: NotImplemented (no station meter) |
| DiagnosticsStatusNotification | status Idle (the station uploads no diagnostics) |
| FirmwareStatusNotification | the signed update's status in the core names, Idle when none runs |
"""

import asyncio
import logging
import time

from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import (
    Action,
    DiagnosticsStatus,
    MessageTrigger,
    RegistrationStatus,
    TriggerMessageStatus,
)

from gateway.ocpp16.firmware import core_firmware_status
from gateway.ocpp16.meter_values import sampled_values
from gateway.ocpp16.pdus import iso, status_call
from gateway.station import ConnectorStatus

log = logging.getLogger(__name__)
SYNC_WAIT_S = 2  # a triggered MeterValues waits at most this for the record replay to end

# requestedMessage -> the mixin's method that sends it: fn(connector ids)
SENDERS = {
    MessageTrigger.boot_notification: "_send_boot_notification",
    MessageTrigger.heartbeat: "_send_heartbeat",
    MessageTrigger.status_notification: "_send_status_notifications",
    MessageTrigger.meter_values: "_send_meter_values",
    MessageTrigger.diagnostics_status_notification: "_send_diagnostics_status",
    MessageTrigger.firmware_status_notification: "_send_firmware_status",
}


class TriggerMessageHandlers:
    """ChargePoint mixin; needs self.station, self.config and self.boot_notification (a
    function -> the station's call.BootNotification, set by the client)."""

    def _trigger(self, requested_message, connector_id):
        """-> (status, connector ids the message is for)."""
        if requested_message not in SENDERS:
            return TriggerMessageStatus.not_implemented, ()
        ids = self.station.connector_ids
        if connector_id is None:
            if requested_message == MessageTrigger.status_notification:
                ids = (0,) + ids
            return TriggerMessageStatus.accepted, ids
        cid = int(connector_id)  # 1.6 numbers arrive as int or Decimal (DESIGN §8)
        if cid == 0:
            if requested_message == MessageTrigger.meter_values:
                return TriggerMessageStatus.not_implemented, ()  # no station-wide meter
            return TriggerMessageStatus.accepted, (0,)
        if cid not in ids:
            return TriggerMessageStatus.rejected, ()
        return TriggerMessageStatus.accepted, (cid,)

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message, connector_id=None):
        status, _ = self._trigger(requested_message, connector_id)
        if status != TriggerMessageStatus.accepted:
            log.info("TriggerMessage %s (connector %s): %s", requested_message, connector_id,
                     status)
        return call_result.TriggerMessage(status=status)

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message, connector_id=None):
        status, cids = self._trigger(requested_message, connector_id)
        if status == TriggerMessageStatus.accepted:
            await getattr(self, SENDERS[requested_message])(cids)

    # --- the messages --------------------------------------------------------------------

    async def _send_boot_notification(self, cids):
        r = await self.call(self.boot_notification())
        if r is not None and r.status == RegistrationStatus.accepted and int(r.interval) > 0:
            await self.station.store.aio(self.config.set, "HeartbeatInterval",
                                         str(int(r.interval)))

    async def _send_heartbeat(self, cids):
        await self.call(call.Heartbeat())

    async def _send_status_notifications(self, cids):
        for cid in cids:
            st = ConnectorStatus("Available") if cid == 0 else self.station.status(cid)
            if st is not None:
                await self.call(status_call(cid, st, time.time()))

    async def _send_meter_values(self, cids):
        for cid in cids:
            # not while the firmware replays its stored records: the reading may belong to
            # a later session than the transaction the station still knows (docs/ocpp.md)
            for _ in range(int(SYNC_WAIT_S / 0.05)):
                if self.station.records_synced(cid):
                    break
                await asyncio.sleep(0.05)
            mv = self._trigger_meter_value(cid)
            if mv is None:
                log.info("TriggerMessage MeterValues: connector %d has no reading now", cid)
                continue
            s = self.station.session(cid)
            tx_id = None
            if s and s.get("authorized"):
                tx_id = self.station.transaction_id(cid, s["key"])
            await self.call(call.MeterValues(connector_id=cid, meter_value=[mv],
                                             transaction_id=tx_id))

    def _trigger_meter_value(self, cid):
        ln = self.station.links[cid]
        t = ln.telemetry
        if t is None or not ln.online or not self.station.records_synced(cid):
            return None
        phases = ln.peer.phases if ln.peer is not None and 1 <= ln.peer.phases <= 3 else 3
        values = sampled_values(t, self.config.csl("MeterValuesSampledData"), "Trigger",
                                phases)
        return {"timestamp": iso(int(time.time())), "sampled_value": values} if values else None

    async def _send_diagnostics_status(self, cids):
        await self.call(call.DiagnosticsStatusNotification(status=DiagnosticsStatus.idle))

    async def _send_firmware_status(self, cids):
        await self.call(call.FirmwareStatusNotification(status=core_firmware_status(self.station)))
