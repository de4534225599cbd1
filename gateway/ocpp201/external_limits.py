"""OCPP 2.0.1 external charging limits (Part 2 K11-K13): limits that come from outside the
CSMS, shown to it as ChargingStationExternalConstraints and reported with NotifyChargingLimit
and ClearedChargingLimit.

| where it comes from | held by the firmware as | chargingLimitSource | isGridCritical |
| --- | --- | --- | --- |
| the energy manager, MQTT `limit/set` source `hems` | LIMIT of SRC_HEMS | EMS | false |
| the DNO / load management, `limit/set` source `dno` | LIMIT of SRC_DNO | SO | true |
| the owner's override (button or `override/set`) | TELEMETRY flag `override` | Other | false |

The firmware keeps enforcing the limits on its own (DESIGN §5: the HEMS bridge stores each as
a LIMIT request of its entity, the link re-sends it, the firmware expires it), also while the
gateway or the CSMS is gone. This module only reads them: the store's LIMIT requests (what
the gateway asked, with the expiry) and the firmware's TELEMETRY (the override), and

- makes one ChargingStationExternalConstraints profile per EVSE and source (K11.FR.06,
  K12.FR.05): Absolute, stackLevel 0, A, one period, from when it was set until it expires;
  SmartCharging composes them with the CSMS's profiles in GetCompositeSchedule and lists them
  in GetChargingProfiles (chargingLimitSource EMS / SO / Other). They are never pushed in the
  CSMS's SCHEDULE: the firmware holds each as its own entity already. The override's profile
  carries the EVSE's rating: the override lifts the smart limits, so what binds is the
  hardware (it never lowers the composite);
- tells the CSMS: NotifyChargingLimit (chargingLimit {source, isGridCritical}, evseId, and
  chargingSchedule when SmartChargingCtrlr.NotifyChargingLimitWithSchedules is true,
  K11.FR.02/03, K12.FR.02/03) when a limit appears or changes by more than
  SmartChargingCtrlr.LimitChangeSignificance percent of the value last reported (a smaller
  change is not reported, K11.FR.02); ClearedChargingLimit when it goes (cleared, expired,
  the override off or the session over; K13.FR.02). With a transaction running on the EVSE a
  reported change also queues a TransactionEvent Updated, trigger ChargingRateChanged
  (K11.FR.04, K13.FR.03). What was reported is kept in the store (meta REPORTED_KEY), so a
  change made while the CSMS was unreachable or the gateway down is reported at the next
  connection, once;
- SmartChargingCtrlr.ExternalControlSignalsEnabled false: new energy-manager and DNO limits
  are refused (the MQTT reply says why, through Station.external_limit_gate) and the ones
  held are cleared in the firmware (reported as cleared).
"""

import asyncio
import dataclasses
import logging
import time
from fractions import Fraction

from ocpp.exceptions import OCPPError
from ocpp.v201 import call

from gateway.smart.model import ABSOLUTE, EXTERNAL, UNIT_A, ChargingProfile, Period, Schedule
from protocols import link_messages as lm

log = logging.getLogger(__name__)

# entity of the firmware's LIMIT -> (chargingLimitSource, isGridCritical)
ENTITY_SOURCES = {lm.SRC_HEMS: ("EMS", False), lm.SRC_DNO: ("SO", True)}
OWNER_SOURCE = ("Other", False)  # the owner at the charger (AG-12)
# Profile ids of the external constraints: ID_BASE + source code x 1000 + EVSE id (int32,
# far from the ids a CSMS hands out; a CSMS profile with one of them is refused, K01.FR.05)
ID_BASE = 2_100_000_000
SOURCE_CODES = {"EMS": 1, "SO": 2, "Other": 3}
REPORTED_KEY = "ocpp201:external_limits_reported"
TICK_S = 1.0
MAX_OFFER_MA = 80000  # IEC 61851-1 Annex A: 80 A, for an EVSE whose rating is not known yet
SC = "SmartChargingCtrlr"


