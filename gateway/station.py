"""The version-neutral charging station: one connector per EvseLink (EVSE id = connector id,
1..N in --evse order). It knows no OCPP message; an OCPP adapter (gateway/ocpp16/) sees:

- `status(connector_id)` -> `ConnectorStatus` and `on_status(fn)` when one changes;
- transaction events in the store's durable outbound FIFO, made from committed firmware
  records in the same SQLite transaction that marks the record processed (docs/ocpp.md):
  ("tx_start", {...}), ("tx_stop", {...}) and ("notice", {...}) (what the firmware decided
  on its own, gateway/notices.py); `queue_changed` is set when one is added;
- `remote_start`, `remote_stop`, `unlock`, `reset`, `set_available`: requests that reach
  the firmware (gateway/station_requests.py).

Session states come from the firmware's TELEMETRY, decided with what only the gateway knows
(gateway/connector_status.py); fault codes from its EV_FAULT and EV_METER records.
"""

import asyncio
import logging
import time
from dataclasses import dataclass

from gateway import connector_status
from gateway.ev_soc import EvSoc
from gateway.invalid_id import InvalidId
from gateway.notices import METER_REASONS, notice
from gateway.station_requests import CsmsRequests
from protocols import link_messages as lm

log = logging.getLogger(__name__)

# After an EVSE link comes (back) online the firmware replays the records it holds while
# its TELEMETRY already shows the present: until no record came for this long, the
# station's sessions may lag the firmware's (a later session's values must not be sampled
# under an earlier transaction).
RECORDS_QUIET_S = 0.3

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


