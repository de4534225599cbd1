"""The station's OCPP 1.6J connection: websockets client (subprotocol "ocpp1.6") to
CSMS_URL/STATION_ID, kept up with backoff. Per connection: BootNotification until Accepted
(Pending/Rejected: again after the interval), then StatusNotification of connector 0 and of
every connector, Heartbeat at the interval, StatusNotification on every change, and the
durable outbound queue sent in order (tx_start -> Authorize + StartTransaction, tx_stop ->
StopTransaction, meter_values -> MeterValues with the transactionId), each message until the
CSMS answered it (gateway/csms_connection.py), a message a kill -9 left in flight resolved
at the next start by `recovered` (docs/ocpp.md "Exactly once and kill -9").
The configuration keys (gateway/config16.py) and the MeterValues sampler
(gateway/ocpp16/meter_values.py) live as long as the client, across connections."""

import asyncio
import logging
import time

import websockets
from ocpp.exceptions import OCPPError
from ocpp.v16 import call
from ocpp.v16.enums import RegistrationStatus

from gateway.config16 import Config16
from gateway.csms_connection import CsmsConnection, QueueHooks
from gateway.firmware_update import ACTION as FIRMWARE_ACTION
from gateway.link import Backoff
from gateway.log_upload import LogUploads
from gateway.ocpp16.charge_point import StationChargePoint, iso, status_call
from gateway.ocpp16.configuration import feature_profiles
from gateway.ocpp16.firmware import send_firmware_message
from gateway.ocpp16.meter_values import MeterSampler
from gateway.ocpp16.vendor import send_notice
from gateway.station import ConnectorStatus

log = logging.getLogger(__name__)

DEFAULT_RETRY_S = 10  # a Pending / Rejected answer with interval 0

# Queued messages whose CSMS answer carries nothing the station needs: one whose frame was
# written to a healthy connection before a kill counts as delivered. A StartTransaction's
# answer carries the transactionId: one in that state is kept if its answer had arrived
# (the answer mark), else it has to go again.
DELIVERED_WHEN_WRITTEN = frozenset(("tx_stop", "meter_values"))


def _begin_key(connector_id, key):
    """Store metadata: [meterStart, unix s] of a started transaction (transactionData)."""
    return "txbegin:%d:%d" % (connector_id, key)


class QueueChargePoint(QueueHooks, StationChargePoint):
    pass