@dataclasses.dataclass(frozen=True)
class External:
    """One external limit in force on an EVSE."""

    evse_id: int
    source: str  # chargingLimitSource
    grid_critical: bool
    limit_ma: int  # per phase
    start_s: int
    expires_s: int | None  # None: until replaced

    @property
    def key(self):
        return "%d:%s" % (self.evse_id, self.source)

    def profile(self):
        """The ChargingStationExternalConstraints profile (K11.FR.06)."""
        pid = ID_BASE + SOURCE_CODES[self.source] * 1000 + self.evse_id
        duration = None if self.expires_s is None else max(1, self.expires_s - self.start_s)
        schedule = Schedule(UNIT_A, (Period(0, Fraction(self.limit_ma, 1000)),),
                            start_s=self.start_s, duration_s=duration, schedule_id=pid)
        return ChargingProfile(pid, 0, EXTERNAL, ABSOLUTE, schedule, evse_id=self.evse_id,
                               source=self.source)


def significant(old_ma, new_ma, percent):
    """The limit changed by more than `percent` of the value last reported (K11.FR.02)."""
    if old_ma == new_ma:
        return False
    if old_ma == 0:
        return True
    return abs(new_ma - old_ma) * 100 > percent * old_ma


def entity_limits(evse_id, requests, now_s, started):
    """The store's LIMIT requests of one EVSE -> [External] of HEMS / DNO in force at now_s.
    started: {(evse_id, entity, generation): first seen unix s}, for limits without expiry
    (their request does not say when they were set); filled here."""
    out = []
    for r in requests:
        if r.kind != lm.LIMIT or r.entity not in ENTITY_SOURCES or not r.body:
            continue
        ma, expires = r.body.get("limit_ma"), r.body.get("expires_unix_s")
        if ma is None or (expires is not None and expires <= now_s):
            continue
        duration = r.body.get("duration_s") or 0
        if expires is not None and duration:
            start = expires - duration
        else:
            start = started.setdefault((evse_id, r.entity, r.generation), int(now_s))
        source, critical = ENTITY_SOURCES[r.entity]
        out.append(External(evse_id, source, critical, ma, int(start), expires))
    return out


def notify_call(e, with_schedule):
    """NotifyChargingLimit of one external limit (K11.FR.02/03/05: never CSO)."""
    schedule = None
    if with_schedule:
        schedule = e.profile().to_ocpp201()["charging_schedule"]
    return call.NotifyChargingLimit(
        charging_limit={"charging_limit_source": e.source, "is_grid_critical": e.grid_critical},
        evse_id=e.evse_id, charging_schedule=schedule)


