"""The requests the gateway makes of one firmware (protocols/LINK.md §4, §5.2, §5.4), as a
mixin of EvseLink: TIME_SYNC, LIMIT and SCHEDULE (stored with their generations first and
re-sent after every HELLO exchange), COMMAND, settings and log retrieval."""

import asyncio
import logging
import math
import time

from gateway.link.values import LinkError, LinkTimeout, Result
from protocols import link
from protocols import link_messages as lm

log = logging.getLogger(__name__)

ENTITIES = (lm.SRC_CSMS, lm.SRC_HEMS, lm.SRC_DNO, lm.SRC_OWNER, lm.SRC_LOAD_MGMT)
MAX_LIMIT_MA = 80000  # LINK.md §4 LIMIT: 0..80000 mA
TIME_SYNC_INTERVAL_S = 3600.0  # LINK.md §4 TIME_SYNC: after HELLO and at least hourly
TIME_SYNC_RETRY_S = 60.0


class LinkRequests:
    """Needs from EvseLink: store, evse_id, clock, peer, online, utc_offset_min,
    request_timeout_s, _pending, _request(), _ask(), _alloc_tag(), _next_time_sync."""

    async def _resend_requests(self):
        # LINK.md §4/§5.2: TIME_SYNC, then every LIMIT and SCHEDULE again (a new epoch);
        # the firmware leaves failsafe once it has heard limits again.
        futures = [self._start_time_sync().future]
        store = self.store
        reqs = await store.aio(store.requests, self.evse_id)
        if not any(r.kind == lm.LIMIT for r in reqs):  # none asked yet: "no CSMS limit"
            body = {"limit_ma": None, "duration_s": 0, "expires_unix_s": None}
            await store.aio(store.next_generation, self.evse_id, lm.LIMIT, lm.SRC_CSMS, body)
            reqs = await store.aio(store.requests, self.evse_id)
        for r in reqs:
            if r.body is None:
                continue
            if r.kind == lm.LIMIT:
                p = self._request(lm.LIMIT, self._limit_builder(r.entity, r.generation, r.body),
                                  key=(lm.LIMIT, r.entity))
            elif r.kind == lm.SCHEDULE and self._peer_has(lm.CAP_SCHEDULE):
                p = self._request(lm.SCHEDULE,
                                  self._schedule_builder(r.entity, r.generation, r.body),
                                  key=(lm.SCHEDULE, r.entity))
            else:
                continue
            futures.append(p.future)
        try:
            done, late = await asyncio.wait(futures, timeout=self.request_timeout_s)
            for fut in done:
                r = None if fut.cancelled() or fut.exception() else fut.result()
                if r is not None and not r.ok:  # None: superseded by a newer request
                    log.warning("EVSE %d: request re-sent after HELLO: %s", self.evse_id, r)
            if late:
                log.warning("EVSE %d: %d requests re-sent after HELLO not answered",
                            self.evse_id, len(late))
        finally:
            for tag in [t for t, p in self._pending.items() if p.future in futures]:
                del self._pending[tag]

    def _peer_has(self, cap):
        return self.peer is not None and bool(self.peer.capabilities & cap)

    def _utc_offset(self, unix_s):
        if self.utc_offset_min is not None:
            return self.utc_offset_min
        return time.localtime(unix_s).tm_gmtoff // 60

    def _start_time_sync(self):
        def build():
            now = self.clock()
            return {"unix_ms": int(now * 1000), "utc_offset_min": self._utc_offset(now)}

        loop = asyncio.get_running_loop()
        self._next_time_sync = loop.time() + TIME_SYNC_RETRY_S  # until answered
        p = self._request(lm.TIME_SYNC, build, key=(lm.TIME_SYNC, 0))

        def done(fut):
            if fut.cancelled() or fut.exception() is not None or fut.result() is None:
                return
            self.clock_correction_ms = fut.result().value
            self.last_time_sync_unix_s = int(self.clock())
            self._next_time_sync = loop.time() + TIME_SYNC_INTERVAL_S

        p.future.add_done_callback(done)
        return p

    async def time_sync(self, timeout_s=None):
        """Send TIME_SYNC now (AG-02); -> Result (value: the correction applied, ms)."""
        if not self.online:
            raise LinkTimeout("EVSE %d is offline" % self.evse_id)
        p = self._start_time_sync()
        try:
            r = await asyncio.wait_for(asyncio.shield(p.future),
                                       timeout_s or self.request_timeout_s)
        except TimeoutError:
            raise LinkTimeout("EVSE %d: no answer to TIME_SYNC" % self.evse_id) from None
        finally:
            if self._pending.get(p.tag) is p:
                del self._pending[p.tag]
        return r

    def _cap_ma(self, limit_ma):
        if limit_ma is None:
            return lm.LIMIT_NONE
        if self.peer is not None and self.peer.max_current_ma:
            return min(limit_ma, self.peer.max_current_ma)  # LINK.md §4 LIMIT
        return limit_ma

    def _limit_builder(self, entity, generation, body):
        def build():
            limit_ma = self._cap_ma(body["limit_ma"])
            duration_s = body["duration_s"]
            if body["expires_unix_s"] is not None:  # re-sent: only what is left of it
                duration_s = math.ceil(body["expires_unix_s"] - self.clock())
                if duration_s <= 0:
                    limit_ma, duration_s = lm.LIMIT_NONE, 0
            return {"entity": entity, "generation": generation, "limit_ma": limit_ma,
                    "duration_s": duration_s}
        return build

    def _schedule_builder(self, entity, generation, body):
        def build():
            return {"entity": entity, "generation": generation,
                    "start_unix_s": body["start_unix_s"], "duration_s": body["duration_s"],
                    "repeat_s": body["repeat_s"],
                    "periods": [(o, self._cap_ma(ma)) for o, ma in body["periods"]]}
        return build

    async def set_limit(self, entity, limit_ma, duration_s=0, timeout_s=None):
        """LIMIT (AG-09, T7-MULTI): entity SRC_CSMS..SRC_LOAD_MGMT, limit_ma per phase
        0..80000 (0 pauses) or None to remove it, for duration_s (0 = until replaced).
        The request and its generation are stored first and re-sent after every HELLO.
        -> Result (value: offered_ma now), or None when not answered now (offline, timed
        out, or superseded by a newer request of the same entity)."""
        if entity not in ENTITIES:
            raise ValueError("entity %r is not one of %r" % (entity, ENTITIES))
        if limit_ma is not None and not (isinstance(limit_ma, int)
                                         and 0 <= limit_ma <= MAX_LIMIT_MA):
            raise ValueError("limit_ma must be None or 0..%d" % MAX_LIMIT_MA)
        if not isinstance(duration_s, int) or not 0 <= duration_s <= 0xFFFFFFFF:
            raise ValueError("duration_s must be 0..4294967295")
        expires = int(self.clock()) + duration_s if duration_s and limit_ma is not None else None
        body = {"limit_ma": limit_ma, "duration_s": duration_s, "expires_unix_s": expires}
        gen = await self.store.aio(self.store.next_generation, self.evse_id, lm.LIMIT, entity,
                                   body)
        return await self._ask_latest(lm.LIMIT, self._limit_builder(entity, gen, body),
                                      (lm.LIMIT, entity), timeout_s)

    async def set_schedule(self, entity, start_unix_s, duration_s, periods, repeat_s=0,
                           timeout_s=None):
        """SCHEDULE (T7-PROFILE, UK-7): periods [(start_offset_s, limit_ma or None)], offsets
        from 0 and increasing, at most 28; [] removes the entity's schedule. Stored and
        re-sent like set_limit. -> Result (value: periods stored), Result(ST_UNSUPPORTED)
        when the firmware did not announce CAP_SCHEDULE, or None when not answered now."""
        if entity not in ENTITIES:
            raise ValueError("entity %r is not one of %r" % (entity, ENTITIES))
        periods = [(int(o), None if ma is None else int(ma)) for o, ma in periods]
        for _, ma in periods:
            if ma is not None and not 0 <= ma <= MAX_LIMIT_MA:
                raise ValueError("period limit_ma must be None or 0..%d" % MAX_LIMIT_MA)
        body = {"start_unix_s": start_unix_s, "duration_s": duration_s, "repeat_s": repeat_s,
                "periods": periods}
        link.encode(lm.SCHEDULE, self._schedule_builder(entity, 0, body)())  # ValueError
        gen = await self.store.aio(self.store.next_generation, self.evse_id, lm.SCHEDULE,
                                   entity, body)
        if self.peer is not None and not self._peer_has(lm.CAP_SCHEDULE):
            return Result(lm.ST_UNSUPPORTED, 0)
        return await self._ask_latest(lm.SCHEDULE, self._schedule_builder(entity, gen, body),
                                      (lm.SCHEDULE, entity), timeout_s)

    async def _ask_latest(self, mtype, build, key, timeout_s):
        try:
            return await self._ask(mtype, build, key=key, timeout_s=timeout_s)
        except LinkTimeout:
            return None  # stored: sent again after the next HELLO exchange

    async def command(self, command, arg=0, timeout_s=None):
        """COMMAND (CMD_START .. CMD_TRIGGER) -> Result. The tag of the last COMMAND is
        stored and never reused for the next one: the firmware answers a COMMAND with the
        previous COMMAND's tag as a resend, without running it (LINK.md §5.4)."""
        tag = self._alloc_tag(avoid=self._last_cmd_tag)
        self._last_cmd_tag = tag
        await self.store.aio(self.store.set_meta, self._cmd_tag_key, tag)
        return await self._ask(lm.COMMAND, lambda: {"command": command, "arg": arg}, tag=tag,
                               timeout_s=timeout_s)

    def command_unanswered(self, command, arg=0):
        """COMMAND with tag 0: no answer, never resent (LINK.md §5.4). For CMD_RESET, whose
        RESULT a rebooting firmware may never get out (its UART buffer is lost): a resend
        after its next HELLO would reboot it again. True when handed to the transport; the
        firmware's EV_BOOT record shows it arrived."""
        if not self.online:
            return False
        return self._send(lm.COMMAND, {"command": command, "arg": arg}, 0)

    async def setting_get(self, key, timeout_s=None):
        """SETTING_GET -> SettingValue(status, key, value)."""
        return await self._ask(lm.SETTING_GET, lambda: {"key": key}, timeout_s=timeout_s)

    async def setting_set(self, key, value, timeout_s=None):
        """SETTING_SET (int, str or None) -> SettingValue: the value in force, or the
        refusal's reason as a str with ST_INVALID / ST_UNKNOWN / ST_READ_ONLY."""
        link.encode(lm.SETTING_SET, {"key": key, "value": value})  # ValueError
        return await self._ask(lm.SETTING_SET, lambda: {"key": key, "value": value},
                               timeout_s=timeout_s)

    async def read_log(self, log_id=lm.LOG_EVENTS, max_bytes=1 << 20, timeout_s=None):
        """The whole log (LOG_REQUEST / LOG_DATA from offset 0 until total) as bytes."""
        if self.peer is not None and not self._peer_has(lm.CAP_LOGS):
            raise LinkError("EVSE %d has no CAP_LOGS" % self.evse_id)
        data = bytearray()
        while True:
            offset = len(data)
            f = await self._ask(lm.LOG_REQUEST, lambda o=offset: {"log": log_id, "offset": o},
                                timeout_s=timeout_s)
            if f["offset"] != offset:
                raise LinkError("EVSE %d: log shrank under the reader" % self.evse_id)
            data += f["data"]
            if not f["data"] or len(data) >= f["total"]:
                return bytes(data)
            if len(data) > max_bytes:
                raise LinkError("EVSE %d: log over %d bytes" % (self.evse_id, max_bytes))
