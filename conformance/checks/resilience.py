"""When smart functions fail: the gateway link lost (AG-11, UK-7), the supply lost and
restored (AG-13) and the randomised delay (UK-11)."""

from conformance import stats
from conformance.checks.common import QUICK, offered_ma, plug_and_charge
from conformance.registry import check
from protocols import link_messages as lm

LINK_TIMEOUT_MS = 15000
FAILSAFE_MA = 8000
HOLD_MS = 30 * 60 * 1000
RESTORATIONS = 500
DELAY_MAX_S = 600
ALPHA_NOTE = "alpha 0.001"


@check("AG-11", needs=("pilot", "load", "link"))
def failsafe_on_link_loss(target, r):
    """Charging at 32 A under a back-end limit; the gateway goes silent: the charger falls
    to its failsafe current once the link timeout passes (not before), holds it for 30
    minutes, and returns to the back-end's control when the link is back."""
    lab = target.lab(settings=dict(QUICK, failsafe_current_ma=FAILSAFE_MA,
                                   link_timeout_ms=LINK_TIMEOUT_MS))
    lab.link_connect(LINK_TIMEOUT_MS)
    if plug_and_charge(lab, r, amps=32) is None:
        r.expect(False, "the charge started")
        return
    lab.limit(lm.SRC_CSMS, 32000)
    lab.advance(5000)
    r.measure("offered before the loss", offered_ma(lab), "mA", ">=", 31900)
    lab.link_disconnect()
    t = lab.wait_until(lambda: offered_ma(lab) <= FAILSAFE_MA, 60000)
    t = -1 if t is None else lab.now_ms - lab.last_sent_ms  # from the last frame heard
    r.did("settings link_timeout_ms %d, failsafe_current_ma %d; the gateway goes silent"
          % (LINK_TIMEOUT_MS, FAILSAFE_MA))
    lost_at = len(lab.samples)
    r.measure("link silent -> failsafe current", t, "ms", "<=", LINK_TIMEOUT_MS + 2000)
    r.measure("link silent -> failsafe current (not early)", t, "ms", ">=", LINK_TIMEOUT_MS)
    low, high, charging = 10 ** 9, 0, True
    for _ in range(HOLD_MS // 1000):
        lab.advance(1000, step_ms=1000)
        o = offered_ma(lab)
        low, high = min(low, o), max(high, o)
        charging = charging and lab.contactor_closed()
    r.measure("failsafe hold 30 min: lowest offer", low, "mA", ">=", FAILSAFE_MA - 100)
    r.measure("failsafe hold 30 min: highest offer", high, "mA", "<=", FAILSAFE_MA)
    r.expect(charging, "still charging through the 30 min hold")
    r.expect(bool(lab.events(lm.EV_FAILSAFE)), "failsafe entry logged (EV_FAILSAFE)")
    lab.link_connect(LINK_TIMEOUT_MS)
    lab.limit(lm.SRC_CSMS, 32000)
    back = lab.wait_until(lambda: offered_ma(lab) >= 31900, 20000)
    r.measure("link back -> the back-end's 32 A again", -1 if back is None else back, "ms",
              "<=", 10000)
    r.timeline("failsafe: link lost, 30 min hold, link back (first 60 s and last 60 s)",
               lab.samples[max(lost_at - 50, 0):lost_at + 600] + lab.samples[-600:])


@check("UK-7", needs=("pilot", "load", "link"))
def charges_without_network(target, r):
    """UK reg 7: a charger that never had a network connection charges; one that loses it
    mid-charge goes on charging (at its failsafe current); a power cut while offline does
    not stop it for good."""
    lab = target.lab(settings=QUICK)
    t = plug_and_charge(lab, r)
    r.expect(t is not None, "never connected: the contactor closes")
    lab.advance(10000)
    r.measure("never connected: EV current", lab.ev_current_ma(), "mA", ">=", 6000)
    lab = target.lab(settings=QUICK)
    lab.link_connect(LINK_TIMEOUT_MS)
    plug_and_charge(lab, r)
    lab.link_disconnect()
    lab.advance(LINK_TIMEOUT_MS + 60000, step_ms=100)
    r.measure("link lost 60 s ago: EV current", lab.ev_current_ma(), "mA", ">=", 6000)
    lab.do("power_cut", s=5)
    lab.wait_until(lab.contactor_closed, 60000, step_ms=100)
    lab.advance(10000)
    r.measure("offline power cut of 5 s, 10 s after closing: EV current", lab.ev_current_ma(),
              "mA", ">=", 6000)
    r.did("standalone charger; a connected one losing its link; a power cut while offline")


def _restoration_delay_s(lab, idle_ok):
    """One power cut of 10 s with the EV plugged in and asking; -> the delay (s) from the
    supply's return to the first PWM offer, seen in 1 s steps; idle_ok[0] turns False if
    the charger offered or closed at the first instant (its first tick with power) or had
    the contactor closed while it was not offering."""
    lab.do("power_cut", s=10)
    lab.advance(10000, step_ms=1000)  # the last step is the first tick with power again
    if lab.duty_permille() != 1000 or lab.contactor_closed():
        idle_ok[0] = False
    waited = 0
    while waited <= (DELAY_MAX_S + 30) * 1000:
        lab.advance(1000, step_ms=1000)
        waited += 1000
        if lab.duty_permille() != 1000:
            return (waited - 1000) // 1000
        if lab.contactor_closed():
            idle_ok[0] = False
    return None


@check("AG-13", needs=("pilot", "contactor", "mains", "restorations"))
def idle_then_stochastic_restart(target, r):
    """After each of 500 power restorations with an EV plugged in and asking: no PWM offer
    and the contactor open from the first instant; the delay until the first offer is
    uniform on [0, 600] s (Kolmogorov-Smirnov and chi-square, alpha 0.001)."""
    lab = target.lab(settings={"random_delay_max_s": DELAY_MAX_S, "pwm_min_interval_ms": 0})
    lab.do("plug", state="B", pp_ohms=220)
    lab.do("draw", a=16, phases=3)
    lab.wait_until(lab.contactor_closed, (DELAY_MAX_S + 30) * 1000, step_ms=1000)
    idle_ok = [True]
    delays = []
    for _ in range(RESTORATIONS):
        d = _restoration_delay_s(lab, idle_ok)
        if d is None:
            r.expect(False, "an offer came within 630 s of a restoration")
            return
        delays.append(d)
    r.did("%d power cuts of 10 s with a 16 A EV plugged in; delay measured in 1 s steps"
          % RESTORATIONS)
    r.expect(idle_ok[0], "idle (x1, contactor open) from the first instant of every "
             "restoration until the delay ended")
    r.measure("longest delay", max(delays), "s", "<=", DELAY_MAX_S)
    r.measure("shortest delay", min(delays), "s", ">=", 0)
    d_ks, d_crit = stats.ks_uniform(delays, 0, DELAY_MAX_S + 1)
    r.measure("KS distance to uniform [0, 600] s (critical %.4f, %s)" % (d_crit, ALPHA_NOTE),
              round(d_ks, 4), "", "<=", round(d_crit, 4))
    chi2, crit, bins = stats.chi_square_uniform(delays, 0, DELAY_MAX_S + 1, 10)
    r.measure("chi-square over %d bins (critical %.1f, %s)" % (bins, crit, ALPHA_NOTE),
              round(chi2, 2), "", "<=", crit)
    r.histogram("restart delay over %d restorations" % RESTORATIONS, delays, 0,
                DELAY_MAX_S + 1, 30, "delay s")


@check("UK-11", needs=("pilot", "link", "button"))
def randomised_delay(target, r):
    """UK reg 11: a random delay (default max 600 s) before a charge starts; the owner's
    override skips it; a DNO limit is followed at once (no delay while providing DSR);
    the maximum is settable to 1800 s and no further."""
    waits = []
    for seed in range(1, 21):
        lab = target.lab(settings={"pwm_min_interval_ms": 0}, seed=1000 + seed)
        t = plug_and_charge_wait(lab)
        waits.append(-1 if t is None else t // 1000)
    r.did("20 plug-ins on factory settings (different entropy each)")
    r.measure("longest wait before the first offer", max(waits), "s", "<=", DELAY_MAX_S)
    r.measure("mean wait (uniform: 300 s; 4 sigma band 145..455)", sum(waits) // len(waits),
              "s", ">=", 145)
    r.measure("mean wait (upper)", sum(waits) // len(waits), "s", "<=", 455)
    lab = target.lab(settings={"pwm_min_interval_ms": 0, "random_delay_max_s": 1800},
                     seed=77)
    lab.link_connect()
    lab.do("plug", state="B", pp_ohms=220)
    lab.do("draw", a=16, phases=3)
    lab.advance(2000)
    r.expect(lab.duty_permille() == 1000, "delay of up to 1800 s running: no offer")
    lab.do("press_button", ms=200)
    t = lab.wait_until(lambda: lab.duty_permille() != 1000, 5000)
    r.measure("override pressed -> offer (delay skipped)", -1 if t is None else t, "ms", "<=",
              2000)
    lab = target.lab(settings=QUICK)
    lab.link_connect()
    plug_and_charge(lab, r)
    lab.advance(3000)
    lab.setting("random_delay_max_s", 600)
    lab.limit(lm.SRC_DNO, 10000)
    t = lab.wait_until(lambda: offered_ma(lab) <= 10000, 5000)
    r.measure("DNO limit 10 A -> applied (no delay for DSR)", -1 if t is None else t, "ms",
              "<=", 1000)
    st, _ = lab.setting("random_delay_max_s", 1800)
    r.expect(st == lm.ST_OK, "random_delay_max_s 1800 accepted")
    st, _ = lab.setting("random_delay_max_s", 1801)
    r.expect(st == lm.ST_INVALID, "random_delay_max_s 1801 refused")


def plug_and_charge_wait(lab):
    """Plug in a 16 A EV and wait (1 s steps) for the first offer; -> ms or None."""
    lab.do("plug", state="B", pp_ohms=220)
    lab.do("draw", a=16, phases=3)
    return lab.wait_until(lambda: lab.duty_permille() != 1000, (DELAY_MAX_S + 30) * 1000,
                          step_ms=1000)