class ExternalLimits:
    def __init__(self, station, dm, client, clock=time.time):
        """station: gateway.station.Station; dm: the 2.0.1 DeviceModel; client: the
        Ocpp201Client (its cp and accepted say whether the CSMS can be told now)."""
        self.station, self.dm, self.client, self.clock = station, dm, client, clock
        self._current = {}  # External.key -> External in force now
        self._started = {}  # see entity_limits
        self._override_since = {}  # evse id -> unix s the override was seen on
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        station.external_limit_gate = self.refusal
        smart = getattr(station, "smart", None)
        if smart is not None:
            smart.external_profiles = self.profiles

    # --- what the others ask -------------------------------------------------------------

    def profiles(self):
        """The ChargingStationExternalConstraints in force now (SmartCharging composes and
        lists them)."""
        now = self.clock()
        return [e.profile() for e in self._current.values()
                if e.expires_s is None or e.expires_s > now]

    def refusal(self, evse_id, source):
        """Why a new limit from an external system is not taken now, or None
        (SmartChargingCtrlr.ExternalControlSignalsEnabled)."""
        if not self.dm.flag(SC, "ExternalControlSignalsEnabled"):
            return ("external control signals are disabled on this station "
                    "(OCPP SmartChargingCtrlr.ExternalControlSignalsEnabled is false)")
        return None

    def wake(self):
        self._wake.set()

    # --- the loop ------------------------------------------------------------------------

    async def run(self):
        for ln in self.station.links.values():
            ln.on_record(lambda rec: self.wake() if rec.mtype == lm.EVENT else None)
            ln.on_telemetry(lambda new, old: self.wake() if old is None
                            or new.has("override") != old.has("override") else None)
        self.dm.on_change(lambda component, variable, instance, value: self.wake()
                          if component == SC else None)
        while True:
            try:
                await self.sync()
            except Exception:
                log.exception("external charging limits: sync failed")
            try:
                await asyncio.wait_for(self._wake.wait(), TICK_S)
            except TimeoutError:
                pass
            self._wake.clear()

    async def _read(self):
        """Every external limit in force now -> {key: External}."""
        store, now = self.station.store, self.clock()
        out = {}
        for cid, ln in self.station.links.items():
            reqs = await store.aio(store.requests, cid)
            for e in entity_limits(cid, reqs, now, self._started):
                out[e.key] = e
            t = ln.telemetry
            if t is not None and t.has("override"):
                since = self._override_since.setdefault(cid, int(now))
                rating = ln.peer.max_current_ma if ln.peer is not None and \
                    ln.peer.max_current_ma else MAX_OFFER_MA
                e = External(cid, *OWNER_SOURCE, rating, since, None)
                out[e.key] = e
            elif t is not None:
                self._override_since.pop(cid, None)
        return out

    async def _clear_disabled(self, current):
        """ExternalControlSignalsEnabled false: the firmware stops following what it holds."""
        entity = {v[0]: k for k, v in ENTITY_SOURCES.items()}
        for e in list(current.values()):
            if e.source in entity:
                log.info("EVSE %d: %s limit cleared: external control signals are disabled",
                         e.evse_id, e.source)
                await self.station.links[e.evse_id].set_limit(entity[e.source], None)
                del current[e.key]

    async def sync(self):
        """Read the limits in force, and tell the CSMS what changed since it was told."""
        async with self._lock:
            current = await self._read()
            if not self.dm.flag(SC, "ExternalControlSignalsEnabled"):
                await self._clear_disabled(current)
            self._current = current
            cp = self.client.cp
            if cp is None or not self.client.accepted:
                return
            store = self.station.store
            reported = dict(store.get_meta(REPORTED_KEY, {}))
            percent = self.dm.number(SC, "LimitChangeSignificance")
            with_schedule = self.dm.flag(SC, "NotifyChargingLimitWithSchedules")
            for key in sorted(set(reported) - set(current)):
                cid, source = reported[key]["evse_id"], reported[key]["source"]
                if await self._send(cp, call.ClearedChargingLimit(charging_limit_source=source,
                                                                  evse_id=cid)):
                    log.info("EVSE %d: ClearedChargingLimit %s", cid, source)
                    del reported[key]
                    await self._rate_changed(cid)
                    store.set_meta(REPORTED_KEY, reported)
            for key, e in sorted(current.items()):
                old = reported.get(key)
                if old is not None and not significant(old["limit_ma"], e.limit_ma, percent):
                    continue
                if await self._send(cp, notify_call(e, with_schedule)):
                    log.info("EVSE %d: NotifyChargingLimit %s %d mA", e.evse_id, e.source,
                             e.limit_ma)
                    reported[key] = {"evse_id": e.evse_id, "source": e.source,
                                     "limit_ma": e.limit_ma}
                    await self._rate_changed(e.evse_id)
                    store.set_meta(REPORTED_KEY, reported)

    async def _send(self, cp, req):
        """-> True when done: answered, or refused with a CallError (logged: a CSMS that does
        not take it would get it again forever). False: not answered, try again."""
        try:
            await cp.call(req, suppress=False)
        except OCPPError as e:
            log.warning("%s refused by the CSMS: %s", type(req).__name__, e)
        except Exception as e:  # timed out, the connection closed: it is told again later
            log.info("%s not answered (%r): again later", type(req).__name__, e)
            return False
        return True

    async def _rate_changed(self, cid):
        """K11.FR.04 / K13.FR.03: a reported change of a transaction's limit."""
        s = self.station.session(cid)
        if s and s.get("authorized"):
            await self.station.enqueue_for_session(
                cid, s["key"], "tx_update",
                {"trigger": "ChargingRateChanged", "unix_s": int(self.clock())})
