"""Smart charging of the station, version-neutral (docs/smart_charging.md): the installed
charging profiles (gateway.smart.ProfileStore, persisted as `profiles.json` in the state
directory), the rules a new profile must pass, the composite schedule of a connector, and the
SCHEDULE pushed to every firmware (entity SRC_CSMS).

After every change (a profile installed or cleared, a transaction started or ended, an EVSE
link back online) and at the plan's `next_recompute_s`, `to_link.plan` runs for every EVSE
(allow_repeat: the firmware holds 28 periods and follows repeat_s) and each EVSE whose
schedule changed gets it with `EvseLink.set_schedule`. An offline EVSE gets it after its
next HELLO (the link stores it first)."""

import asyncio
import logging
import time

from gateway.smart.composite import composite_schedule
from gateway.smart.profiles import ProfileStore, SmartConfig, StationState, Transaction
from gateway.smart.to_link import LINK_MAX_PERIODS, EvseInfo, plan
from protocols import link_messages as lm

log = logging.getLogger(__name__)

PROFILE_FILE = "profiles.json"
RETRY_S = 30  # after a failed recompute
# The limits GetConfiguration reports (gateway/config16.py SMART_READ_ONLY): stack levels
# 0..10, A and W, the firmware's 28 periods, 20 profiles.
DEFAULT_CONFIG = SmartConfig(max_stack_level=10, max_periods=LINK_MAX_PERIODS, max_profiles=20)


