"""Smart charging of the station, version-neutral (docs/smart_charging.md): the installed
charging profiles (gateway.smart.ProfileStore, persisted as `profiles.json` in the state
directory), the rules a new profile must pass, the composite schedule of a connector, and the
SCHEDULE pushed to every firmware (entity SRC_CSMS).

After every change (a profile installed or cleared, a session authorised, numbered or ended,
an EVSE link back online) and at the plan's `next_recompute_s`, `to_link.plan` runs for every
EVSE (allow_repeat: the firmware holds 28 periods and follows repeat_s; the station-wide limit
shared in SITE_STEP_MA blocks) and each EVSE whose schedule changed gets it with
`EvseLink.set_schedule`. An offline EVSE gets it after its next HELLO (the link stores it
first). Schedules that lower an offer are pushed first; those that raise one follow once the
lower ones were taken and the EVs had EV_FOLLOW_S to follow them, and are held while one was
not taken (an offline EVSE keeps what it had), so neither the offers nor the currents drawn
add up to more than the station limit while the shares move.

A transaction counts from the moment its session is authorised (free vend at plug-in, or a
remote start), before the CSMS numbered it: it gets its site share and its TxProfile at once,
even while the CSMS is unreachable. The TxProfile of a RemoteStartTransaction (OCPP 1.6 §5.11)
is installed without transactionId; while the remote start waits for the plug-in the EVSE
already follows it (so the first offer is the profile's), it names the transaction once the
CSMS numbered it, and it goes with the transaction, or when the remote start lapses."""

import asyncio
import dataclasses
import logging
import time

from gateway.smart.composite import composite_schedule
from gateway.smart.model import UNIT_A
from gateway.smart.profiles import (
    TX,
    ProfileStore,
    Refusal,
    SmartConfig,
    StationState,
    Transaction,
    check_profile,
    profile_from_ocpp16,
    profile_from_ocpp201,
)
from gateway.smart.to_link import LINK_MAX_PERIODS, EvseInfo, plan, raises
from protocols import link_messages as lm

log = logging.getLogger(__name__)

PROFILE_FILE = "profiles.json"
RETRY_S = 30  # after a failed recompute
HELD_RETRY_S = 5  # raises held back by a lower schedule not taken: again (or at its HELLO)
# IEC 61851-1 Annex A gives an EV about 5 s to follow a lower duty: under a site limit the
# raise of another EVSE's offer waits that long after the lowering was taken, so the
# currents drawn (not only the offers) stay under the station limit while shares move.
EV_FOLLOW_S = 5
# The limits GetConfiguration reports (gateway/config16.py SMART_READ_ONLY): stack levels
# 0..10, A and W, the firmware's 28 periods, 20 profiles.
DEFAULT_CONFIG = SmartConfig(max_stack_level=10, max_periods=LINK_MAX_PERIODS, max_profiles=20)
# Site shares in whole blocks of the firmware's default current_step_ma (docs/firmware.md,
# AG-10): a finer share would be rounded down by the firmware and the rest wasted.
SITE_STEP_MA = 1000


