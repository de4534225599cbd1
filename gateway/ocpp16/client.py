"""The station's OCPP 1.6J connection: websockets client (subprotocol "ocpp1.6") to
CSMS_URL/STATION_ID, kept up with backoff. Per connection: BootNotification until Accepted
(Pending/Rejected: again after the interval), then StatusNotification of connector 0 and of
every connector, Heartbeat at the interval, StatusNotification on every change, and the
durable outbound queue sent in order (tx_start -> Authorize + StartTransaction, tx_stop ->
StopTransaction, meter_values -> MeterValues with the transactionId), each message until the
CSMS answered it. The configuration keys (gateway/config16.py) and the MeterValues sampler
(gateway/ocpp16/meter_values.py) live as long as the client, across connections."""

import asyncio
import logging
import time

import websockets
from ocpp.exceptions import OCPPError
from ocpp.v16 import call
from ocpp.v16.enums import RegistrationStatus

from gateway.config16 import Config16
from gateway.link import Backoff
from gateway.ocpp16.charge_point import StationChargePoint, iso, status_call
from gateway.ocpp16.configuration import feature_profiles
from gateway.ocpp16.meter_values import MeterSampler
from gateway.station import ConnectorStatus

log = logging.getLogger(__name__)

DEFAULT_RETRY_S = 10  # a Pending / Rejected answer with interval 0


def _begin_key(connector_id, key):
    """Store metadata: [meterStart, unix s] of a started transaction (transactionData)."""
    return "txbegin:%d:%d" % (connector_id, key)


