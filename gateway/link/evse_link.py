"""EvseLink: one firmware controller seen from the gateway (protocols/LINK.md §5).

    link = EvseLink(make_transport(url, 1), store, evse_id=1)
    link.on_telemetry(fn)        # fn(new, old): a TELEMETRY whose content changed
    link.on_record(fn)           # fn(Record): an EVENT/SESSION committed to the store
    link.on_online(fn)           # fn(online: bool)
    await link.start()
    await link.set_limit(lm.SRC_CSMS, 16000)        # -> Result, or None if not answered now
    await link.command(lm.CMD_PAUSE)                # -> Result; LinkError if not answered
    await link.stop()

Listeners may be plain functions or coroutine functions; they run one at a time, in
order, on a task of their own, so a listener may await requests of the same link.
"""

import asyncio
import inspect
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass

from gateway.link.records import RecordReceiver
from gateway.link.requests import LinkRequests
from gateway.link.values import (
    LinkError,
    LinkTimeout,
    Nak,
    PeerInfo,
    Result,
    SettingValue,
    Telemetry,
)
from protocols import link
from protocols import link_messages as lm

log = logging.getLogger(__name__)

GATEWAY_SW_VERSION = "gateway-0.1.0"
GATEWAY_CAPABILITIES = lm.CAP_SCHEDULE | lm.CAP_LOGS | lm.CAP_FW_UPDATE  # LINK.md §4
REQUEST_RESEND_S = 2.0  # LINK.md §5.4: resend an unanswered request after 2 s, same tag
HELLO_RETRY_S = 2.0  # until the firmware's HELLO is heard
TICK_S = 0.1  # timer resolution; finer when the peer needs heartbeats under 400 ms
STAT_KEYS = (  # EvseLink.stats, also in counters(); docs/gateway_link.md explains each
    "rx", "tx", "rx_bad", "rx_unexpected", "naks", "hellos", "hello_refused", "silences",
    "telemetry", "records_committed", "records_duplicate", "records_gap",
    "records_before_hello", "records_missed", "records_refused", "record_epochs", "resends",
    "answers_unmatched", "failsafe_resends")
_ANSWER = {lm.TIME_SYNC: lm.RESULT, lm.LIMIT: lm.RESULT, lm.SCHEDULE: lm.RESULT,
           lm.COMMAND: lm.RESULT, lm.SETTING_GET: lm.SETTING_VALUE,
           lm.SETTING_SET: lm.SETTING_VALUE, lm.LOG_REQUEST: lm.LOG_DATA,
           lm.FW_BEGIN: lm.FW_STATUS, lm.FW_CHUNK: lm.FW_STATUS, lm.FW_END: lm.FW_STATUS}
__all__ = ["EvseLink", "LinkError", "LinkTimeout", "Nak"]


@dataclass
class _Pending:
    mtype: int
    tag: int
    build: object  # () -> fields, called for each (re)send
    future: asyncio.Future
    key: object = None  # (kind, entity): a newer request for the same key supersedes it
    sent_at: float = 0.0
    sends: int = 0


