"""The station's connection to its CSMS, for either OCPP version (docs/ocpp.md): the
websockets client kept up with backoff, and the durable outbound queue sent in order, each
message until the CSMS answered it, with its send state stored around the write so that a
kill -9 at any moment is resolved at the next start (docs/ocpp.md "Exactly once and kill -9").

A version adapter (gateway/ocpp16/client.py, gateway/ocpp201/client.py) subclasses
`CsmsConnection` and gives: `SUBPROTOCOL`, `make_charge_point(ws)`, `session(cp)` (boot,
heartbeats, statuses, `sender(cp)`), `send_queued(cp, m)`, `recovered(m)` and
`message_attempts()` / `attempt_interval_s()` (and may give `discarded_meta(m)`); its
ChargePoint class mixes in `QueueHooks`."""

import asyncio
import json
import logging
import time
import uuid

import websockets
from ocpp.exceptions import OCPPError

from gateway.security_log import connection_failure

log = logging.getLogger(__name__)


def reason(e):
    """Why a connection failed, with the TLS cause a websockets error wraps (a TLS alert
    such as "certificate required" surfaces as "no valid HTTP response")."""
    text = "%s: %s" % (type(e).__name__, e) if str(e) else type(e).__name__
    cause = e.__cause__ or e.__context__
    return text if cause is None else "%s (%s)" % (text, reason(cause))