class Station(CsmsRequests):
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
        self._meter_fault = {}  # connector id -> reason of the active meter fault (EV_METER)
        self._loop = None
        self._inoperative_cache = {}  # connector id -> ChangeAvailability Inoperative
        self._remote_tag = {}  # connector id -> idTag of a remote start before plug-in
        self.remote_start_timeout_s = 0  # a remote start waits this long for plug-in; 0: ever
        self._remote_timer = {}  # connector id -> its asyncio TimerHandle
        self._status_listeners = []
        self._tx_listeners = []
        self.smart = None  # gateway.charging.SmartCharging, set by the caller
        self.security_log = None  # gateway.security_log.SecurityLog, set by the caller
        # fn(connector_id, source) -> why a new external limit (HEMS / DNO) is refused now, or
        # None; set by the 2.0.1 adapter (gateway/ocpp201/external_limits.py)
        self.external_limit_gate = None
        self.ev_soc = EvSoc(self.links, clock)  # AG-07: the EV's SoC, the firmware's or given
        self._records_lock = asyncio.Lock()
        self._staged = {}  # meta a record's processing changes, until it is committed
        self._synced_at = {}  # connector id -> loop time its record replay is over
        self.invalid_id = InvalidId(self)  # an idToken the CSMS did not accept

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
        """fn(), called when a session was authorised (a transaction began), got its
        transactionId or ended, and when a remote start lapsed (from the store's worker
        thread too)."""
        self._tx_listeners.append(fn)

    def _transactions_changed(self):
        for fn in self._tx_listeners:
            fn()
        if self._loop is not None:  # a transactionId changes the status (may be a thread)
            self._loop.call_soon_threadsafe(self._refresh_all)

    def session(self, connector_id):
        """The firmware session of the connector as the station tracks it, or None:
        {key, session_id, meter_start_wh, id_tag, authorized, stop_reason}. A record being
        processed shows at once (the sampler never queues MeterValues behind the
        session's tx_stop)."""
        return self._meta(self._session_key(connector_id))

    def _meta(self, key):
        if key in self._staged:
            value = self._staged[key]
            return dict(value) if isinstance(value, dict) else value
        return self.store.get_meta(key)

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

    def transaction_meta(self, connector_id, key, tx_id):
        """What the CSMS's transactionId of the session `key` changes in the store, for
        `store.complete` to commit with the StartTransaction's answer (one transaction:
        a kill never leaves the answer half stored); then call transactions_changed()."""
        def with_id(s):
            return dict(s, tx_id=tx_id) if s and s.get("key") == key else s
        return {"txid:%d:%d" % (connector_id, key): tx_id,
                self._session_key(connector_id): with_id}

    def transactions_changed(self):
        self._transactions_changed()

    def evse_state(self, cid):
        """What the firmware of EVSE cid reports of its own decisions (AG-11, AG-12, UK-11),
        JSON-ready: the answer of the vendor GetEvseState DataTransfer (docs/ocpp.md)."""
        ln = self.links[cid]
        t = ln.telemetry
        st = self.status(cid)
        state = {"linkOnline": ln.online, "status": st.status if st is not None else None}
        if t is not None:
            state.update(failsafe=t.has("failsafe"), override=t.has("override"),
                         delayRemainingS=t.delay_remaining_s,
                         noChargeWindow=t.has("no_charge_window"),
                         meterStale=t.has("meter_stale"), offeredMa=t.offered_ma,
                         limitSource=t.limit_source)
        return state

    def security_event(self, event_type, tech_info=None):
        """Record a security event (UK-S10) in the station's log, if it keeps one."""
        if self.security_log is not None:
            self.security_log.record(event_type, tech_info)

    # --- life cycle ---------------------------------------------------------------------

    async def start(self):
        self._loop = asyncio.get_running_loop()
        for cid, ln in self.links.items():
            ln.on_online(lambda up, cid=cid: self._online(cid, up))
            ln.on_telemetry(lambda new, old, cid=cid: self._telemetry(cid, new))
            ln.on_record(lambda rec, cid=cid: self._record_arrived(cid))
        await self.process_records()  # left from before a restart
        for ln in self.links.values():
            await ln.start()

    async def stop(self):
        # together: one by one took ~0.4 s per EVSE, 26 s for 64 (bench/p5)
        await asyncio.gather(*(ln.stop() for ln in self.links.values()))

    async def _record_arrived(self, cid):
        now = asyncio.get_running_loop().time()
        if now < self._synced_at.get(cid, 0):
            self._synced_at[cid] = now + RECORDS_QUIET_S  # the replay goes on
        await self.process_records()

    def records_synced(self, cid):
        """The EVSE's link is online and its record replay is over (RECORDS_QUIET_S without
        a record): its TELEMETRY belongs to the session the station tracks."""
        at = self._synced_at.get(cid)
        return at is not None and asyncio.get_running_loop().time() >= at

    # --- telemetry -> status -----------------------------------------------------------

    def _telemetry(self, cid, t):
        s = self.session(cid)
        status = connector_status.decide(
            SESSION_STATUS.get(t.session, "Unavailable"),
            transaction=bool(s and s.get("authorized") and s.get("tx_id") is not None),
            remote_start_pending=cid in self._remote_tag,
            inoperative=self._inoperative(cid))
        code, vendor = "NoError", None
        fault = self._fault.get(cid)
        if status == "Faulted":
            code, vendor = FAULT_ERROR.get(fault, ("OtherError", "fault_%s" % fault))
        info = connector_status.info(t, self._meter_fault.get(cid))
        self._set_status(cid, ConnectorStatus(status, code, vendor, info))

    def _refresh(self, cid):
        t = self.links[cid].telemetry
        if t is not None:
            self._telemetry(cid, t)

    def _refresh_all(self):
        for cid in self.links:
            self._refresh(cid)

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

    session_meta_key = _session_key  # the store metadata key of session() (for a meta fn)

    @property
    def loop(self):
        """The event loop the station runs on, once started (None before)."""
        return self._loop

    def _unix_s(self, rec):
        return rec.unix_s if rec.unix_s > 1_000_000_000 else rec.received_unix_ms // 1000

    async def process_records(self):
        """Every committed record not yet processed, in commit order: the transaction events
        it implies are enqueued, and the session state it changes is stored, in the
        transaction that marks it processed (a kill in between redoes all of it)."""
        async with self._records_lock:
            store = self.store
            for rec in await store.aio(store.records, unprocessed=True):
                meta = {}
                enqueue, after = self._events_for(rec, meta)
                try:
                    ids = await store.aio(store.mark_processed, rec.id, enqueue, meta)
                finally:
                    for k in meta:
                        self._staged.pop(k, None)
                if ids:
                    self.queue_changed.set()
                for fn in after:
                    await fn()

    async def enqueue_for_session(self, cid, key, action, payload, meta=None):
        """Queue an adapter's message of the transaction of session `key` (e.g. a 2.0.1
        charging-state change) behind what the session's records queued: taken after the
        record being processed is committed, dropped when the transaction is over. meta
        (as Store.enqueue's) commits with it; action None: only meta."""
        async with self._records_lock:
            s = self.session(cid)
            if not (s and s.get("key") == key and s.get("authorized")):
                return False
            store = self.store
            if action is None:
                await store.aio(store.set_meta_many, meta or {})
                return True
            await store.aio(store.enqueue, action, dict(payload, connector_id=cid, key=key),
                            cid, meta=meta)
        self.queue_changed.set()
        return True

    def _stage(self, meta, key, value):
        meta[key] = value
        self._staged[key] = value

    def _events_for(self, rec, meta):
        """-> ([(action, payload)], [coroutine functions to run once it is stored]); the
        metadata it changes goes into meta (and shows in session() at once)."""
        cid = rec.evse_id
        if rec.mtype != lm.EVENT or cid not in self.links:
            return [], []
        name, args = lm.event_args(rec.fields)
        if name == "fault":
            if args["active"]:
                self._fault[cid] = args["fault"]
            else:
                self._fault.pop(cid, None)
        elif name == "meter" and args["reason"] < 16:  # 16, 17: energy flags, no fault
            if args["ok"]:
                self._meter_fault.pop(cid, None)
            else:
                self._meter_fault[cid] = METER_REASONS.get(args["reason"], "fault")
            self._refresh(cid)
        elif name == "command" and args["command"] == lm.CMD_STOP and args["status"] == lm.ST_OK:
            return self._transaction_stopped(cid, rec, meta), []
        elif name == "boot" and self._inoperative(cid):  # a rebooted firmware forgot it
            return [], [lambda: self.command(cid, lm.CMD_AVAILABILITY, 0)]
        elif name == "session_start":
            return self._session_start(cid, rec, args, meta)
        elif name == "session_stop":
            return self._session_stop(cid, rec, args, meta), []
        found = notice(rec.fields["code"], args)
        if found is None:
            return [], []
        if found[0] == "SecurityEvent" and found[1]["type"] == "TamperDetected":
            self.security_event("TamperDetectionActivated",
                                "EVSE %d: enclosure opened (tamper switch)" % cid)
        return [("notice", {"connector_id": cid, "kind": found[0], "data": found[1],
                            "unix_s": self._unix_s(rec)})], []

    @staticmethod
    def _open_key(cid, session_id):
        """A transaction whose firmware session was replaced before its stop came: after a
        power cut the firmware logs the new session's start (EV still plugged in) before
        the STOP_POWER_LOSS of the old one (firmware/evse/energy.py)."""
        return "open:%d:%d" % (cid, session_id)

    def _session_start(self, cid, rec, args, meta):
        old = self.session(cid)
        if old and old.get("authorized") and old["session_id"] != args["session_id"]:
            self._stage(meta, self._open_key(cid, old["session_id"]), old)
        register = args["energy_import_wh"]
        if register < 0:  # no fresh meter reading at plug-in: the telemetry's register
            t = self.links[cid].telemetry
            register = t.energy_import_wh if t is not None else 0
        id_tag = self._remote_tag.pop(cid, None) or self.free_vend_id_tag
        if self._inoperative(cid):  # reported Unavailable: no transaction, even if the
            id_tag = None           # plug-in came before the firmware took CMD_AVAILABILITY
        s = {"key": rec.id, "session_id": args["session_id"], "meter_start_wh": register,
             "id_tag": id_tag, "authorized": id_tag is not None, "stop_reason": None,
             "start_unix_s": self._unix_s(rec)}
        self._stage(meta, self._session_key(cid), s)
        self._refresh(cid)
        if id_tag is None:  # no authorisation yet: hold the charge in the firmware
            return [], [lambda: self.command(cid, lm.CMD_PAUSE, 0)]
        self._transactions_changed()  # smart charging: its site share and TxProfile now
        return [("tx_start", self._tx_start(cid, s, self._unix_s(rec), "plug_in"))], []

    @staticmethod
    def _tx_start(cid, s, unix_s, cause):
        """cause: what began the transaction, "plug_in" (free vend, or a remote start that
        waited for it) or "remote_start" (of a session already plugged in)."""
        return {"connector_id": cid, "key": s["key"], "id_tag": s["id_tag"],
                "meter_start_wh": s["meter_start_wh"], "unix_s": unix_s, "cause": cause}

    def _session_stop(self, cid, rec, args, meta):
        s = self.session(cid)
        if s and s["session_id"] == args["session_id"]:
            self._stage(meta, self._session_key(cid), None)
        else:
            s = self._meta(self._open_key(cid, args["session_id"]))
            if s:
                self._stage(meta, self._open_key(cid, args["session_id"]), None)
        self._transactions_changed()
        if not s or not s.get("authorized"):
            return []
        reason = s.get("stop_reason") or STOP_REASON.get(args["stop_reason"], "Other")
        return [("tx_stop", {"connector_id": cid, "key": s["key"], "id_tag": s["id_tag"],
                             "meter_stop_wh": s["meter_start_wh"] + args["energy_wh"],
                             "unix_s": self._unix_s(rec), "reason": reason})]

    def _transaction_stopped(self, cid, rec, meta):
        """CMD_STOP done (RemoteStopTransaction, UnlockConnector): the transaction ends now,
        not when the cable comes out (OCPP 1.6 §5.11, §5.17: StopTransaction, then Finishing
        while the EV is still plugged in). meterStop: the import register now (the
        contactor is open from here on). The session stays until the unplug, without a
        transaction: its EV_SESSION_STOP sends nothing more."""
        s = self.session(cid)
        if not s or not s.get("authorized"):
            return []
        t = self.links[cid].telemetry
        meter_stop_wh = s["meter_start_wh"]
        if t is not None and t.energy_import_wh > meter_stop_wh:
            meter_stop_wh = t.energy_import_wh
        self._stage(meta, self._session_key(cid), dict(s, authorized=False, tx_stopped=True))
        self._transactions_changed()
        return [("tx_stop", {"connector_id": cid, "key": s["key"], "id_tag": s["id_tag"],
                             "meter_stop_wh": meter_stop_wh, "unix_s": self._unix_s(rec),
                             "reason": s.get("stop_reason") or "Remote"})]

    async def _online(self, cid, up):
        log.info("EVSE %d link %s", cid, "online" if up else "offline")
        if up:
            self._synced_at[cid] = asyncio.get_running_loop().time() + RECORDS_QUIET_S
        else:
            self._synced_at.pop(cid, None)
        if up and self._inoperative(cid):
            await self.command(cid, lm.CMD_AVAILABILITY, 0)  # a rebooted firmware forgot
