"""The version-neutral charging station: one connector per EvseLink (EVSE id = connector id,
1..N in --evse order). It knows no OCPP message; an OCPP adapter (gateway/ocpp16/) sees:

- `status(connector_id)` -> `ConnectorStatus` and `on_status(fn)` when one changes;
- transaction events in the store's durable outbound FIFO, made from committed firmware
  records in the same SQLite transaction that marks the record processed (docs/ocpp.md):
  ("tx_start", {...}) and ("tx_stop", {...}); `queue_changed` is set when one is added;
- `remote_start`, `remote_stop`, `reset`, `set_available`: requests that reach the firmware.

Session states come from the firmware's TELEMETRY; fault codes from its EV_FAULT records.
"""

import asyncio
import logging
import time
from dataclasses import dataclass

from gateway.link import LinkError
from protocols import link_messages as lm

log = logging.getLogger(__name__)

# TELEMETRY session (protocols/link_messages.SESSION_STATES) -> connector status
SESSION_STATUS = {
    "available": "Available",
    "preparing": "Preparing",
    "charging": "Charging",
    "suspended_evse": "SuspendedEVSE",
    "suspended_ev": "SuspendedEV",
    "finishing": "Finishing",
    "faulted": "Faulted",
    "unavailable": "Unavailable",
}

# firmware FAULT_* -> error code (the OCPP 1.6 ChargePointErrorCode names), vendor code
FAULT_ERROR = {
    lm.FAULT_RCD: ("GroundFailure", "rcd"),
    lm.FAULT_DIODE: ("EVCommunicationError", "diode"),
    lm.FAULT_CP_SHORT: ("EVCommunicationError", "cp_short"),
    lm.FAULT_VENTILATION: ("OtherError", "ventilation"),
    lm.FAULT_WELDED: ("PowerSwitchFailure", "welded"),
    lm.FAULT_PP: ("OtherError", "proximity"),
    lm.FAULT_METER: ("PowerMeterFailure", "meter"),
    lm.FAULT_PILOT: ("EVCommunicationError", "pilot"),
    lm.FAULT_NOT_CLOSED: ("PowerSwitchFailure", "not_closed"),
}

# firmware STOP_* -> stop reason (the OCPP 1.6 Reason names)
STOP_REASON = {
    lm.STOP_UNPLUG: "EVDisconnected",
    lm.STOP_LOCAL: "Local",
    lm.STOP_REMOTE: "Remote",
    lm.STOP_FAULT: "Other",
    lm.STOP_POWER_LOSS: "PowerLoss",
    lm.STOP_EV: "EVDisconnected",
    lm.STOP_REBOOT: "Reboot",
}


@dataclass(frozen=True)
class ConnectorStatus:
    status: str  # SESSION_STATUS values
    error_code: str = "NoError"
    vendor_error_code: str | None = None
    info: str | None = None


