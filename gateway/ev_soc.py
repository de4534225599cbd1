"""The EV's state of charge (AG-07: reported "when the EV or its maker provides it"). The
firmware's TELEMETRY carries one when the EV tells it (soc_percent, 255 = unknown); an
energy manager or a vehicle cloud may give one through the gateway (gateway/hems,
`PREFIX/evse/<n>/soc/set`). `percent(evse_id, telemetry)` is what the station reports (the
SoC measurand of MeterValues, the MQTT state): the firmware's when it has one, else the last
one given within `max_age_s`; a given SoC is forgotten when the EV is unplugged (the next
EV is another battery)."""

import time

from protocols import link_messages as lm

DEFAULT_MAX_AGE_S = 600


class EvSoc:
    def __init__(self, links, clock=time.time, max_age_s=DEFAULT_MAX_AGE_S):
        """links: {evse_id: EvseLink}; their EV_UNPLUG records forget a given SoC."""
        self.clock = clock
        self.max_age_s = max_age_s
        self._given = {}  # evse id -> (percent, unix s given, source)
        for cid, ln in links.items():
            ln.on_record(lambda rec, cid=cid: self._record(cid, rec))

    def set(self, evse_id, percent, source):
        if not isinstance(percent, int) or isinstance(percent, bool) or not 0 <= percent <= 100:
            raise ValueError("soc_percent must be 0..100, got %r" % (percent,))
        self._given[evse_id] = (percent, self.clock(), source)

    def given(self, evse_id):
        """(percent, source) of a given SoC still within max_age_s, or None."""
        g = self._given.get(evse_id)
        if g is None or self.clock() - g[1] > self.max_age_s:
            return None
        return g[0], g[2]

    def percent(self, evse_id, telemetry):
        """The SoC to report, or None when unknown."""
        if telemetry is not None and telemetry.soc_percent is not None:
            return telemetry.soc_percent
        g = self.given(evse_id)
        return None if g is None else g[0]

    def forget(self, evse_id):
        self._given.pop(evse_id, None)

    def _record(self, evse_id, rec):
        if rec.mtype == lm.EVENT and rec.fields["code"] == lm.EV_UNPLUG:
            self.forget(evse_id)
