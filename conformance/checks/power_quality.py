"""Power-quality awareness (Table 7 T7-PQ): the charger measures voltage and frequency
through its MID meter and responds as configured when the supply leaves its band."""

from conformance.checks.common import QUICK, offered_ma, plug_and_charge
from conformance.registry import check
from protocols import link_messages as lm

METER = "SDM630"
RESPOND_LIMIT_MS = 10000  # pq_readings (3) good readings at poll_ms (1 s) plus margin
HOLD_S = 30


def _charging(target, r, **settings):
    lab = target.lab(settings=dict(QUICK, pq_hold_s=HOLD_S, **settings), meter=METER)
    lab.link_connect()
    plug_and_charge(lab, r, amps=16)
    lab.advance(5000)
    return lab


def _sag(lab, r, what, restore, **mains):
    """Take the supply out of band; -> ms until the charger responded (x1)."""
    since = lab.now_ms
    lab.do("mains", **mains)
    t = lab.wait_until(lambda: lab.duty_permille() == 1000, 30000)
    r.measure("%s -> paused (x1)" % what, -1 if t is None else t, "ms", "<=", RESPOND_LIMIT_MS)
    lab.advance(8000)
    r.expect(not lab.contactor_closed(), "%s: contactor open" % what)
    ev = [f for _, f in lab.events(lm.EV_POWER_QUALITY, since) if f["a"] == 1]
    r.expect(bool(ev), "%s: EV_POWER_QUALITY (entered) reported on the link" % what)
    lab.do("mains", **restore)
    t = lab.wait_until(lab.contactor_closed, 120000, step_ms=100)
    r.measure("%s: back in band -> charging again (hold %d s)" % (what, HOLD_S),
              -1 if t is None else t // 1000, "s", ">=", HOLD_S)
    r.measure("%s: back in band -> charging again (upper)" % what, -1 if t is None else t // 1000,
              "s", "<=", HOLD_S + 10)


@check("T7-PQ", needs=("pilot", "load", "meter", "mains", "link"))
def power_quality_response(target, r):
    """Voltage and frequency in the telemetry match the supply; an undervoltage (200 V)
    and an underfrequency (49.3 Hz) each pause the charge (default response) and are
    reported; the charge resumes once the supply was back in band for the hold time; a
    configured reduced response (10 A) caps instead of pausing."""
    lab = _charging(target, r)
    tel = lab.received(lm.TELEMETRY)[-1][1]
    r.measure("voltage L1 reported at 230 V", tel["voltage_l1_mv"], "mV", ">=", 229000)
    r.measure("frequency reported at 50 Hz", tel["frequency_mhz"], "mHz", ">=", 49990)
    _sag(lab, r, "undervoltage 200 V on L1", {"voltage_v": 230, "phase": 1},
         voltage_v=200, phase=1)
    _sag(lab, r, "underfrequency 49.3 Hz", {"frequency_hz": 50}, frequency_hz="49.3")
    r.did("16 A charge; L1 at 200 V, then the frequency at 49.3 Hz; default response pause, "
          "hold %d s" % HOLD_S)
    lab = _charging(target, r, pq_response=10000)
    lab.do("mains", voltage_v=260, phase=1)
    lab.advance(RESPOND_LIMIT_MS)
    r.measure("overvoltage 260 V with pq_response 10000 mA: offered", offered_ma(lab), "mA",
              "<=", 10000)
    r.expect(lab.contactor_closed(), "reduced, still charging")
