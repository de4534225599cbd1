"""OCPP 1.6 MeterValues from the firmware's TELEMETRY (OCPP 1.6 §4.7, §9.1 keys
MeterValueSampleInterval, ClockAlignedDataInterval, MeterValuesSampledData,
MeterValuesAlignedData).

- `sampled_values(t, measurands, context, phases)`: the SampledValue list of one TELEMETRY;
  meter measurands are left out while the firmware flags the meter stale (or it has no
  reading), Current.Offered and SoC (the EV's) stay. The SoC is the station's
  (gateway/ev_soc.py: the firmware's, else one an energy manager gave within its age limit).
- `MeterSampler`: runs for the gateway's life (also while the CSMS is unreachable). During a
  transaction, every MeterValueSampleInterval s from its start, a "meter_values" message goes
  into the durable queue with the session key (the client adds the transactionId when it
  sends it, after the StartTransaction); every ClockAlignedDataInterval s on the clock
  (multiples of the interval since midnight UTC), one per connector: queued with the
  transaction if one runs, else sent at once when connected (and dropped when not).

Values are integer arithmetic to decimal strings (mA -> "16.000" A)."""

import asyncio
import dataclasses
import logging
import time

from gateway.ocpp16.pdus import iso

log = logging.getLogger(__name__)

METER_MEASURANDS = frozenset(("Energy.Active.Import.Register", "Power.Active.Import",
                              "Current.Import", "Voltage", "Frequency"))
TICK_S = 0.25


def _milli(v):
    """1234 -> "1.234", -50 -> "-0.050" (mA -> A, mV -> V, mHz -> Hz)."""
    sign = "-" if v < 0 else ""
    v = abs(v)
    return "%s%d.%03d" % (sign, v // 1000, v % 1000)


def _sv(value, measurand, unit, context, phase=None, location="Outlet"):
    d = {"value": value, "context": context, "format": "Raw", "measurand": measurand,
         "location": location}
    if unit is not None:
        d["unit"] = unit
    if phase is not None:
        d["phase"] = phase
    return d


def meter_fresh(t):
    return not t.has("meter_stale") and t.meter_age_ms is not None


def sampled_values(t, measurands, context, phases=3):
    """SampledValue dicts (snake_case keys) of Telemetry t for the measurands, in their
    order; phases: L1..L<phases> for Current.Import and Voltage (L1-N..)."""
    fresh = meter_fresh(t)
    out = []
    for m in measurands:
        if m in METER_MEASURANDS and not fresh:
            continue  # never report a stale meter value as fresh
        if m == "Energy.Active.Import.Register":
            out.append(_sv(str(t.energy_import_wh), m, "Wh", context))
        elif m == "Power.Active.Import":
            out.append(_sv(str(max(t.power_w, 0)), m, "W", context))
        elif m == "Current.Import":
            out += [_sv(_milli(max(t.current_ma[i], 0)), m, "A", context, "L%d" % (i + 1))
                    for i in range(phases)]
        elif m == "Voltage":
            out += [_sv(_milli(t.voltage_mv[i]), m, "V", context, "L%d-N" % (i + 1))
                    for i in range(phases)]
        elif m == "Frequency":
            # 1.6 UnitOfMeasure has no hertz: no unit, the value is in Hz (1.6 errata)
            out.append(_sv(_milli(t.frequency_mhz), m, None, context))
        elif m == "Current.Offered":
            out.append(_sv(_milli(t.offered_ma), m, "A", context))
        elif m == "SoC" and t.soc_percent is not None:
            out.append(_sv(str(t.soc_percent), m, "Percent", context, location="EV"))
    return out


class MeterSampler:
    """See the module docstring. send_now(connector_id, meter_value) is an async function
    that sends a MeterValues without a transaction if connected (False if not)."""

    def __init__(self, station, config, send_now, clock=time.time):
        self.station = station
        self.config = config
        self.send_now = send_now
        self.clock = clock
        self._due = {}  # connector id -> (session key, next sample unix s)
        self._next_aligned = None
        config.on_change(self._changed)

    def _changed(self, key, value):
        if key == "MeterValueSampleInterval":  # effective now, not after the old interval
            now, interval = self.clock(), int(value)
            self._due = {cid: (k, min(due, now + interval)) for cid, (k, due)
                         in self._due.items()}
        elif key == "ClockAlignedDataInterval":
            self._next_aligned = None

    def meter_value(self, cid, measurands, context, now):
        """The MeterValue of EVSE cid's latest TELEMETRY, or None (offline, records not
        caught up, nothing to report)."""
        ln = self.station.links[cid]
        t = ln.telemetry
        if t is None or not self.station.records_synced(cid) or not measurands:
            return None  # offline, or its records not caught up yet (station.py)
        phases = ln.peer.phases if ln.peer is not None and 1 <= ln.peer.phases <= 3 else 3
        soc = self.station.ev_soc.percent(cid, t)  # AG-07: the firmware's, or one given
        if soc != t.soc_percent:
            t = dataclasses.replace(t, soc_percent=soc)
        values = sampled_values(t, measurands, context, phases)
        return {"timestamp": iso(int(now)), "sampled_value": values} if values else None

    async def _enqueue(self, cid, key, mv):
        store = self.station.store
        await store.aio(store.enqueue, "meter_values",
                        {"connector_id": cid, "key": key, "meter_value": [mv]}, cid)
        self.station.queue_changed.set()

    def _transaction_key(self, cid):
        s = self.station.session(cid)
        return s["key"] if s and s.get("authorized") else None

    async def step(self):
        """One look at every connector; what is due is sampled."""
        now = self.clock()
        interval = self.config.number("MeterValueSampleInterval")
        for cid in self.station.connector_ids:
            key = self._transaction_key(cid)
            if key is None or interval <= 0:
                self._due.pop(cid, None)
                continue
            known = self._due.get(cid)
            if known is None or known[0] != key:
                self._due[cid] = (key, now + interval)
            elif now >= known[1]:
                self._due[cid] = (key, max(known[1] + interval, now + interval / 2))
                mv = self.meter_value(cid, self.config.csl("MeterValuesSampledData"),
                                       "Sample.Periodic", now)
                if mv is not None:
                    await self._enqueue(cid, key, mv)
        await self._aligned(now)

    async def _aligned(self, now):
        interval = self.config.number("ClockAlignedDataInterval")
        if interval <= 0:
            self._next_aligned = None
            return
        if self._next_aligned is None:
            self._next_aligned = (int(now) // interval + 1) * interval
        if now < self._next_aligned:
            return
        at = self._next_aligned
        self._next_aligned = (int(now) // interval + 1) * interval
        for cid in self.station.connector_ids:
            mv = self.meter_value(cid, self.config.csl("MeterValuesAlignedData"),
                                   "Sample.Clock", at)
            if mv is None:
                continue
            key = self._transaction_key(cid)
            if key is not None:
                await self._enqueue(cid, key, mv)
            elif not await self.send_now(cid, mv):
                log.debug("clock-aligned MeterValues of connector %d dropped: offline", cid)

    async def run(self):
        while True:
            try:
                await self.step()
            except Exception:  # a sample must never stop the sampler
                log.exception("MeterValues sampling")
            await asyncio.sleep(TICK_S)