class QueueHooks:
    """ChargePoint mixin that tells the durable queue the moment a queued message's frame is
    in the socket (`written_hooks`: unique id -> fn()) and the moment its answer arrived,
    before the library validates it (`answer_hooks`: unique id -> fn(payload))."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.written_hooks = {}
        self.answer_hooks = {}

    async def route_message(self, raw_msg):
        if self.answer_hooks:
            try:
                msg = json.loads(raw_msg)
            except ValueError:
                msg = None
            if isinstance(msg, list) and len(msg) == 3 and msg[0] == 3:  # CALLRESULT
                hook = self.answer_hooks.pop(msg[1], None)
                if hook is not None:
                    hook(msg[2])
        await super().route_message(raw_msg)

    async def _send(self, message):
        await super()._send(message)
        if self.written_hooks:
            hook = self.written_hooks.pop(json.loads(message)[1], None)
            transport = getattr(self._connection, "transport", None)
            if hook is not None and (transport is None
                                     or transport.get_write_buffer_size() == 0):
                hook()  # else part of it is still in this process: not written


class CsmsConnection:
    SUBPROTOCOL = None

    def __init__(self, url, station, backoff, connect_kwargs=None):
        self.url = url
        self.station = station
        self.backoff = backoff
        self.connect_kwargs = connect_kwargs or {}  # security profile (gateway/security.py)
        self.cp = None
        self.accepted = False
        self._status_dirty = set()  # connectors whose status is to be told (statuses())
        self._status_event = asyncio.Event()
        self._failure = None  # the security event of the failing connections, logged once

    # --- what the adapter gives -----------------------------------------------------------

    def make_charge_point(self, ws):
        raise NotImplementedError

    async def session(self, cp):
        raise NotImplementedError

    async def send_queued(self, cp, m):
        """-> (answered, meta to commit with it); (False, None) when it was discarded."""
        raise NotImplementedError

    async def recovered(self, m):
        """A message a killed gateway left in flight (store.in_flight): complete it and
        return what was done, or return the text of why it goes again."""
        raise NotImplementedError

    def message_attempts(self):
        raise NotImplementedError

    def attempt_interval_s(self):
        raise NotImplementedError

    def discarded_meta(self, m):
        """What giving up message m after its CallErrors changes in the store (committed
        with the discard), or None."""
        return None

    def connected(self, up):
        """Called when the CSMS accepted the station (True) and when the connection ends."""

    def heartbeat_interval_s(self):
        raise NotImplementedError

    def heartbeat_call(self):
        raise NotImplementedError

    def status_message(self, cid):
        """The StatusNotification of connector / EVSE cid to send now, or None."""
        raise NotImplementedError

    def status_sent(self, cid):
        """The status_message of cid was answered."""

    # --- statuses and heartbeats (both versions) ------------------------------------------

    def status_changed(self, cid, st=None):
        """Connector / EVSE cid has a status to tell (Station.on_status listener too)."""
        self._status_dirty.add(cid)
        self._status_event.set()

    async def statuses(self, cp):
        """Forever: each connector marked by status_changed, lowest id first."""
        while True:
            await self._status_event.wait()
            self._status_event.clear()
            while self._status_dirty:
                cid = min(self._status_dirty)
                self._status_dirty.discard(cid)
                msg = self.status_message(cid)
                if msg is not None:
                    await cp.call(msg)
                    self.status_sent(cid)

    async def heartbeats(self, cp):
        """Heartbeat every heartbeat_interval_s(), read every second: a change by the CSMS is
        effective at once."""
        last = time.monotonic()
        while True:
            await asyncio.sleep(1)
            interval = self.heartbeat_interval_s()
            if interval > 0 and time.monotonic() - last >= interval:
                last = time.monotonic()
                await cp.call(self.heartbeat_call())

    # --- the connection -------------------------------------------------------------------

    async def run(self):
        await self.recover()
        await self.connect_forever()

    async def connect_forever(self):
        while True:
            try:
                async with websockets.connect(self.url, subprotocols=[self.SUBPROTOCOL],
                                              open_timeout=10, ping_interval=30,
                                              **self.connect_kwargs) as ws:
                    self.backoff.reset()
                    self._failure = None
                    log.info("connected to %s", self.url)
                    await self._serve(ws)
            except (TimeoutError, OSError, websockets.WebSocketException) as e:
                log.warning("CSMS connection: %s", reason(e))
                self._security_failure(reason(e))
            except OCPPError as e:
                log.warning("CSMS refused a station message: %s", e)
            except Exception:  # a bug must not end the station's connection for good
                log.exception("CSMS connection: unexpected error; connecting again")
            finally:
                if self.accepted:
                    self.connected(False)
                self.cp, self.accepted = None, False
            # the connection is gone (not this process): an unanswered message goes again
            store = self.station.store
            if await store.aio(store.abandon_sends):
                log.info("the message being sent had no answer: it goes again")
            delay = self.backoff.next()
            log.info("reconnecting in %.1f s", delay)
            await asyncio.sleep(delay)

    def _security_failure(self, text):
        """A failure that is a security event (UK-S10) is logged once until a connection
        succeeds again: a wrong password retried all night is one line, not thousands."""
        event_type = connection_failure(text)
        if event_type is not None and event_type != self._failure:
            self._failure = event_type
            self.station.security_event(event_type, text)

    async def _serve(self, ws):
        cp = self.make_charge_point(ws)
        self.cp = cp
        receiver = asyncio.create_task(cp.start())
        worker = asyncio.create_task(self.session(cp))
        try:
            done, _ = await asyncio.wait({receiver, worker}, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                t.result()  # raises what ended it (the connection closed)
        finally:
            for t in (receiver, worker):
                t.cancel()
            await asyncio.gather(receiver, worker, return_exceptions=True)

    # --- the durable queue ----------------------------------------------------------------

    async def recover(self):
        """At start: each message a killed (or stopped) gateway left between begin_send and
        its outcome is resolved by the adapter (`recovered`)."""
        store = self.station.store
        for m in await store.aio(store.in_flight):
            what = await self.recovered(m)
            log.warning("queue recovery: %s %d was in flight (written %d): %s",
                        m.action, m.id, int(m.written), what)
        await store.aio(store.abandon_sends)

    async def sender(self, cp):
        store = self.station.store
        while True:
            msgs = await store.aio(store.peek)
            if not msgs:
                self.station.queue_changed.clear()
                if not await store.aio(store.peek):
                    await self.station.queue_changed.wait()
                continue
            m = msgs[0]
            await store.aio(store.begin_send, m.id)
            try:
                done, meta = await self.send_queued(cp, m)
            except OCPPError as e:  # the CSMS refused it: retry, then give it up
                refusals = await store.aio(store.refused, m.id)
                log.warning("%s %d refused (%d): %s", m.action, m.id, refusals, e)
                if refusals >= self.message_attempts():
                    await store.aio(store.discard, m.id, "CallError: %s" % e,
                                    self.discarded_meta(m))
                    log.warning("%s %d discarded after %d attempts", m.action, m.id, refusals)
                else:
                    await asyncio.sleep(self.attempt_interval_s() * refusals)
                continue
            except (TimeoutError, OSError, websockets.WebSocketException):
                raise  # the connection failed: the message goes again on the next one
            except Exception as e:  # a message the station cannot make: never a stuck queue
                log.exception("%s %d cannot be sent", m.action, m.id)
                await store.aio(store.discard, m.id, "cannot be sent: %r" % e)
                continue
            if done:
                await store.aio(store.complete, m.id, meta)
                if meta:
                    self.station.transactions_changed()

    async def send_security_event(self, cp, event, call_cls):
        """A queued critical security event as SecurityEventNotification (call_cls: the
        version's call class); done once answered, a CallError too (logged): a CSMS without
        the message never holds a transaction message back."""
        try:
            await cp.call(call_cls(type=event["type"], timestamp=event["timestamp"],
                                   tech_info=event.get("techInfo")), suppress=False)
        except OCPPError as e:
            log.warning("SecurityEventNotification %s refused by the CSMS: %s",
                        event["type"], e)
        return True

    async def call_tracked(self, cp, m, payload, keep_answer=False):
        """cp.call for a queued message, its frame marked written the moment it is (and
        its answer marked the moment it arrives: keep_answer)."""
        uid = str(uuid.uuid4())
        store = self.station.store
        cp.written_hooks[uid] = lambda: store.mark_written(m.id)
        if keep_answer:
            cp.answer_hooks[uid] = lambda answer: store.mark_answered(m.id, answer)
        try:
            return await cp.call(payload, suppress=False, unique_id=uid)
        finally:
            cp.written_hooks.pop(uid, None)
            cp.answer_hooks.pop(uid, None)