class Ocpp16Client:
    def __init__(self, csms_url, station_id, station, vendor="smartevse-ref",
                 model="gateway", firmware_version=None, backoff=None, config=None):
        self.url = csms_url.rstrip("/") + "/" + station_id
        self.station_id = station_id
        self.station = station
        self.vendor, self.model, self.firmware_version = vendor, model, firmware_version
        self.backoff = backoff or Backoff(0.5, 30.0)
        self.config = config or Config16(station.store, len(station.connector_ids),
                                         feature_profiles(StationChargePoint))
        self.sampler = MeterSampler(station, self.config, self._send_meter_values_now)
        station.remote_start_timeout_s = self.config.number("ConnectionTimeOut")
        self.config.on_change(self._config_changed)
        self.cp = None
        self.accepted = False
        self._status_dirty = set()
        self._status_event = asyncio.Event()
        station.on_status(self._status_changed)

    def _config_changed(self, key, value):
        if key == "ConnectionTimeOut":
            self.station.remote_start_timeout_s = int(value)

    def _status_changed(self, connector_id, st):
        self._status_dirty.add(connector_id)
        self._status_event.set()

    async def run(self):
        """Forever: connect, serve, reconnect after the backoff (MeterValues are sampled
        all along)."""
        sampler = asyncio.create_task(self.sampler.run())
        try:
            await self._connect_forever()
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)

    async def _connect_forever(self):
        while True:
            try:
                async with websockets.connect(self.url, subprotocols=["ocpp1.6"],
                                              open_timeout=10, ping_interval=30) as ws:
                    self.backoff.reset()
                    log.info("connected to %s", self.url)
                    await self._serve(ws)
            except (TimeoutError, OSError, websockets.WebSocketException) as e:
                log.warning("CSMS connection: %s", e or type(e).__name__)
            except OCPPError as e:
                log.warning("CSMS refused a station message: %s", e)
            finally:
                self.cp, self.accepted = None, False
            delay = self.backoff.next()
            log.info("reconnecting in %.1f s", delay)
            await asyncio.sleep(delay)

    async def _serve(self, ws):
        cp = StationChargePoint(self.station_id, ws, self.station)
        cp.config = self.config
        self.cp = cp
        receiver = asyncio.create_task(cp.start())
        worker = asyncio.create_task(self._session(cp))
        try:
            done, _ = await asyncio.wait({receiver, worker}, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                t.result()  # raises what ended it (the connection closed)
        finally:
            for t in (receiver, worker):
                t.cancel()
            await asyncio.gather(receiver, worker, return_exceptions=True)

    async def _session(self, cp):
        await self._boot(cp)
        self._status_dirty.update((0,) + self.station.connector_ids)
        self._status_event.set()
        await asyncio.gather(self._heartbeats(cp), self._statuses(cp), self._sender(cp))

    async def _boot(self, cp):
        while True:
            r = await cp.call(call.BootNotification(
                charge_point_model=self.model, charge_point_vendor=self.vendor,
                firmware_version=self.firmware_version), suppress=False)
            interval = int(r.interval)  # may arrive as Decimal (DESIGN §8)
            log.info("BootNotification: %s, interval %d s", r.status, interval)
            if r.status == RegistrationStatus.accepted:
                if interval > 0:
                    await self.station.store.aio(self.config.set, "HeartbeatInterval",
                                                 str(interval))
                self.accepted = True
                return
            await asyncio.sleep(interval if interval > 0 else DEFAULT_RETRY_S)

    async def _heartbeats(self, cp):
        last = time.monotonic()
        while True:  # HeartbeatInterval is read every second: a change is effective at once
            await asyncio.sleep(1)
            interval = self.config.number("HeartbeatInterval")
            if interval > 0 and time.monotonic() - last >= interval:
                last = time.monotonic()
                await cp.call(call.Heartbeat())

    async def _statuses(self, cp):
        while True:
            await self._status_event.wait()
            self._status_event.clear()
            while self._status_dirty:
                cid = min(self._status_dirty)
                self._status_dirty.discard(cid)
                st = self._connector0() if cid == 0 else self.station.status(cid)
                if st is not None:
                    await cp.call(status_call(cid, st, time.time()))

    def _connector0(self):
        return ConnectorStatus("Available")  # connector 0: the station itself

    # --- the durable queue ---------------------------------------------------------------

    async def _sender(self, cp):
        store = self.station.store
        while True:
            msgs = await store.aio(store.peek)
            if not msgs:
                self.station.queue_changed.clear()
                if not await store.aio(store.peek):
                    await self.station.queue_changed.wait()
                continue
            m = msgs[0]
            attempts = await store.aio(store.record_attempt, m.id)
            try:
                sent = await self._send_queued(cp, m)
            except OCPPError as e:  # the CSMS refused it: retry, then give it up
                log.warning("%s %d refused (%d): %s", m.action, m.id, attempts, e)
                if attempts >= self.config.number("TransactionMessageAttempts"):
                    await store.aio(store.discard, m.id, "CallError: %s" % e)
                else:
                    await asyncio.sleep(
                        self.config.number("TransactionMessageRetryInterval") * attempts)
                continue
            if sent:
                await store.aio(store.mark_sent, m.id)

    async def _send_queued(self, cp, m):
        p = m.payload
        cid = p["connector_id"]
        if m.action == "tx_start":
            if m.attempts == 0:  # first try: authorise the idTag (the result is logged)
                a = await cp.call(call.Authorize(id_tag=p["id_tag"]), suppress=False)
                log.info("Authorize %s: %s", p["id_tag"], a.id_tag_info.get("status"))
            r = await cp.call(call.StartTransaction(
                connector_id=cid, id_tag=p["id_tag"], meter_start=int(p["meter_start_wh"]),
                timestamp=iso(p["unix_s"])), suppress=False)
            tx_id = int(r.transaction_id)
            await self.station.store.aio(self.station.set_transaction_id, cid, p["key"], tx_id)
            await self.station.store.aio(self.station.store.set_meta, _begin_key(cid, p["key"]),
                                         [int(p["meter_start_wh"]), p["unix_s"]])
            log.info("StartTransaction connector %d: transaction %d (%s)", cid, tx_id,
                     r.id_tag_info.get("status"))
        elif m.action == "tx_stop":
            tx_id = self.station.transaction_id(cid, p["key"])
            if tx_id is None:
                await self.station.store.aio(self.station.store.discard, m.id,
                                             "no transactionId for its StartTransaction")
                return False
            await cp.call(call.StopTransaction(
                meter_stop=int(p["meter_stop_wh"]), timestamp=iso(p["unix_s"]),
                transaction_id=tx_id, reason=p["reason"], id_tag=p["id_tag"],
                transaction_data=self._stop_txn_data(p)), suppress=False)
        elif m.action == "meter_values":
            tx_id = self.station.transaction_id(cid, p["key"])
            if tx_id is None:
                await self.station.store.aio(self.station.store.discard, m.id,
                                             "no transactionId for its StartTransaction")
                return False
            await cp.call(call.MeterValues(connector_id=cid, meter_value=p["meter_value"],
                                           transaction_id=tx_id), suppress=False)
        else:
            await self.station.store.aio(self.station.store.discard, m.id, "unknown action")
            return False
        return True

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