class SmartCharging:
    def __init__(self, station, path, config=None, clock=time.time):
        """station: gateway.station.Station; path: the profile file (None: memory only)."""
        self.station = station
        self.config = config or DEFAULT_CONFIG
        self.profiles = ProfileStore(None if path is None else str(path), self.config)
        if self.profiles.load_error:
            log.warning("charging profiles: %s", self.profiles.load_error)
        self.clock = clock
        # 2.0.1: the station numbers its transactions (E01): fn(session key) -> the
        # transactionId its Started event carries, known from the authorisation on, so a
        # TxProfile may name it as soon as the CSMS has it (None: the CSMS numbers, 1.6)
        self.transaction_name = None
        self._changed = asyncio.Event()
        self._pushed = {}  # evse_id -> key of the last schedule the firmware took
        self._acked = {}  # evse_id -> the LinkSchedule the firmware took last
        self._known_tx = {}  # evse_id -> (session key, transaction id or None) seen last
        # evse_id -> [profile id, since_s, made]: the TxProfile of a remote start whose session
        # has not begun; made once the station took the remote start (before: never lapsed)
        self._remote = {}
        self._lock = asyncio.Lock()  # one recompute at a time: the push order holds
        self._task = None
        self._loop = None
        # () -> the station's own ChargingStationExternalConstraints (2.0.1 K11-K13, set by
        # gateway/ocpp201/external_limits.py): composed and listed with the installed profiles,
        # never pushed in the SCHEDULE (the firmware holds each as its entity's LIMIT)
        self.external_profiles = tuple

    # --- what the OCPP adapters ask --------------------------------------------------------

    def set_rate_units(self, units):
        """The units new profiles and GetCompositeSchedule may use (2.0.1 RateUnit)."""
        self.config = dataclasses.replace(self.config, rate_units=tuple(units))
        self.profiles.config = self.config

    def now_s(self):
        return int(self.clock())

    def _sessions(self):
        """evse_id -> the station's authorised session (a transaction, numbered or not)."""
        out = {}
        for cid in self.station.connector_ids:
            s = self.station.session(cid)
            if s and s.get("authorized"):
                out[cid] = s
        return out

    def _tx_id(self, s):
        """The transactionId of session s: the station's own (2.0.1), else the CSMS's or
        None until it numbered it."""
        if self.transaction_name is not None:
            return self.transaction_name(s["key"])
        return s.get("tx_id")

    def transactions(self):
        """evse_id -> Transaction of every running transaction: its id as text, None until
        the CSMS numbered it."""
        return {cid: Transaction(None if self._tx_id(s) is None else str(self._tx_id(s)),
                                 int(s.get("start_unix_s") or self.now_s()))
                for cid, s in self._sessions().items()}

    def _followed(self):
        """transactions(), and the remote starts with a TxProfile whose session has not
        begun: the EVSE follows that profile already, so its first offer is the profile's
        (Relative schedules count from the remote start until the session begins)."""
        txs = self.transactions()
        for cid, (_, since_s, _) in self._remote.items():
            txs.setdefault(cid, Transaction(None, since_s))
        return txs

    def state(self):
        return StationState(tuple(self.station.connector_ids), self.transactions())

    def install(self, profile, remote_start=False):
        """-> None (installed, a push follows) or the Refusal (logged)."""
        refusal = None
        if any(p.id == profile.id for p in self.external_profiles()):
            refusal = Refusal("DuplicateProfile", "profile id %d belongs to an external "
                              "constraint and cannot be replaced [K01.FR.05]" % profile.id)
        refusal = refusal or self.profiles.install(profile, self.state(),
                                                   remote_start=remote_start)
        if refusal:
            log.warning("SetChargingProfile %d rejected: %s", profile.id, refusal)
            return refusal
        log.info("charging profile %d installed: %s stackLevel %d on connector %d",
                 profile.id, profile.purpose, profile.stack_level, profile.evse_id)
        self.changed()
        return None

    def _remote_profile(self, evse_id, payload, v201):
        if v201:
            return profile_from_ocpp201(evse_id, payload, self.now_s())
        return profile_from_ocpp16(evse_id, payload, self.now_s())

    def remote_start_profile(self, evse_id, payload, v201=False):
        """The chargingProfile of a RemoteStartTransaction (OCPP 1.6 §5.11: a TxProfile
        without transactionId; 2.0.1 RequestStartTransaction, F01.FR.08) -> (profile,
        None), checked but not installed, or (None, Refusal) (logged)."""
        profile, refusal = self._remote_profile(evse_id, payload, v201)
        if refusal is None:
            refusal = check_profile(profile, self.state(), self.config,
                                    self.profiles.profiles(), remote_start=True)
        if refusal:
            log.warning("RemoteStartTransaction chargingProfile rejected: %s", refusal)
            return None, refusal
        return profile, None

    def install_remote_start(self, evse_id, payload, v201=False):
        """Install the chargingProfile of a remote start about to be made on evse_id -> None
        or the Refusal (logged; the remote start must not go on)."""
        self._follow_transactions()  # a transaction that just ended takes only its own
        profile, refusal = self._remote_profile(evse_id, payload, v201)
        refusal = refusal or self.profiles.install(profile, self.state(), remote_start=True)
        if refusal:
            log.warning("RemoteStartTransaction chargingProfile rejected: %s", refusal)
            return refusal
        self._remote[evse_id] = [profile.id, self.now_s(), False]
        log.info("charging profile %d of a remote start installed on connector %d",
                 profile.id, evse_id)
        self.changed()
        return None

    def remote_start_made(self, evse_id):
        """The station took the remote start: from now on, with neither a session nor a
        remote start waiting on evse_id, it has lapsed and its TxProfile goes."""
        if evse_id in self._remote:
            self._remote[evse_id][2] = True
            self.changed()

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
        profiles = self.profiles.profiles() + list(self.external_profiles())
        return composite_schedule(profiles, evse_id, self.now_s(), duration_s,
                                  unit, self._followed(), evse_ids=ids,
                                  voltage_v=self.config.voltage_v,
                                  phases=self._phases())

    def query(self, evse_id=None, purpose=None, stack_level=None, ids=None, sources=None):
        """GetChargingProfiles (2.0.1 K09): ProfileStore.query over the installed profiles and
        the external constraints (chargingLimitSource EMS, SO, Other)."""
        out = self.profiles.query(evse_id, purpose, stack_level, ids, sources)
        for p in self.external_profiles():
            if ((evse_id is None or p.evse_id == evse_id)
                    and (purpose is None or p.purpose == purpose)
                    and (stack_level is None or p.stack_level == stack_level)
                    and (ids is None or p.id in ids)
                    and (sources is None or p.source in sources)):
                out.append(p)
        return out

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

    def unconstrained_limit(self, evse_id, unit):
        """What an unconstrained period of a composite schedule means here (2.0.1 TC_K_39:
        the station's own limit): the EVSE's rating from its HELLO (EVSE 0: the sum of the
        ratings), in A per phase or W on its phases; None when a rating is not known yet."""
        ids = self.station.connector_ids if evse_id == 0 else (evse_id,)
        phases = self._phases()
        total_ma, total_w = 0, 0
        for cid in ids:
            ln = self.station.links[cid]
            if ln.peer is None or not ln.peer.max_current_ma:
                return None
            total_ma += ln.peer.max_current_ma
            total_w += ln.peer.max_current_ma * self.config.voltage_v * phases[cid] // 1000
        return total_ma / 1000 if unit == UNIT_A else total_w

    def evse_infos(self):
        txs = self._followed()
        phases = self._phases()
        out = []
        for cid, ln in self.station.links.items():
            rating = ln.peer.max_current_ma if ln.peer is not None and ln.peer.max_current_ma \
                else None
            out.append(EvseInfo(cid, phases[cid], rating, txs.get(cid)))
        return out

    def _drop(self, ids, why):
        for pid in ids:
            self.profiles.clear(profile_id=pid)
        if ids:
            log.info("%s: TxProfiles %s removed", why, ids)

    def _follow_transactions(self):
        """TxProfiles follow their transaction: an ended one's go (1.6 §3.13.2), a remote
        start's names the transaction once numbered, and goes when the remote start lapsed
        without a session."""
        now = {cid: (s["key"], self._tx_id(s)) for cid, s in self._sessions().items()}
        for cid, (key, tx_id) in self._known_tx.items():
            if now.get(cid, (None,))[0] != key:
                gone = self.profiles.end_transaction(cid, tx_id)
                if gone:
                    log.info("transaction %s ended: TxProfiles %s removed", tx_id, gone)
        for cid, (_, tx_id) in now.items():
            self._remote.pop(cid, None)  # its session began: the profile is this session's
            if tx_id is not None and self.profiles.bind_transaction(cid, str(tx_id)):
                log.info("EVSE %d: TxProfiles now name transaction %s", cid, tx_id)
        for cid, (pid, _, made) in list(self._remote.items()):
            if made and self.station.session(cid) is None \
                    and not self.station.remote_start_waiting(cid):
                del self._remote[cid]
                self._drop([pid] if self.profiles.get(pid) else [],
                           "EVSE %d: remote start lapsed" % cid)
        self._known_tx = now

    async def recompute(self):
        """Plan every EVSE now and push what changed, lowering offers before raising others
        -> (the plan, True when raises were held back)."""
        async with self._lock:
            return await self._recompute()

    async def _recompute(self):
        now = self.now_s()
        self._follow_transactions()
        self.profiles.purge_expired(now)
        p = plan(self.profiles.profiles(), self.evse_infos(), now,
                 voltage_v=self.config.voltage_v, supply_phases=self.config.supply_phases,
                 max_periods=LINK_MAX_PERIODS, allow_repeat=True, step_ma=SITE_STEP_MA)
        todo = {cid: s for cid, s in p.schedules.items() if self._pushed.get(cid) != _key(s)}
        up = {cid: s for cid, s in todo.items() if raises(self._acked.get(cid), s, now)}
        down = [self._push(cid, s) for cid, s in todo.items() if cid not in up]
        taken = all(await asyncio.gather(*down))
        if up and p.site_limited and not taken:
            log.warning("site limit: raising EVSE %s waits until every lowered EVSE took its"
                        " schedule", sorted(up))
            return p, True
        if up and down and p.site_limited:
            await asyncio.sleep(EV_FOLLOW_S)
        await asyncio.gather(*(self._push(cid, s) for cid, s in up.items()))
        return p, False

    async def _push(self, cid, s):
        """-> True when the firmware took the schedule."""
        periods = [(off, None if ma == lm.LIMIT_NONE else ma) for off, ma in s.periods]
        ln = self.station.links[cid]
        r = await ln.set_schedule(lm.SRC_CSMS, s.start_unix_s, s.duration_s, periods,
                                  repeat_s=s.repeat_s)
        if r is None:  # offline, not answered, or re-sent by the link after a HELLO
            self._pushed.pop(cid, None)
            self._acked.pop(cid, None)  # what it follows is unknown until it answers
            log.info("EVSE %d: schedule %s repeat %d s stored, not taken yet (the link sends "
                     "it after the firmware's HELLO)", cid, periods, s.repeat_s)
            return False
        if r.ok:
            self._pushed[cid] = _key(s)
            self._acked[cid] = s
        else:
            log.warning("EVSE %d: SCHEDULE not taken: %s", cid, r)
        log.info("EVSE %d: schedule %s repeat %d s -> %s", cid, periods, s.repeat_s, r)
        return r.ok

    # --- life cycle ----------------------------------------------------------------------

    def start(self):
        self._loop = asyncio.get_running_loop()
        for ln in self.station.links.values():
            ln.on_online(lambda up: self.changed() if up else None)
        self.station.on_transaction(self.changed)
        self._known_tx = {cid: (s["key"], self._tx_id(s)) for cid, s in self._sessions().items()}
        # TxProfiles of no running transaction: those of one that ended before a crash, and
        # those of a remote start (not remembered across a restart), which would otherwise
        # fall to the next session on that connector
        running = {cid: None if tx is None else str(tx) for cid, (_, tx) in
                   self._known_tx.items()}
        self._drop([p.id for p in self.profiles.profiles() if p.purpose == TX and (
            p.evse_id not in running
            or p.transaction_id not in (None, running[p.evse_id]))],
            "start: no such transaction running")
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
                p, held = await self.recompute()
                wait_s = max(1, p.next_recompute_s - self.now_s())
                if held:
                    wait_s = min(wait_s, HELD_RETRY_S)
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