class Ocpp16Client(CsmsConnection):
    SUBPROTOCOL = "ocpp1.6"

    def __init__(self, csms_url, station_id, station, vendor="smartevse-ref",
                 model="gateway", firmware_version=None, backoff=None, config=None,
                 security_profile=0, connect_kwargs=None):
        super().__init__(csms_url.rstrip("/") + "/" + station_id, station,
                         backoff or Backoff(0.5, 30.0), connect_kwargs)
        self.station_id = station_id
        self.vendor, self.model, self.firmware_version = vendor, model, firmware_version
        self.config = config or Config16(station.store, len(station.connector_ids),
                                         feature_profiles(StationChargePoint),
                                         security_profile=security_profile)
        self.sampler = MeterSampler(station, self.config, self._send_meter_values_now)
        self.log_uploads = LogUploads(station, station.security_log, station_id, time.time)
        self.signing = None  # gateway.station_certificate.CertificateSigning, set by cli.py
        station.remote_start_timeout_s = self.config.number("ConnectionTimeOut")
        self.config.on_change(self._config_changed)
        station.on_status(self.status_changed)

    def _config_changed(self, key, value):
        if key == "ConnectionTimeOut":
            self.station.remote_start_timeout_s = int(value)

    async def run(self):
        """Forever: connect, serve, reconnect after the backoff (MeterValues are sampled
        all along)."""
        sampler = asyncio.create_task(self.sampler.run())
        try:
            await super().run()
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)

    def make_charge_point(self, ws):
        cp = QueueChargePoint(self.station_id, ws, self.station)
        cp.config = self.config
        cp.boot_notification = self._boot_notification  # TriggerMessage BootNotification
        cp.log_uploads = self.log_uploads  # GetLog (gateway/ocpp16/logs.py)
        cp.signing = self.signing  # CertificateSigned (gateway/ocpp16/sign_certificate.py)
        return cp

    def message_attempts(self):
        return self.config.number("TransactionMessageAttempts")

    def attempt_interval_s(self):
        return self.config.number("TransactionMessageRetryInterval")

    async def session(self, cp):
        await self._boot(cp)
        for cid in (0,) + self.station.connector_ids:
            self.status_changed(cid)
        await asyncio.gather(self.heartbeats(cp), self.statuses(cp), self.sender(cp))

    def _boot_notification(self):
        return call.BootNotification(charge_point_model=self.model,
                                     charge_point_vendor=self.vendor,
                                     firmware_version=self.firmware_version)

    async def _boot(self, cp):
        while True:
            r = await cp.call(self._boot_notification(), suppress=False)
            interval = int(r.interval)  # may arrive as Decimal (DESIGN §8)
            log.info("BootNotification: %s, interval %d s", r.status, interval)
            if r.status == RegistrationStatus.accepted:
                if interval > 0:
                    await self.station.store.aio(self.config.set, "HeartbeatInterval",
                                                 str(interval))
                self.accepted = True
                return
            await asyncio.sleep(interval if interval > 0 else DEFAULT_RETRY_S)

    def heartbeat_interval_s(self):
        return self.config.number("HeartbeatInterval")

    def heartbeat_call(self):
        return call.Heartbeat()

    def status_message(self, cid):
        st = self._connector0() if cid == 0 else self.station.status(cid)
        return None if st is None else status_call(cid, st, time.time())

    def _connector0(self):
        return ConnectorStatus("Available")  # connector 0: the station itself

    # --- the durable queue ---------------------------------------------------------------

    async def recovered(self, m):
        """Written to the socket: a MeterValues or StopTransaction counts as delivered; a
        StartTransaction whose answer had arrived is kept with its transactionId, one
        without goes again (the CSMS may now hold a transaction that is never stopped:
        OCPP 1.6 cannot tell). Not written: it goes again (it may have left in the instant
        before the mark; then the CSMS sees it twice)."""
        store = self.station.store
        tx_id = (m.answer or {}).get("transactionId")
        if m.written and m.action in DELIVERED_WHEN_WRITTEN:
            await store.aio(store.complete, m.id, None,
                            "written before a restart, no answer: taken as delivered")
            return "taken as delivered"
        if m.action == "tx_start" and isinstance(tx_id, int):
            status = (m.answer.get("idTagInfo") or {}).get("status")
            await store.aio(store.complete, m.id, self._started(m, tx_id, status),
                            "answered before a restart")
            self.station.transactions_changed()
            return "answered: transaction %d kept" % tx_id
        if m.written:
            return "sent again: the CSMS may hold a transaction for it that never stops"
        return "sent again: if its frame had left, the CSMS sees it twice"

    def _started(self, m, tx_id, status):
        """The metadata the transactionId of a tx_start sets (committed with complete), and
        with an idTagInfo status not Accepted what the transaction does then (OCPP 1.6
        §4.8: StopTransactionOnInvalidId, MaxEnergyOnInvalidId; gateway/invalid_id.py)."""
        p = m.payload
        cid, key = p["connector_id"], p["key"]
        meta = self.station.transaction_meta(cid, key, tx_id)
        meta[_begin_key(cid, key)] = [int(p["meter_start_wh"]), p["unix_s"]]
        if status not in (None, "Accepted"):
            self.station.invalid_id.add_decision(
                meta, cid, key, status, self.config.value("StopTransactionOnInvalidId") == "true",
                self.config.number("MaxEnergyOnInvalidId"))
        return meta

    async def send_queued(self, cp, m):
        """-> (answered, meta to commit with it); (False, None) when it was discarded."""
        store = self.station.store
        p = m.payload
        if m.action == "security_event":  # security whitepaper (gateway/security_log.py)
            if self.config.number("SecurityProfile") == 0:
                return True, None  # a plain 1.6 CSMS has no such message: only logged
            return await self.send_security_event(cp, p, call.SecurityEventNotification), None
        if m.action == FIRMWARE_ACTION:  # the signed update job (gateway/ocpp16/firmware.py)
            return await send_firmware_message(cp, p), None
        cid = p["connector_id"]
        if m.action == "tx_start":
            if m.attempts == 0:  # first try: authorise the idTag (the result is logged)
                a = await cp.call(call.Authorize(id_tag=p["id_tag"]), suppress=False)
                log.info("Authorize %s: %s", p["id_tag"], a.id_tag_info.get("status"))
            r = await self.call_tracked(cp, m, call.StartTransaction(
                connector_id=cid, id_tag=p["id_tag"], meter_start=int(p["meter_start_wh"]),
                timestamp=iso(p["unix_s"])), keep_answer=True)
            tx_id = int(r.transaction_id)
            status = r.id_tag_info.get("status")
            log.info("StartTransaction connector %d: transaction %d (%s)", cid, tx_id, status)
            return True, self._started(m, tx_id, status)
        if m.action == "notice":  # what the firmware decided: DataTransfer (vendor.py)
            return await send_notice(cp, p), None
        if m.action not in ("tx_stop", "meter_values"):
            await store.aio(store.discard, m.id, "unknown action")
            return False, None
        tx_id = self.station.transaction_id(cid, p["key"])
        if tx_id is None:
            await store.aio(store.discard, m.id, "no transactionId for its StartTransaction")
            return False, None
        if m.action == "tx_stop":
            await self.call_tracked(cp, m, call.StopTransaction(
                meter_stop=int(p["meter_stop_wh"]), timestamp=iso(p["unix_s"]),
                transaction_id=tx_id, reason=p["reason"], id_tag=p["id_tag"],
                transaction_data=self._stop_txn_data(p)))
        else:
            await self.call_tracked(cp, m, call.MeterValues(
                connector_id=cid, meter_value=p["meter_value"], transaction_id=tx_id))
        return True, None

    def _stop_txn_data(self, p):
        """StopTransaction transactionData (StopTxnSampledData): the import register at the
        begin and the end of the transaction, the two readings the firmware records."""
        if "Energy.Active.Import.Register" not in self.config.csl("StopTxnSampledData"):
            return None
        begin = self.station.store.get_meta(_begin_key(p["connector_id"], p["key"]))
        values = [] if begin is None else [(begin[0], "Transaction.Begin", begin[1])]
        values.append((p["meter_stop_wh"], "Transaction.End", p["unix_s"]))
        return [{"timestamp": iso(unix_s),
                 "sampled_value": [{"value": str(int(wh)), "context": context,
                                    "measurand": "Energy.Active.Import.Register",
                                    "location": "Outlet", "unit": "Wh"}]}
                for wh, context, unix_s in values]

    async def _send_meter_values_now(self, connector_id, meter_value):
        """A MeterValues outside a transaction (clock-aligned): sent if connected."""
        cp = self.cp
        if cp is None or not self.accepted:
            return False
        try:
            await cp.call(call.MeterValues(connector_id=connector_id,
                                           meter_value=[meter_value]))
        except (OCPPError, websockets.WebSocketException, TimeoutError) as e:
            log.warning("MeterValues connector %d: %s", connector_id, e)
            return False
        return True
