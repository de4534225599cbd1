"""The CSMS's requests as the version-neutral Station carries them to the firmware (a mixin
of gateway/station.py's Station, whose state it uses): remote start and stop, unlock, reset
and availability, each a link COMMAND (protocols/LINK.md) with what the station must
remember of it (a remote start waiting for the plug-in, a stop reason, an Inoperative
connector kept across reboots)."""

import asyncio
import logging

from gateway.link import LinkError
from protocols import link_messages as lm

log = logging.getLogger("gateway.station")

# RESULT of CMD_UNLOCK -> Station.unlock()
UNLOCK_RESULT = {lm.ST_OK: "unlocked", lm.ST_UNSUPPORTED: "not_supported"}


class CsmsRequests:
    async def command(self, cid, cmd, arg):
        """A link COMMAND to EVSE cid -> True when the firmware answered ST_OK."""
        try:
            r = await self.links[cid].command(cmd, arg)
        except LinkError as e:
            log.warning("EVSE %d: command %d(%d) failed: %s", cid, cmd, arg, e)
            return False
        return r.ok

    def remote_start_waiting(self, cid):
        """A remote start waits for the plug-in on the connector."""
        return cid in self._remote_tag

    def can_remote_start(self, cid):
        if cid not in self.links or not self.links[cid].online:
            return False
        s = self.session(cid)
        return not (s and (s.get("authorized") or s.get("tx_stopped")))

    async def remote_start(self, cid, id_tag):
        """A remote start: the session waiting at the connector starts a transaction now
        (meterStart from the telemetry's import register); with nothing plugged in, the
        next plug-in starts it with this idTag. id_tag is the adapter's (stored as is): the
        1.6 idTag string, the 2.0.1 idToken with its remoteStartId."""
        s = self.session(cid)
        if s is None:
            self._remote_tag[cid] = id_tag
            old = self._remote_timer.pop(cid, None)
            if old is not None:
                old.cancel()
            if self.remote_start_timeout_s > 0:
                self._remote_timer[cid] = asyncio.get_running_loop().call_later(
                    self.remote_start_timeout_s, self._expire_remote_tag, cid, id_tag)
            self._refresh(cid)  # Preparing: authorised, waiting for the plug-in
            await self.command(cid, lm.CMD_START, 0)
            return
        t = self.links[cid].telemetry
        s.update(id_tag=id_tag, authorized=True, start_unix_s=int(self.clock()),
                 meter_start_wh=t.energy_import_wh if t is not None else s["meter_start_wh"])
        store = self.store
        await store.aio(store.enqueue, "tx_start",
                        self._tx_start(cid, s, int(self.clock()), "remote_start"), cid,
                        meta={self._session_key(cid): s})
        self._refresh(cid)
        self._transactions_changed()
        self.queue_changed.set()
        await self.command(cid, lm.CMD_RESUME, 0)
        await self.command(cid, lm.CMD_START, 0)

    def _expire_remote_tag(self, cid, id_tag):
        """No plug-in within the timeout (1.6 ConnectionTimeOut): the remote start lapses."""
        self._remote_timer.pop(cid, None)
        if self._remote_tag.get(cid) == id_tag:
            del self._remote_tag[cid]
            log.info("EVSE %d: remote start for %s lapsed (no plug-in)", cid, id_tag)
            self._refresh(cid)  # Available again
            self._transactions_changed()  # its TxProfile goes

    async def remote_stop(self, cid, reason="Remote"):
        """Stop the connector's transaction (CMD_STOP): the StopTransaction with this reason
        is queued when the firmware's record of the command arrives."""
        s = self.session(cid)
        if s:
            s["stop_reason"] = reason
            await self.store.aio(self.store.set_meta, self._session_key(cid), s)
        return await self.command(cid, lm.CMD_STOP, lm.STOP_REMOTE)

    async def unlock(self, cid):
        """Unlock the connector's socket: "unlocked", "failed" or "not_supported" (no such
        connector, or a firmware without CAP_LOCK in its HELLO). A running transaction is
        stopped first, reason UnlockCommand (OCPP 1.6 §5.17)."""
        ln = self.links.get(cid)
        if ln is None or ln.peer is None or not ln.peer.capabilities & lm.CAP_LOCK:
            return "not_supported"
        s = self.session(cid)
        if s and s.get("authorized"):
            await self.remote_stop(cid, "UnlockCommand")
        try:
            r = await ln.command(lm.CMD_UNLOCK, 0)
        except LinkError as e:
            log.warning("EVSE %d: unlock failed: %s", cid, e)
            return "failed"
        return UNLOCK_RESULT.get(r.status, "failed")

    async def reset(self, hard):
        self.security_event("ResetOrReboot", "%s reset asked by the CSMS"
                            % ("hard" if hard else "soft"))
        for cid in self.links:
            s = self.session(cid)
            if s:
                s["stop_reason"] = "HardReset" if hard else "SoftReset"
                await self.store.aio(self.store.set_meta, self._session_key(cid), s)
        for cid, ln in self.links.items():  # tag 0: a rebooting firmware loses its answer
            if not ln.command_unanswered(lm.CMD_RESET, 1 if hard else 0):
                log.warning("EVSE %d: reset not sent (offline)", cid)

    @staticmethod
    def _inoperative_key(cid):
        return "inoperative:%d" % cid

    def _inoperative(self, cid):
        if cid not in self._inoperative_cache:
            self._inoperative_cache[cid] = self.store.get_meta(self._inoperative_key(cid), False)
        return self._inoperative_cache[cid]

    async def set_available(self, cid, available):
        """cid 0: every connector. Kept in the store: an Inoperative connector stays so
        across firmware reboots (told again at its EV_BOOT record and when its link comes
        back) and gateway restarts."""
        cids = list(self.links) if cid == 0 else [cid]
        for c in cids:
            await self.store.aio(self.store.set_meta, self._inoperative_key(c), not available)
            self._inoperative_cache[c] = not available
            self._refresh(c)
        results = await asyncio.gather(*(self.command(c, lm.CMD_AVAILABILITY, int(available))
                                         for c in cids))
        return all(results)