class EvseLink(LinkRequests):
    def __init__(self, transport, store, evse_id, *, link_timeout_ms=15000,
                 capabilities=GATEWAY_CAPABILITIES, sw_version=GATEWAY_SW_VERSION,
                 utc_offset_min=None, request_timeout_s=10.0, clock=time.time):
        self.transport = transport
        self.store = store
        self.evse_id = evse_id
        self.link_timeout_ms = link_timeout_ms  # announced in our HELLO; silence -> offline
        self.capabilities = capabilities
        self.sw_version = sw_version
        self.utc_offset_min = utc_offset_min  # None: the gateway host's local offset
        self.request_timeout_s = request_timeout_s
        self.clock = clock  # unix seconds (float): the time TIME_SYNC hands down
        self.online = False
        self.peer = None  # PeerInfo from the firmware's last HELLO
        self.telemetry = None  # latest Telemetry
        self.firmware_uptime_s = None
        self.clock_correction_ms = None  # RESULT of the last TIME_SYNC
        self.last_time_sync_unix_s = None
        self.stats = Counter(dict.fromkeys(STAT_KEYS, 0))
        self.records = RecordReceiver(store, evse_id, self.stats)  # LINK.md §5.1
        self._listeners = {"telemetry": [], "record": [], "online": []}
        self._inbox = asyncio.Queue()
        self._outbox = asyncio.Queue()  # listener calls, in order
        self._pending = {}
        self._tag = 0
        self._last_cmd_tag = 0
        self._hello_done = False  # the firmware's HELLO heard on this connection
        self._last_rx = 0.0
        self._last_tx = 0.0
        self._next_hello = 0.0
        self._hello_probe = False  # silence ended the peer's HELLO: ask once when heard
        self._next_time_sync = math.inf
        self._started = 0.0
        self._tasks = []
        self._after_hello_task = None
        transport.on_payload = lambda p: self._inbox.put_nowait(("rx", p))
        transport.on_state = lambda up: self._inbox.put_nowait(("state", up))

    # --- listeners -------------------------------------------------------------------

    def on_telemetry(self, fn):
        self._listeners["telemetry"].append(fn)
        return fn

    def on_record(self, fn):
        self._listeners["record"].append(fn)
        return fn

    def on_online(self, fn):
        self._listeners["online"].append(fn)
        return fn

    def _emit(self, kind, *args):
        # the listeners of the moment it happened: one added later does not get it
        self._outbox.put_nowait((kind, tuple(self._listeners[kind]), args))

    async def _dispatch_loop(self):
        while True:
            kind, listeners, args = await self._outbox.get()
            for fn in listeners:
                try:
                    r = fn(*args)
                    if inspect.isawaitable(r):
                        await r
                except Exception:
                    log.exception("EVSE %d: %s listener failed", self.evse_id, kind)

    # --- life cycle ------------------------------------------------------------------

    @property
    def _cmd_tag_key(self):
        return "link.%d.command_tag" % self.evse_id

    async def start(self):
        loop = asyncio.get_running_loop()
        self._started = loop.time()
        self._last_cmd_tag = await self.store.aio(self.store.get_meta, self._cmd_tag_key, 0)
        self._tag = self._last_cmd_tag
        self._tasks = [asyncio.create_task(self._rx_loop(), name="evse%d rx" % self.evse_id),
                       asyncio.create_task(self._timer_loop(), name="evse%d timer" % self.evse_id),
                       asyncio.create_task(self._dispatch_loop(), name="evse%d out" % self.evse_id)]
        await self.transport.connect()

    async def stop(self):
        await self.transport.close()
        tasks = self._tasks + ([self._after_hello_task] if self._after_hello_task else [])
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = []
        for p in self._pending.values():
            if not p.future.done():
                p.future.set_exception(LinkError("link stopped"))
                p.future.exception()  # retrieved: nobody may be waiting for it
        self._pending.clear()
        self.online = False
        self._hello_done = False

    def counters(self):
        """The transport's counters (frame decoder included) and the link's own."""
        c = self.transport.counters()
        c.update(self.stats)
        return c

    # --- sending ---------------------------------------------------------------------

    def _send(self, mtype, fields, tag=0):
        if self.transport.send(link.encode(mtype, fields, tag)):
            self._last_tx = asyncio.get_running_loop().time()
            self.stats["tx"] += 1
            return True
        return False

    def _send_hello(self, flags, tag):
        self._send(lm.HELLO, {
            "major": lm.PROTOCOL_MAJOR, "minor": lm.PROTOCOL_MINOR, "role": lm.ROLE_GATEWAY,
            "flags": flags, "phases": 0, "capabilities": self.capabilities,
            "max_current_ma": 0, "link_timeout_ms": self.link_timeout_ms, "unacked_seq": 0,
            "sw_version": self.sw_version}, tag)
        self._next_hello = asyncio.get_running_loop().time() + HELLO_RETRY_S

    def _alloc_tag(self, avoid=0):
        for _ in range(255):
            self._tag = self._tag % 255 + 1  # cyclic 1..255 (LINK.md §5.4)
            if self._tag not in self._pending and self._tag != avoid:
                return self._tag
        raise LinkError("255 requests in flight to EVSE %d" % self.evse_id)

    def _request(self, mtype, build, key=None, tag=0):
        loop = asyncio.get_running_loop()
        if key is not None:
            for old in [p for p in self._pending.values() if p.key == key]:
                del self._pending[old.tag]
                if not old.future.done():
                    old.future.set_result(None)  # superseded: latest wins
        p = _Pending(mtype, tag or self._alloc_tag(), build, loop.create_future(), key)
        self._pending[p.tag] = p
        if self._hello_done:
            self._send_pending(p)
        return p

    def _send_pending(self, p):
        if self._send(p.mtype, p.build(), p.tag):
            p.sent_at = asyncio.get_running_loop().time()
            p.sends += 1
            if p.sends > 1:
                self.stats["resends"] += 1

    async def _ask(self, mtype, build, key=None, tag=0, timeout_s=None):
        """Send a request (resent every 2 s while online) and wait for its answer."""
        if not self.online:
            raise LinkTimeout("EVSE %d is offline" % self.evse_id)
        p = self._request(mtype, build, key, tag)
        try:
            return await asyncio.wait_for(asyncio.shield(p.future),
                                          timeout_s or self.request_timeout_s)
        except TimeoutError:
            raise LinkTimeout("EVSE %d: no answer to %s" % (self.evse_id,
                                                            link.message_name(mtype))) from None
        finally:
            if self._pending.get(p.tag) is p:
                del self._pending[p.tag]

    # --- receiving -------------------------------------------------------------------

    async def _rx_loop(self):
        while True:
            kind, arg = await self._inbox.get()
            try:
                if kind == "state":
                    self._on_transport(arg)
                else:
                    await self._on_message(arg)
            except Exception:
                log.exception("EVSE %d: handling %r failed", self.evse_id, kind)

    def _on_transport(self, up):
        self._hello_done = False
        self._hello_probe = False
        if up:
            self._last_rx = asyncio.get_running_loop().time()
            self._send_hello(0, 0)  # LINK.md §5.3: when the link comes up
        else:
            self._set_online(False)

    def _set_online(self, online):
        if online != self.online:
            self.online = online
            log.info("EVSE %d %s", self.evse_id, "online" if online else "offline")
            self._emit("online", online)

    async def _on_message(self, payload):
        self.stats["rx"] += 1
        status, mtype, tag, fields = link.decode(payload)
        if status != lm.OK:  # LINK.md §5.4: NAK, never for a NAK
            self.stats["rx_bad"] += 1
            log.warning("EVSE %d: message refused (E %d, type %d)", self.evse_id, status, mtype)
            if mtype != lm.NAK:
                self._send(lm.NAK, {"error": status, "bad_type": mtype,
                                    "major": lm.PROTOCOL_MAJOR, "minor": lm.PROTOCOL_MINOR}, tag)
            return
        loop = asyncio.get_running_loop()
        self._last_rx = loop.time()
        if mtype == lm.HELLO:
            return await self._on_hello(fields, tag)
        if not self._hello_done and (self._hello_probe or loop.time() >= self._next_hello):
            self._hello_probe = False
            self._send_hello(0, 0)  # heard from a firmware whose HELLO we lack (§5.3)
        if mtype == lm.TELEMETRY:
            self._on_telemetry(fields)
        elif mtype in (lm.EVENT, lm.SESSION):
            await self._on_record(mtype, fields)
        elif mtype in (lm.RESULT, lm.SETTING_VALUE, lm.LOG_DATA, lm.FW_STATUS):
            self._on_answer(mtype, tag, fields)
        elif mtype == lm.NAK:
            self._on_nak(fields, tag)
        elif mtype == lm.HEARTBEAT:
            self._on_heartbeat(fields)
        else:
            self.stats["rx_unexpected"] += 1
            if tag:
                self._send(lm.NAK, {"error": lm.E_TYPE, "bad_type": mtype,
                                    "major": lm.PROTOCOL_MAJOR, "minor": lm.PROTOCOL_MINOR}, tag)

    async def _on_hello(self, f, tag):
        if f["role"] != lm.ROLE_FIRMWARE or f["major"] != lm.PROTOCOL_MAJOR:
            self.stats["hello_refused"] += 1
            log.warning("EVSE %d: HELLO refused (role %d, major %d)", self.evse_id,
                        f["role"], f["major"])
            return
        if not f["flags"] & lm.HELLO_REPLY:
            self._send_hello(lm.HELLO_REPLY, tag)
        self.stats["hellos"] += 1
        self.peer = PeerInfo.from_fields(f)
        await self.records.on_hello(f["unacked_seq"])
        self._hello_done = True
        self._set_online(True)
        if self._after_hello_task is not None:
            self._after_hello_task.cancel()
        self._after_hello_task = asyncio.create_task(self._resend_requests())

    def _on_telemetry(self, f):
        t = Telemetry.from_fields(f, int(self.clock() * 1000))
        old, self.telemetry = self.telemetry, t
        self.stats["telemetry"] += 1
        if (t.has("failsafe") and self._hello_done
                and (self._after_hello_task is None or self._after_hello_task.done())):
            # LINK.md §5.3: the firmware heard nothing for its link_timeout_ms (this process
            # stalled) while this side kept the link: it leaves failsafe once it hears the
            # limits again, so they go again as after a HELLO
            self.stats["failsafe_resends"] += 1
            self._after_hello_task = asyncio.create_task(self._resend_requests())
        if old != t:
            self._emit("telemetry", t, old)

    def _on_heartbeat(self, f):
        if self.firmware_uptime_s is not None and f["uptime_s"] < self.firmware_uptime_s:
            log.info("EVSE %d: firmware uptime went back: it restarted", self.evse_id)
        self.firmware_uptime_s = f["uptime_s"]

    async def _on_record(self, mtype, f):
        if not self._hello_done:
            self.stats["records_before_hello"] += 1  # LINK.md §5.1: ignored, not acked
            return
        rec = await self.records.on_record(mtype, f)  # committed before the ack
        if self.records.ack_seq is not None:
            self._send(lm.EVENT_ACK, {"seq": self.records.ack_seq})
        if rec is not None:
            self._emit("record", rec)

    def _on_answer(self, mtype, tag, f):
        p = self._pending.get(tag)
        if (p is None or _ANSWER.get(p.mtype) != mtype
                or (mtype == lm.RESULT and f["request_type"] != p.mtype)):
            self.stats["answers_unmatched"] += 1
            return
        del self._pending[tag]
        if mtype == lm.RESULT:
            value = Result(f["status"], f["value"])
        elif mtype == lm.SETTING_VALUE:
            value = SettingValue(f["status"], f["key"], f["value"])
        else:
            value = f
        if not p.future.done():
            p.future.set_result(value)

    def _on_nak(self, f, tag):
        self.stats["naks"] += 1
        p = self._pending.get(tag)
        log.warning("EVSE %d: NAK error %d for type %d", self.evse_id, f["error"], f["bad_type"])
        if p is not None and f["bad_type"] == p.mtype:
            del self._pending[tag]
            if not p.future.done():
                p.future.set_exception(Nak(f["error"], p.mtype))

    # --- timers ----------------------------------------------------------------------

    async def _timer_loop(self):
        loop = asyncio.get_running_loop()
        while True:
            hb_ms = link.heartbeat_interval_ms(self.peer.link_timeout_ms if self.peer else 0)
            await asyncio.sleep(min(TICK_S, hb_ms / 4000))  # a quarter of the interval
            try:
                self._on_tick(loop.time())
            except Exception:
                log.exception("EVSE %d: timer failed", self.evse_id)

    def _on_tick(self, now):
        if not self.transport.connected:
            return
        if not self._hello_done and now >= self._next_hello:
            self._send_hello(0, 0)
        if self.online and now - self._last_rx > self.link_timeout_ms / 1000:
            self.stats["silences"] += 1  # LINK.md §5.3: offline after our link_timeout_ms
            self._hello_done = False
            self._hello_probe = True
            self._set_online(False)
        peer_timeout_ms = self.peer.link_timeout_ms if self.peer else 0
        if now - self._last_tx >= link.heartbeat_interval_ms(peer_timeout_ms) / 1000:
            self._send(lm.HEARTBEAT, {"uptime_s": int(now - self._started)})
        if self._hello_done:
            for p in list(self._pending.values()):
                if now - p.sent_at >= REQUEST_RESEND_S:
                    self._send_pending(p)
            if now >= self._next_time_sync:
                self._start_time_sync()