class SmartCharging:
    def __init__(self, station, path, config=None, clock=time.time):
        """station: gateway.station.Station; path: the profile file (None: memory only)."""
        self.station = station
        self.config = config or DEFAULT_CONFIG
        self.profiles = ProfileStore(None if path is None else str(path), self.config)
        if self.profiles.load_error:
            log.warning("charging profiles: %s", self.profiles.load_error)
        self.clock = clock
        self._changed = asyncio.Event()
        self._pushed = {}  # evse_id -> key of the last schedule the firmware took
        self._known_tx = {}  # evse_id -> transaction id seen by the last recompute
        self._task = None
        self._loop = None

    # --- what the OCPP adapters ask --------------------------------------------------------

    def now_s(self):
        return int(self.clock())

    def transactions(self):
        """evse_id -> Transaction (id as text) of every transaction the CSMS numbered."""
        out = {}
        for cid in self.station.connector_ids:
            s = self.station.session(cid)
            if s and s.get("authorized") and s.get("tx_id") is not None:
                out[cid] = Transaction(str(s["tx_id"]), int(s.get("start_unix_s")
                                                            or self.now_s()))
        return out

    def state(self):
        return StationState(tuple(self.station.connector_ids), self.transactions())

    def install(self, profile, remote_start=False):
        """-> None (installed, a push follows) or the Refusal (logged)."""
        refusal = self.profiles.install(profile, self.state(), remote_start=remote_start)
        if refusal:
            log.warning("SetChargingProfile %d rejected: %s", profile.id, refusal)
            return refusal
        log.info("charging profile %d installed: %s stackLevel %d on connector %d",
                 profile.id, profile.purpose, profile.stack_level, profile.evse_id)
        self.changed()
        return None

    def clear(self, profile_id=None, evse_id=None, purpose=None, stack_level=None):
        """-> the ids removed (empty: nothing matched)."""
        ids = self.profiles.clear(profile_id, evse_id, purpose, stack_level)
        if ids:
            log.info("charging profiles cleared: %s", ids)
            self.changed()
        return ids

    def composite(self, evse_id, duration_s, unit):
        """The CompositeSchedule of a connector (0: the station) from now."""
        ids = tuple(self.station.connector_ids)
        return composite_schedule(self.profiles.profiles(), evse_id, self.now_s(), duration_s,
                                  unit, self.transactions(), evse_ids=ids,
                                  voltage_v=self.config.voltage_v,
                                  phases=self._phases())

    def changed(self):
        """Recompute and push soon (profiles, transactions or links changed). Thread-safe:
        the station may call it from the store's worker thread."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if self._loop is None or running is self._loop:
            self._changed.set()
        else:
            self._loop.call_soon_threadsafe(self._changed.set)

    # --- the plan ---------------------------------------------------------------------------

    def _phases(self):
        out = {0: self.config.supply_phases}
        for cid, ln in self.station.links.items():
            out[cid] = ln.peer.phases if ln.peer is not None and ln.peer.phases else 3
        return out

    def evse_infos(self):
        txs = self.transactions()
        phases = self._phases()
        out = []
        for cid, ln in self.station.links.items():
            rating = ln.peer.max_current_ma if ln.peer is not None and ln.peer.max_current_ma \
                else None
            out.append(EvseInfo(cid, phases[cid], rating, txs.get(cid)))
        return out

    def _end_transactions(self):
        """TxProfiles of transactions that ended go (1.6 §3.13.2)."""
        txs = self.transactions()
        for cid, tx_id in list(self._known_tx.items()):
            if cid not in txs or txs[cid].transaction_id != tx_id:
                gone = self.profiles.end_transaction(cid, tx_id)
                if gone:
                    log.info("transaction %s ended: TxProfiles %s removed", tx_id, gone)
        self._known_tx = {cid: t.transaction_id for cid, t in txs.items()}

    async def recompute(self):
        """Plan every EVSE now and push what changed -> the plan."""
        now = self.now_s()
        self._end_transactions()
        self.profiles.purge_expired(now)
        p = plan(self.profiles.profiles(), self.evse_infos(), now,
                 voltage_v=self.config.voltage_v, supply_phases=self.config.supply_phases,
                 max_periods=LINK_MAX_PERIODS, allow_repeat=True)
        pushes = [self._push(cid, s) for cid, s in p.schedules.items()
                  if self._pushed.get(cid) != _key(s)]
        await asyncio.gather(*pushes)
        return p

    async def _push(self, cid, s):
        periods = [(off, None if ma == lm.LIMIT_NONE else ma) for off, ma in s.periods]
        ln = self.station.links[cid]
        r = await ln.set_schedule(lm.SRC_CSMS, s.start_unix_s, s.duration_s, periods,
                                  repeat_s=s.repeat_s)
        if r is None:  # offline or not answered: stored, sent after the next HELLO
            self._pushed.pop(cid, None)
            return
        if r.ok:
            self._pushed[cid] = _key(s)
        else:
            log.warning("EVSE %d: SCHEDULE not taken: %s", cid, r)
        log.info("EVSE %d: schedule %s repeat %d s -> %s", cid, periods, s.repeat_s, r)

    # --- life cycle ----------------------------------------------------------------------

    def start(self):
        self._loop = asyncio.get_running_loop()
        for ln in self.station.links.values():
            ln.on_online(lambda up: self.changed() if up else None)
        self.station.on_transaction(self.changed)
        self._known_tx = {cid: t.transaction_id for cid, t in self.transactions().items()}
        self._task = asyncio.create_task(self._run())

    async def stop(self):
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self):
        self._changed.set()
        while True:
            await self._changed.wait()
            self._changed.clear()
            try:
                p = await self.recompute()
                wait_s = max(1, p.next_recompute_s - self.now_s())
            except Exception:
                log.exception("smart charging: recompute failed")
                wait_s = RETRY_S
            try:
                await asyncio.wait_for(self._changed.wait(), wait_s)
            except TimeoutError:
                self._changed.set()


def _key(s):
    """What a schedule asks, independent of when it was computed: the absolute instants of
    its changes (the first period is 'from now'); a repeating one as it is."""
    if s.repeat_s:
        return (s.start_unix_s, s.repeat_s, s.duration_s, s.periods)
    return (0, 0, s.duration_s, ((None, s.periods[0][1]),)
            + tuple((s.start_unix_s + o, ma) for o, ma in s.periods[1:]))
