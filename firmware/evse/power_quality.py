# Power-quality awareness (T7-PQ): the MID meter's voltage per phase and
# frequency against a band (settings pq_*; defaults the UK statutory limits:
# 230 V -6 % / +10 % = 216.2..253 V, ESQCR 2002 reg 27; 50 Hz +/- 1 % =
# 49.5..50.5 Hz), and the response the owner chose: "none" (report only),
# "pause" or a reduced current in mA, in force through the limit source
# evse.limits.SRC_POWER_QUALITY.
#
# - pq_readings consecutive good readings outside the band enter the response
#   (one glitch does not); a failed poll breaks the run. Only readings of a
#   good poll cycle count: a stale meter never enters it.
# - The response is left once every reading for pq_hold_s was inside the band
#   (an outside reading restarts the hold), or when the meter fails (its
#   meter_fault_action governs then). The controller then runs the UK-11
#   randomised delay before the rate rises again (state RESUMING: the limit
#   stays in force until the delay is over).
# Pure and allocation-free per tick: update() compares ints and reads the
# meter's preallocated value list.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from protocols import link_messages as lm
from protocols import meters

NORMAL = const(0)  # no response in force
RESPONDING = const(1)  # outside the band (or inside for less than the hold): response in force
RESUMING = const(2)  # back in band for the hold: the limit holds until the random delay is over
STATE_NAMES = ("normal", "responding", "resuming")

# update() results
ENTERED = const(1)
LEFT = const(2)

_RESPONSES = {"none": -1, "pause": 0}  # pq_response -> limit in mA (-1: no limit); else the int


class PowerQuality:
    def __init__(self, settings):
        self.state = NORMAL
        self.count = 0  # consecutive good readings outside the band
        self.seq = -1  # meter.good_seq last examined
        self.in_band_ms = -1  # first reading back inside the band while responding
        # the last reading examined (and so the event's arguments)
        self.cause = 0  # lm.PQ_* bits outside the band; on leaving 0 or lm.PQ_METER_FAULT
        self.phase = 0  # 1..3: the phase furthest outside the voltage band; 0 none
        self.voltage_mv = 0  # that phase's voltage (L1 when none is outside)
        self.frequency_mhz = 0
        self.configure(settings)

    def configure(self, s):
        """The band, debounce, hold and response from settings (validated)."""
        self.v_min_mv = s["pq_voltage_min_mv"]
        self.v_max_mv = s["pq_voltage_max_mv"]
        self.f_min_mhz = s["pq_frequency_min_mhz"]
        self.f_max_mhz = s["pq_frequency_max_mhz"]
        self.readings = s["pq_readings"]
        self.hold_ms = s["pq_hold_s"] * 1000
        self.phases = s["phases"]
        r = s["pq_response"]
        self.limit_ma = _RESPONSES[r] if type(r) is str else r

    def limit_in_force_ma(self):
        """The response's limit now, -1 none (NORMAL, or response "none")."""
        return self.limit_ma if self.state != NORMAL else -1

    # --- per tick (no allocation) ------------------------------------------

    def update(self, meter, now_ms):
        """Examine the meter's newest good reading once -> ENTERED, LEFT or 0."""
        seq = meter.good_seq
        if seq == self.seq:
            if meter.missed:  # a failed poll (a fault comes after 3 of them)
                self.count = 0  # the readings are no longer consecutive
                if meter.fault and self.state == RESPONDING:
                    return self._leave(lm.PQ_METER_FAULT)
            return 0
        self.seq = seq
        if meter.stale(now_ms):  # e.g. no reading since the meter was configured again
            return 0
        return self.reading(meter.values, now_ms)

    def reading(self, values, now_ms):
        """One good reading (values indexed by protocols.meters quantities,
        integer mV and mHz, None where the meter has none) -> ENTERED, LEFT or 0."""
        cause = self._classify(values)
        self.cause = cause
        if cause:
            self.in_band_ms = -1
            if self.state == RESPONDING:
                return 0  # still outside: the hold starts again from the next good reading
            self.count += 1
            if self.count < self.readings:
                return 0
            self.count = 0
            self.state = RESPONDING
            return ENTERED
        self.count = 0
        if self.state != RESPONDING:
            return 0
        if self.in_band_ms < 0:
            self.in_band_ms = now_ms
        if now_ms - self.in_band_ms < self.hold_ms:
            return 0
        return self._leave(0)

    def resumed(self):
        """The randomised delay after leaving is over (or none ran): the limit goes."""
        self.state = NORMAL

    def _leave(self, cause):
        self.cause = cause
        self.in_band_ms = -1
        self.state = RESUMING
        return LEFT

    def _classify(self, values):
        # -> lm.PQ_* bits; records the phase furthest outside the voltage band
        cause = 0
        worst_mv = 0
        phase = 0
        i = 0
        while i < self.phases:
            v = values[meters.V1 + i]
            i += 1
            if v is None:
                continue
            if v < self.v_min_mv:
                cause |= lm.PQ_UNDERVOLTAGE
                out_mv = self.v_min_mv - v
            elif v > self.v_max_mv:
                cause |= lm.PQ_OVERVOLTAGE
                out_mv = v - self.v_max_mv
            else:
                continue
            if out_mv > worst_mv:
                worst_mv = out_mv
                phase = i
        self.phase = phase
        v = values[meters.V1 + phase - 1] if phase else values[meters.V1]
        self.voltage_mv = 0 if v is None else v
        f = values[meters.FREQ]
        self.frequency_mhz = 0 if f is None else f
        if f is not None:
            if f < self.f_min_mhz:
                cause |= lm.PQ_UNDERFREQUENCY
            elif f > self.f_max_mhz:
                cause |= lm.PQ_OVERFREQUENCY
        return cause

    def status(self):
        return {"state": STATE_NAMES[self.state], "cause": self.cause, "phase": self.phase,
                "voltage_mv": self.voltage_mv, "frequency_mhz": self.frequency_mhz,
                "readings_outside": self.count}
