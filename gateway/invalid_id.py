"""A transaction whose idToken the CSMS does not accept in its answer (OCPP 1.6 §4.8
StartTransaction.conf with StopTransactionOnInvalidId / MaxEnergyOnInvalidId; OCPP 2.0.1
E05 / E06.FR.04, an idTokenInfo not Accepted in a TransactionEventResponse, with
TxCtrlr.StopTxOnInvalidId / MaxEnergyOnInvalidId):

- stop: the transaction ends now (CMD_STOP, reason DeAuthorized; 2.0.1 Ended with
  triggerReason Deauthorized); the EV stays plugged in without one;
- otherwise it goes on while the energy since its start is below MaxEnergyOnInvalidId (0:
  it stops at once), then the firmware suspends the energy transfer (CMD_PAUSE:
  SuspendedEVSE) and the adapter's `limit_event` is queued (2.0.1: Updated, triggerReason
  EnergyLimitReached); it ends at the unplug.

The decision is committed with the answer's delivery (`add_decision`: the session's
metadata, gateway/station.py), so a gateway killed just after the answer still carries it
out after its restart. The owner's override (AG-12) ends a firmware pause, this one too:
the owner of a home charger outranks the back-office."""

import asyncio
import logging

from protocols import link_messages as lm

log = logging.getLogger(__name__)

REASON = "DeAuthorized"  # the stop reason (OCPP 1.6 Reason; 2.0.1 via STOPPED)


class InvalidId:
    def __init__(self, station):
        self.station = station
        # fn(connector_id, session) -> (action, payload) queued when the energy limit is
        # reached, or None; set by an adapter (gateway/ocpp201/client.py)
        self.limit_event = None
        self._acting = {}  # connector id -> session key being acted on
        station.on_transaction(self._transactions_changed)
        for cid, ln in station.links.items():
            ln.on_telemetry(lambda new, old, cid=cid: self.check(cid))

    def add_decision(self, meta, cid, key, status, stop, max_energy_wh):
        """Add to meta (what the delivery of the answer commits) the decision on session
        `key`, whose idToken the answer did not accept (status: its authorization status);
        after a change of the session's metadata already in meta (its transactionId)."""
        def decide(s):
            if not (s and s.get("key") == key and s.get("authorized")) or s.get("invalid_id"):
                return s
            return dict(s, invalid_id={"status": status, "stop": bool(stop),
                                       "limit_wh": s["meter_start_wh"] + max(0, max_energy_wh)})
        log.warning("EVSE %d: the CSMS answered %s for the transaction's idToken: %s", cid,
                    status, "it stops" if stop else
                    "charging up to %d Wh more, then suspended" % max(0, max_energy_wh))
        k = self.station.session_meta_key(cid)
        if k not in meta:
            meta[k] = decide
        else:
            before = meta[k]
            meta[k] = lambda s: decide(before(s) if callable(before) else before)
        return meta

    def _transactions_changed(self):
        loop = self.station.loop
        if loop is not None:  # may be called from the store's thread
            loop.call_soon_threadsafe(self.check_all)

    def check_all(self):
        for cid in self.station.connector_ids:
            self.check(cid)

    def check(self, cid):
        """Carry out a stored decision that is due on EVSE cid (on each TELEMETRY and
        each change of the transactions)."""
        s = self.station.session(cid)
        d = s.get("invalid_id") if s and s.get("authorized") else None
        if not d or self._acting.get(cid) == s["key"]:
            return
        if d["stop"]:
            act = self._stop
        else:
            t = self.station.links[cid].telemetry
            if s.get("energy_limited") or t is None or t.energy_import_wh < d["limit_wh"]:
                return
            act = self._suspend
        self._acting[cid] = s["key"]
        asyncio.get_running_loop().create_task(act(cid, s))

    async def _stop(self, cid, s):
        if not await self.station.remote_stop(cid, REASON):
            self._acting.pop(cid, None)  # the link is down: again on its next TELEMETRY

    async def _suspend(self, cid, s):
        """Pause first, then store it with the adapter's event: a kill in between pauses
        again at the restart, never loses the event. The event is made before the pause, so
        the adapter knows of the suspension before the status shows it."""
        event = self.limit_event(cid, s) if self.limit_event is not None else None
        if not await self.station.command(cid, lm.CMD_PAUSE, 0):
            self._acting.pop(cid, None)
            return
        log.info("EVSE %d: MaxEnergyOnInvalidId reached (%d Wh): energy transfer suspended",
                 cid, s["invalid_id"]["limit_wh"] - s["meter_start_wh"])
        await self.station.enqueue_for_session(
            cid, s["key"], event[0] if event else None, event[1] if event else None,
            meta={self.station.session_meta_key(cid):
                  lambda old: dict(old, energy_limited=True)
                  if old and old.get("key") == s["key"] else old})
