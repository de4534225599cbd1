"""The energy-manager MQTT interface of one station (AG-05, T7-MULTI; docs/mqtt.md): the
station's EVSEs (gateway.station.Station and its EvseLinks) on one side, an MqttClient on the
other.

- out: `PREFIX/availability` "online" (retained; "offline" is the will and is published at a
  clean stop), `PREFIX/evse/<n>/state` (retained) whenever the firmware sends a TELEMETRY
  whose content changed, the connector status, the link or a limit changed, a limit expired,
  and at least every STATE_REFRESH_S; `PREFIX/evse/<n>/event` per committed firmware record;
  the Home Assistant discovery configs (retained) at every connection, when an EVSE's HELLO
  changes what they say, and when Home Assistant announces itself on
  `<discovery prefix>/status`.
- in: `PREFIX/evse/<n>/<command>/set`, handled one at a time in arrival order (latest
  wins), each answered on `PREFIX/evse/<n>/reply`. A limit goes to the firmware as a LIMIT of
  entity SRC_HEMS or SRC_DNO with its duration (the firmware expires it on its own, also
  without the gateway; the link stores and re-sends it after every HELLO), an override as
  COMMAND CMD_OVERRIDE, a SoC into the station's EvSoc (reported upstream as the SoC
  measurand)."""

import asyncio
import json
import logging
import re
import time

from gateway.hems import commands, state
from gateway.hems import discovery as ha
from gateway.hems.commands import CommandError, Limit, Override, Soc
from gateway.hems.topics import AVAILABLE, NOT_AVAILABLE
from gateway.link import LinkError
from gateway.link.evse_link import GATEWAY_SW_VERSION
from gateway.station import SESSION_STATUS
from protocols import link_messages as lm

log = logging.getLogger(__name__)

TICK_S = 0.25
STATE_REFRESH_S = 30.0
DEFAULT_MAX_CURRENT_MA = 32000  # the HA number's maximum until the EVSE's HELLO says
OVERRIDE_REFUSALS = {
    lm.ST_REJECTED: "refused by the firmware: an override lasts one charging session and no "
                    "EV is plugged in",
    lm.ST_UNSUPPORTED: "refused by the firmware: it has no override",
}


