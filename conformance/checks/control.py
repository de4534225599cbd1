"""Control demands: demands to change the current (AG-09), managed steps (AG-10), several
control entities (T7-MULTI), charge profiles (T7-PROFILE), the log of every request
(T7-LOG) and the smart functionality of UK reg 5. The lab is the gateway on the link."""

from conformance.checks.common import QUICK, offered_ma, plug_and_charge
from conformance.registry import check
from protocols import link_messages as lm

PACED = {"random_delay_max_s": 0}  # Annex A's 5 s pacing of increases stays on
DECREASE_LIMIT_MS = 1000  # a lower demand is safety-relevant: at once (one telemetry)
INCREASE_LIMIT_MS = 6000  # Annex A: at most one duty change every 5 s, plus a tick
EV_FOLLOW_MS = 6000  # IEC 61851-1: EVs are given about 5 s to follow a new duty
T0_UNIX_MS = 1767268800000  # 2026-01-01T12:00:00Z, a Thursday


def _charging(lab, r, amps=32):
    lab.link_connect()
    lab.time_sync(T0_UNIX_MS)
    if plug_and_charge(lab, r, amps=amps) is None:
        r.expect(False, "the charge started")
        return False
    lab.advance(6000)
    return True


@check("AG-09", needs=("pilot", "load", "link"))
def current_demands(target, r):
    """A series of demands from the back-end: each applied on the pilot (decreases at
    once, increases within Annex A's 5 s pacing) and followed by the EV's current."""
    lab = target.lab(settings=PACED)
    if not _charging(lab, r):
        return
    for a in (16, 10, 6, 20, 32, 8):
        lab.limit(lm.SRC_CSMS, a * 1000)
        before = offered_ma(lab)
        t = lab.wait_until(lambda a=a: offered_ma(lab) == a * 1000 - (a * 1000) % 60
                           or abs(offered_ma(lab) - a * 1000) < 100, 10000)
        limit = DECREASE_LIMIT_MS if a * 1000 < before else INCREASE_LIMIT_MS
        r.measure("demand %d A: applied on the pilot after" % a, -1 if t is None else t, "ms",
                  "<=", limit)
        lab.advance(EV_FOLLOW_MS)
        r.measure("demand %d A: EV current %d s later" % (a, EV_FOLLOW_MS // 1000),
                  lab.ev_current_ma(), "mA", "<=", a * 1000)
    r.did("CSMS limits 16, 10, 6, 20, 32, 8 A over the link while a 32 A EV charges")
    r.timeline("pilot duty and EV current through six demands", lab.samples)
    r.measure("discharge demands", "not applicable: the charger is not bidirectional", "")


@check("AG-10", needs=("pilot", "link"))
def managed_steps(target, r):
    """With current_step_ma = 2000 every offer is a whole number of 2 A blocks below the
    demand; the applied values over a sweep of demands are all multiples of the step."""
    step_ma = 2000
    lab = target.lab(settings=dict(QUICK, current_step_ma=step_ma))
    if not _charging(lab, r):
        return
    seen = []
    for demand_ma in (31500, 23900, 17000, 12100, 9999, 7000):
        lab.limit(lm.SRC_CSMS, demand_ma)
        lab.advance(500)
        got = offered_ma(lab)
        seen.append(got)
        want = demand_ma - demand_ma % step_ma
        r.measure("demand %d mA: offered (Annex A read of the duty)" % demand_ma, got, "mA",
                  "<=", demand_ma)
        r.measure("demand %d mA: offered, to 2 A blocks" % demand_ma, abs(got - want), "mA",
                  "<=", 60)  # the duty's own resolution: 0.1 % = 60 mA
    r.did("current_step_ma 2000; demands 31.5, 23.9, 17, 12.1, 9.999, 7 A")


@check("T7-MULTI", needs=("pilot", "link"))
def several_entities(target, r):
    """The CSMS, the home energy manager and the DNO each set a limit: the lowest one
    applies; the DNO's expires after its duration and the next lowest applies; clearing
    the home energy manager's leaves the CSMS's."""
    lab = target.lab(settings=QUICK)
    if not _charging(lab, r):
        return
    lab.limit(lm.SRC_CSMS, 20000)
    lab.limit(lm.SRC_HEMS, 16000)
    lab.limit(lm.SRC_DNO, 10000, duration_s=60)
    lab.advance(1000)
    r.measure("CSMS 20 A, HEMS 16 A, DNO 10 A for 60 s: offered", offered_ma(lab), "mA",
              "<=", 10000)
    lab.advance(61000)
    r.measure("after the DNO's 60 s: offered", offered_ma(lab), "mA", ">=", 15900)
    r.measure("after the DNO's 60 s: offered (HEMS still caps)", offered_ma(lab), "mA",
              "<=", 16000)
    lab.limit(lm.SRC_HEMS, lm.LIMIT_NONE)
    lab.advance(1000)
    r.measure("HEMS cleared: offered (CSMS's 20 A)", offered_ma(lab), "mA", ">=", 19900)
    r.measure("HEMS cleared: offered (not above the CSMS's)", offered_ma(lab), "mA", "<=",
              20000)
    r.did("limits from three entities over the link, one with a 60 s duration, one cleared")


@check("T7-PROFILE", needs=("pilot", "link"))
def charge_profile(target, r):
    """A charging profile (the gateway's compact schedule: 16 A, then 8 A after 60 s, then
    24 A after 120 s) is followed period by period, also after the link is gone (the
    failsafe current is set to 32 A so that the schedule, not the failsafe, binds)."""
    lab = target.lab(settings=dict(QUICK, failsafe_current_ma=32000))
    if not _charging(lab, r):
        return
    start_s = T0_UNIX_MS // 1000 + lab.now_ms // 1000 + 1
    lab.link_send(lm.SCHEDULE, {"entity": lm.SRC_CSMS, "generation": 1,
                                "start_unix_s": start_s, "duration_s": 0, "repeat_s": 0,
                                "periods": [(0, 16000), (60, 8000), (120, 24000)]})
    lab.advance(3000)
    r.measure("period 1 (16 A): offered", offered_ma(lab), "mA", "<=", 16000)
    r.measure("period 1 (16 A): offered (not lower)", offered_ma(lab), "mA", ">=", 15900)
    lab.link_disconnect()
    r.did("schedule 16 A / 8 A at 60 s / 24 A at 120 s; the link then goes silent")
    lab.advance(60000)
    r.measure("period 2 (8 A), link gone: offered", offered_ma(lab), "mA", "<=", 8000)
    r.measure("period 2 (8 A), link gone: offered (not lower)", offered_ma(lab), "mA", ">=",
              7900)
    lab.advance(60000)
    r.measure("period 3 (24 A), link gone: offered", offered_ma(lab), "mA", "<=", 24000)


@check("T7-LOG", needs=("link",))
def control_log(target, r):
    """Every control request gets a logged response sent upstream: an EV_LIMIT_APPLIED
    event with its source, the value asked, the value applied and why, also for a refused
    request (an unknown entity)."""
    lab = target.lab(settings=QUICK)
    if not _charging(lab, r):
        return
    since = lab.now_ms
    asks = ((lm.SRC_CSMS, 20000), (lm.SRC_HEMS, 12000), (lm.SRC_DNO, 4000), (99, 10000))
    for src, ma in asks:
        lab.limit(src, ma)
        lab.advance(500)
    lab.advance(5000)  # events go up one by one, each until acked (LINK.md 5.1)
    logged = lab.events(lm.EV_LIMIT_APPLIED, since)
    r.measure("requests sent", len(asks), "")
    r.measure("EV_LIMIT_APPLIED events received", len(logged), "", ">=", len(asks))
    for src, ma in asks:
        match = [f for t, f in logged if f["a"] == src and f["c"] == ma]
        r.expect(len(match) >= 1, "source %d asking %d mA: logged with its answer" % (src, ma))
    refused = [f for t, f in logged if f["a"] == 99]
    r.expect(bool(refused) and refused[0]["b"] == lm.R_INVALID,
             "the unknown entity's request logged as refused (R_INVALID)")
    paused = [f for t, f in logged if f["a"] == lm.SRC_DNO]
    r.expect(bool(paused) and paused[0]["d"] == 0, "the DNO's 4 A logged as applied 0 (pause)")


@check("UK-5", needs=("pilot", "link"))
def smart_functionality(target, r):
    """UK reg 5(2): the charger sends and receives information over a network and responds
    by changing the rate (a lower, then a higher limit) and the time of charging (a
    schedule that starts the charge later)."""
    lab = target.lab(settings=QUICK)
    if not _charging(lab, r):
        return
    tel = lab.received(lm.TELEMETRY)
    r.measure("telemetry frames sent in the first 6 s of charging", len(tel), "", ">=", 1)
    lab.limit(lm.SRC_CSMS, 8000)
    lab.advance(1000)
    r.measure("rate decreased: offered", offered_ma(lab), "mA", "<=", 8000)
    lab.limit(lm.SRC_CSMS, 16000)
    lab.advance(1000)
    r.measure("rate increased: offered", offered_ma(lab), "mA", ">=", 15900)
    start_s = T0_UNIX_MS // 1000 + lab.now_ms // 1000
    lab.link_send(lm.SCHEDULE, {"entity": lm.SRC_CSMS, "generation": 1,
                                "start_unix_s": start_s, "duration_s": 0, "repeat_s": 0,
                                "periods": [(0, 0), (120, lm.LIMIT_NONE)]})
    lab.advance(8000)  # x1 at once; the contactor opens when the EV stops (IEC-X1: 6 s)
    r.expect(lab.duty_permille() == 1000 and not lab.contactor_closed(),
             "schedule: no charge for 120 s (x1, contactor open 8 s in)")
    lab.advance(120000)
    r.expect(lab.contactor_closed(), "charging again after the schedule's 120 s")
