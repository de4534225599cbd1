"""The station's OCPP 1.6J connection: websockets client (subprotocol "ocpp1.6") to
CSMS_URL/STATION_ID, kept up with backoff. Per connection: BootNotification until Accepted
(Pending/Rejected: again after the interval), then StatusNotification of connector 0 and of
every connector, Heartbeat at the interval, StatusNotification on every change, and the
durable outbound queue sent in order (tx_start -> Authorize + StartTransaction, tx_stop ->
StopTransaction), each message until the CSMS answered it."""

import asyncio
import logging
import time

import websockets
from ocpp.exceptions import OCPPError
from ocpp.v16 import call
from ocpp.v16.enums import RegistrationStatus

from gateway.link import Backoff
from gateway.ocpp16.charge_point import StationChargePoint, iso, status_call
from gateway.station import ConnectorStatus

log = logging.getLogger(__name__)

DEFAULT_RETRY_S = 10  # a Pending / Rejected answer with interval 0
TX_ATTEMPTS = 3  # TransactionMessageAttempts: CallErrors before a message is given up
TX_RETRY_S = 10  # TransactionMessageRetryInterval (x attempt number)


class Ocpp16Client:
    def __init__(self, csms_url, station_id, station, vendor="smartevse-ref",
                 model="gateway", firmware_version=None, backoff=None,
                 tx_attempts=TX_ATTEMPTS, tx_retry_s=TX_RETRY_S):
        self.url = csms_url.rstrip("/") + "/" + station_id
        self.station_id = station_id
        self.station = station
        self.vendor, self.model, self.firmware_version = vendor, model, firmware_version
        self.backoff = backoff or Backoff(0.5, 30.0)
        self.tx_attempts, self.tx_retry_s = tx_attempts, tx_retry_s
        self.cp = None
        self.accepted = False
        self.heartbeat_s = 300
        self._status_dirty = set()
        self._status_event = asyncio.Event()
        station.on_status(self._status_changed)

    def _status_changed(self, connector_id, st):
        self._status_dirty.add(connector_id)
        self._status_event.set()

    async def run(self):
        """Forever: connect, serve, reconnect after the backoff."""
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
                self.heartbeat_s = interval if interval > 0 else self.heartbeat_s
                self.accepted = True
                return
            await asyncio.sleep(interval if interval > 0 else DEFAULT_RETRY_S)

    async def _heartbeats(self, cp):
        while True:
            await asyncio.sleep(self.heartbeat_s)
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
                if attempts >= self.tx_attempts:
                    await store.aio(store.discard, m.id, "CallError: %s" % e)
                else:
                    await asyncio.sleep(self.tx_retry_s * attempts)
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
                transaction_id=tx_id, reason=p["reason"], id_tag=p["id_tag"]), suppress=False)
        else:
            await self.station.store.aio(self.station.store.discard, m.id, "unknown action")
            return False
        return True