class HemsBridge:
    def __init__(self, station, client, topics, *, station_name="station",
                 manufacturer="smartevse-ref", model="gateway", discovery_prefix="homeassistant",
                 clock=time.time):
        """client: a gateway.hems.client.MqttClient made with the will
        (topics.availability, "offline") and subscribed to topics.commands (and
        `<discovery_prefix>/status`); discovery_prefix None: no Home Assistant discovery."""
        self.station = station
        self.client = client
        self.topics = topics
        self.station_name, self.manufacturer, self.model = station_name, manufacturer, model
        self.discovery_prefix = discovery_prefix
        self.clock = clock
        self._commands = asyncio.Queue()
        self._tasks = []
        self._dirty = set()  # EVSE ids whose state is to be published
        self._seen_telemetry = {}  # evse id -> the link's telemetry count last published
        self._next_refresh = {}  # evse id -> loop time of the next publish at the latest
        self._failsafe_ma = {}  # evse id -> current of the last EV_FAILSAFE on (None: off)
        self._discovered = {}  # evse id -> the Device last published
        self._publish_lock = asyncio.Lock()
        client.on_connected = self._connected
        client.on_message = self._message

    # --- life cycle ----------------------------------------------------------------------

    async def start(self):
        for cid, ln in self.station.links.items():
            ln.on_telemetry(lambda new, old, cid=cid: self._dirty.add(cid))
            ln.on_record(lambda rec, cid=cid: self._record(cid, rec))
            ln.on_online(lambda up, cid=cid: self._online(cid))
        self.station.on_status(lambda cid, st: self._dirty.add(cid))
        await self.client.start()
        self._tasks = [asyncio.create_task(self._command_loop(), name="hems commands"),
                       asyncio.create_task(self._tick_loop(), name="hems state")]

    async def stop(self):
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.stop(last=[(self.topics.availability, NOT_AVAILABLE)])

    # --- out -----------------------------------------------------------------------------

    def _connected(self):
        self.client.publish(self.topics.availability, AVAILABLE, retain=True)
        self._discovered.clear()
        self._publish_discovery()
        self._dirty.update(self.station.connector_ids)

    def _online(self, cid):
        self._dirty.add(cid)
        self._publish_discovery([cid])

    def _device(self, cid):
        peer = self.station.links[cid].peer
        sw = GATEWAY_SW_VERSION
        if peer is not None:
            sw = "firmware %s, %s" % (peer.sw_version, GATEWAY_SW_VERSION)
        rating = peer.max_current_ma if peer is not None and peer.max_current_ma else \
            DEFAULT_MAX_CURRENT_MA
        return ha.Device(self.station_name, self.manufacturer, self.model, sw, rating)

    def _publish_discovery(self, cids=None, force=False):
        if self.discovery_prefix is None or not self.client.connected:
            return
        for cid in cids or self.station.connector_ids:
            device = self._device(cid)
            if not force and self._discovered.get(cid) == device:
                continue
            for topic, payload in ha.messages(self.discovery_prefix, self.topics, cid, device):
                self.client.publish(topic, json.dumps(payload), retain=True)
            self._discovered[cid] = device

    def _record(self, cid, rec):
        if rec.mtype == lm.EVENT and rec.fields["code"] == lm.EV_FAILSAFE:
            self._failsafe_ma[cid] = rec.fields["c"] if rec.fields["a"] else None
            self._dirty.add(cid)
        self.client.publish(self.topics.event(cid), json.dumps(state.event(rec)))

    async def _tick_loop(self):
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(TICK_S)
            if not self.client.connected:
                continue
            now = loop.time()
            for cid, ln in self.station.links.items():
                count = ln.stats["telemetry"]
                if (cid in self._dirty or self._seen_telemetry.get(cid) != count
                        or now >= self._next_refresh.get(cid, 0)):
                    self._dirty.discard(cid)
                    self._seen_telemetry[cid] = count
                    try:
                        await self.publish_state(cid)
                    except Exception:
                        log.exception("EVSE %d: state not published", cid)

    async def publish_state(self, cid):
        """Publish the state of EVSE cid now (retained); nothing before its first TELEMETRY."""
        async with self._publish_lock:
            ln = self.station.links[cid]
            t = ln.telemetry
            if t is None:
                return
            store = self.station.store
            reqs = await store.aio(store.requests, cid)
            now_s = self.clock()
            failsafe_ma = self._failsafe_ma.get(cid) if t.has("failsafe") else None
            limit_list = state.limits(reqs, now_s, failsafe_ma)
            st = self.station.status(cid)
            payload = state.state(
                t, status=st.status if st else SESSION_STATUS.get(t.session, "Unavailable"),
                error_code=st.error_code if st else "NoError", online=ln.online,
                session_energy_wh=state.session_energy_wh(self.station.session(cid), t),
                soc_percent=self.station.ev_soc.percent(cid, t), limit_list=limit_list,
                now_s=int(now_s))
            self.client.publish(self.topics.state(cid), json.dumps(payload), retain=True)
            # the next publish at the latest: a limit expiring or the refresh
            due = [lim["expires_in_s"] for lim in limit_list if lim["expires_in_s"]]
            wait_s = min([STATE_REFRESH_S] + [d + 0.5 for d in due])
            self._next_refresh[cid] = asyncio.get_running_loop().time() + wait_s

    # --- in ------------------------------------------------------------------------------

    def _message(self, topic, payload, retained):
        if self.discovery_prefix is not None and topic == self.discovery_prefix + "/status":
            if payload == b"online":  # Home Assistant (re)started: tell it again
                self._publish_discovery(force=True)
            return
        self._commands.put_nowait((topic, payload, retained))

    async def _command_loop(self):
        while True:
            topic, payload, retained = await self._commands.get()
            try:
                await self._command(topic, payload, retained)
            except Exception:
                log.exception("HEMS command on %s failed", topic)

    def _evse_id(self, level):
        ids = self.station.connector_ids
        if re.fullmatch(r"[1-9][0-9]{0,3}", level) and int(level) in ids:
            return int(level)
        raise CommandError("unknown EVSE %r: this gateway has EVSE %s"
                           % (level, ", ".join(map(str, ids))))

    async def _command(self, topic, payload, retained):
        parsed = self.topics.parse_command(topic)
        if parsed is None:
            return
        level, name = parsed
        reply = {"topic": topic, "ok": False, "error": None}
        cid = None
        try:
            if retained:
                raise CommandError("a retained command is not applied (publish commands "
                                   "without the retain flag)")
            cmd = commands.decode(name, payload)
            cid = self._evse_id(level)
            if cmd.id is not None:
                reply["id"] = cmd.id
            reply.update(await self._HANDLERS[type(cmd)](self, cid, cmd) or {})
            reply["ok"] = True
        except CommandError as e:
            reply["error"] = str(e)
            rid = commands.request_id(payload)
            if rid is not None:
                reply["id"] = rid
            log.warning("HEMS command %s refused: %s", topic, e)
        self.client.publish(self.topics.reply(level), json.dumps(reply))
        if cid is not None:
            await self.publish_state(cid)

    async def _limit(self, cid, cmd):
        gate = self.station.external_limit_gate
        why = gate(cid, cmd.source) if gate is not None and cmd.current_ma is not None else None
        if why:
            raise CommandError(why)
        ln = self.station.links[cid]
        r = await ln.set_limit(cmd.entity, cmd.current_ma, cmd.duration_s)
        log.info("EVSE %d: %s limit %s mA for %d s -> %s", cid, cmd.source, cmd.current_ma,
                 cmd.duration_s, r)
        if r is None:  # stored first: the link sends it again after the next HELLO
            return {"applied": False, "note": "EVSE %d did not answer now (offline?): the "
                                              "limit is stored and sent when it is back" % cid}
        if not r.ok:
            raise CommandError("refused by the firmware: %s" % r.status_name)
        return {"applied": True, "offered_ma": r.value}

    async def _override(self, cid, cmd):
        try:
            r = await self.station.links[cid].command(lm.CMD_OVERRIDE, int(cmd.on))
        except LinkError as e:
            raise CommandError("EVSE %d did not take it: %s" % (cid, e)) from None
        if not r.ok:
            raise CommandError(OVERRIDE_REFUSALS.get(r.status, "refused by the firmware: %s"
                                                     % r.status_name))
        log.info("EVSE %d: override %s by the energy manager", cid, "on" if cmd.on else "off")
        return {}

    async def _soc(self, cid, cmd):
        soc = self.station.ev_soc
        soc.set(cid, cmd.soc_percent, "mqtt")
        return {"max_age_s": soc.max_age_s}

    _HANDLERS = {Limit: _limit, Override: _override, Soc: _soc}