class Station:
    def __init__(self, links, store, free_vend_id_tag="FREEVEND", clock=time.time):
        """links: EvseLink per EVSE in order (connector ids 1..N); free_vend_id_tag: the idTag
        of a transaction that starts at plug-in, or None: plug-in waits (paused in the
        firmware) for remote_start."""
        self.links = {i + 1: ln for i, ln in enumerate(links)}
        self.store = store
        self.free_vend_id_tag = free_vend_id_tag
        self.clock = clock
        self.queue_changed = asyncio.Event()
        self._status = {}  # connector id -> ConnectorStatus (known once telemetry came)
        self._fault = {}  # connector id -> active FAULT_* code
        self._remote_tag = {}  # connector id -> idTag of a remote start before plug-in
        self.remote_start_timeout_s = 0  # a remote start waits this long for plug-in; 0: ever
        self._remote_timer = {}  # connector id -> its asyncio TimerHandle
        self._status_listeners = []
        self._tx_listeners = []
        self.smart = None  # gateway.charging.SmartCharging, set by the caller
        self._records_lock = asyncio.Lock()

    # --- what the adapter reads --------------------------------------------------------

    @property
    def connector_ids(self):
        return tuple(self.links)

    def status(self, connector_id):
        return self._status.get(connector_id)

    def on_status(self, fn):
        """fn(connector_id, ConnectorStatus), called on every change (plain function)."""
        self._status_listeners.append(fn)

    def on_transaction(self, fn):
        """fn(), called when a transaction got its transactionId or a session ended (from
        the store's worker thread too)."""
        self._tx_listeners.append(fn)

    def _transactions_changed(self):
        for fn in self._tx_listeners:
            fn()

    def session(self, connector_id):
        """The firmware session of the connector as the station tracks it, or None:
        {key, session_id, meter_start_wh, id_tag, authorized, stop_reason}."""
        return self.store.get_meta(self._session_key(connector_id))

    def connector_of_transaction(self, tx_id):
        for cid in self.links:
            s = self.session(cid)
            if s and s.get("authorized") and s.get("tx_id") == tx_id:
                return cid
        return None

    def set_transaction_id(self, connector_id, key, tx_id):
        """The CSMS's transactionId of the session `key` (also kept for tx_stop)."""
        self.store.set_meta("txid:%d:%d" % (connector_id, key), tx_id)
        s = self.session(connector_id)
        if s and s["key"] == key:
            s["tx_id"] = tx_id
            self.store.set_meta(self._session_key(connector_id), s)
        self._transactions_changed()

    def transaction_id(self, connector_id, key):
        return self.store.get_meta("txid:%d:%d" % (connector_id, key))

    # --- life cycle ---------------------------------------------------------------------

    async def start(self):
        for cid, ln in self.links.items():
            ln.on_telemetry(lambda new, old, cid=cid: self._telemetry(cid, new))
            ln.on_record(lambda rec: self.process_records())
            ln.on_online(lambda up, cid=cid: log.info("EVSE %d link %s", cid,
                                                     "online" if up else "offline"))
        await self.process_records()  # left from before a restart
        for ln in self.links.values():
            await ln.start()

    async def stop(self):
        for ln in self.links.values():
            await ln.stop()

    # --- telemetry -> status -----------------------------------------------------------

    def _telemetry(self, cid, t):
        status = SESSION_STATUS.get(t.session, "Unavailable")
        s = self.session(cid)
        if s and not s.get("authorized") and status in ("Preparing", "SuspendedEV",
                                                        "SuspendedEVSE"):
            status = "Preparing"  # plugged in, waiting for an authorisation
        code, vendor = "NoError", None
        fault = self._fault.get(cid)
        if status == "Faulted":
            code, vendor = FAULT_ERROR.get(fault, ("OtherError", "fault_%s" % fault))
        info = "failsafe" if t.has("failsafe") else ("override" if t.has("override") else None)
        self._set_status(cid, ConnectorStatus(status, code, vendor, info))

    def _refresh(self, cid):
        t = self.links[cid].telemetry
        if t is not None:
            self._telemetry(cid, t)

    def _set_status(self, cid, st):
        if self._status.get(cid) == st:
            return
        self._status[cid] = st
        for fn in self._status_listeners:
            fn(cid, st)

    # --- records -> transaction events (durable) ----------------------------------------

    @staticmethod
    def _session_key(cid):
        return "session:%d" % cid

    def _unix_s(self, rec):
        return rec.unix_s if rec.unix_s > 1_000_000_000 else rec.received_unix_ms // 1000

    async def process_records(self):
        """Every committed record not yet processed, in commit order: the transaction events
        it implies are enqueued in the transaction that marks it processed."""
        async with self._records_lock:
            store = self.store
            for rec in await store.aio(store.records, unprocessed=True):
                enqueue, after = self._events_for(rec)
                ids = await store.aio(store.mark_processed, rec.id, enqueue)
                if ids:
                    self.queue_changed.set()
                for fn in after:
                    await fn()

    def _events_for(self, rec):
        """-> ([(action, payload)], [coroutine functions to run once it is stored])."""
        cid = rec.evse_id
        if rec.mtype != lm.EVENT or cid not in self.links:
            return [], []
        name, args = lm.event_args(rec.fields)
        if name == "fault":
            if args["active"]:
                self._fault[cid] = args["fault"]
            else:
                self._fault.pop(cid, None)
        elif name == "session_start":
            return self._session_start(cid, rec, args)
        elif name == "session_stop":
            return self._session_stop(cid, rec, args), []
        return [], []

    def _session_start(self, cid, rec, args):
        register = args["energy_import_wh"]
        if register < 0:  # no fresh meter reading at plug-in: the telemetry's register
            t = self.links[cid].telemetry
            register = t.energy_import_wh if t is not None else 0
        id_tag = self._remote_tag.pop(cid, None) or self.free_vend_id_tag
        s = {"key": rec.id, "session_id": args["session_id"], "meter_start_wh": register,
             "id_tag": id_tag, "authorized": id_tag is not None, "stop_reason": None,
             "start_unix_s": self._unix_s(rec)}
        self.store.set_meta(self._session_key(cid), s)
        self._refresh(cid)
        if id_tag is None:  # no authorisation yet: hold the charge in the firmware
            return [], [lambda: self._command(cid, lm.CMD_PAUSE, 0)]
        return [("tx_start", self._tx_start(cid, s, self._unix_s(rec)))], []

    @staticmethod
    def _tx_start(cid, s, unix_s):
        return {"connector_id": cid, "key": s["key"], "id_tag": s["id_tag"],
                "meter_start_wh": s["meter_start_wh"], "unix_s": unix_s}

    def _session_stop(self, cid, rec, args):
        s = self.session(cid)
        self.store.set_meta(self._session_key(cid), None)
        self._transactions_changed()
        if not s or not s.get("authorized") or s["session_id"] != args["session_id"]:
            return []
        reason = s.get("stop_reason") or STOP_REASON.get(args["stop_reason"], "Other")
        return [("tx_stop", {"connector_id": cid, "key": s["key"], "id_tag": s["id_tag"],
                             "meter_stop_wh": s["meter_start_wh"] + args["energy_wh"],
                             "unix_s": self._unix_s(rec), "reason": reason})]

    # --- requests from the CSMS ---------------------------------------------------------

    async def _command(self, cid, cmd, arg):
        try:
            r = await self.links[cid].command(cmd, arg)
        except LinkError as e:
            log.warning("EVSE %d: command %d(%d) failed: %s", cid, cmd, arg, e)
            return False
        return r.ok

    def can_remote_start(self, cid):
        if cid not in self.links or not self.links[cid].online:
            return False
        s = self.session(cid)
        return not (s and s.get("authorized"))

    async def remote_start(self, cid, id_tag):
        """A remote start: the session waiting at the connector starts a transaction now
        (meterStart from the telemetry's import register); with nothing plugged in, the
        next plug-in starts it with this idTag."""
        s = self.session(cid)
        if s is None:
            self._remote_tag[cid] = id_tag
            old = self._remote_timer.pop(cid, None)
            if old is not None:
                old.cancel()
            if self.remote_start_timeout_s > 0:
                self._remote_timer[cid] = asyncio.get_running_loop().call_later(
                    self.remote_start_timeout_s, self._expire_remote_tag, cid, id_tag)
            await self._command(cid, lm.CMD_START, 0)
            return
        t = self.links[cid].telemetry
        s.update(id_tag=id_tag, authorized=True, start_unix_s=int(self.clock()),
                 meter_start_wh=t.energy_import_wh if t is not None else s["meter_start_wh"])
        store = self.store
        await store.aio(store.set_meta, self._session_key(cid), s)
        self._refresh(cid)
        await store.aio(store.enqueue, "tx_start",
                        self._tx_start(cid, s, int(self.clock())), cid)
        self.queue_changed.set()
        await self._command(cid, lm.CMD_RESUME, 0)
        await self._command(cid, lm.CMD_START, 0)

    def _expire_remote_tag(self, cid, id_tag):
        """No plug-in within the timeout (1.6 ConnectionTimeOut): the remote start lapses."""
        self._remote_timer.pop(cid, None)
        if self._remote_tag.get(cid) == id_tag:
            del self._remote_tag[cid]
            log.info("EVSE %d: remote start for %s lapsed (no plug-in)", cid, id_tag)

    async def remote_stop(self, cid):
        s = self.session(cid)
        if s:
            s["stop_reason"] = "Remote"
            await self.store.aio(self.store.set_meta, self._session_key(cid), s)
        return await self._command(cid, lm.CMD_STOP, lm.STOP_REMOTE)

    async def reset(self, hard):
        for cid in self.links:
            s = self.session(cid)
            if s:
                s["stop_reason"] = "HardReset" if hard else "SoftReset"
                await self.store.aio(self.store.set_meta, self._session_key(cid), s)
        await asyncio.gather(*(self._command(cid, lm.CMD_RESET, 1 if hard else 0)
                               for cid in self.links))

    async def set_available(self, cid, available):
        """cid 0: every connector."""
        cids = list(self.links) if cid == 0 else [cid]
        results = await asyncio.gather(*(self._command(c, lm.CMD_AVAILABILITY, int(available))
                                         for c in cids))
        return all(results)
