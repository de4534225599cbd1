"""IEC 61851-1 Annex A control pilot behaviour, measured on the pilot line and the
contactor (DESIGN §8 for the figures)."""

from conformance.checks.common import QUICK, annex_a_current_ma, pilot_letter, plug_and_charge
from conformance.registry import check
from protocols import link_messages as lm

OPEN_LIMIT_MS = 100  # IEC 61851-1: open within 100 ms of leaving C/D
CLOSE_LIMIT_MS = 3000  # close within 3 s of B2 -> C2
X1_MIN_MS = 6000  # PWM off and the EV stays in C: open after at least 6 s
X1_MAX_MS = 7000  # ... and not much later (the lab's tolerance: one second)


@check("IEC-STATE", needs=("pilot", "contactor"))
def pilot_states(target, r):
    """A: steady +12 V; B: 1 kHz PWM, contactor open; C: contactor closed; D refused
    without ventilation; E: state F, contactor open; a band gap is never taken as a state."""
    lab = target.lab(settings=QUICK)
    lab.advance(500)
    r.measure("A: duty (1000 = steady +12 V)", lab.duty_permille(), "permille", "==", 1000)
    lab.do("plug", state="B", pp_ohms=220)
    lab.advance(500)
    r.measure("B: duty", lab.duty_permille(), "permille", "<", 1000)
    r.expect(not lab.contactor_closed(), "B: contactor open")
    lab.do("draw", a=16, phases=3)
    lab.advance(3000)
    r.expect(lab.contactor_closed(), "C: contactor closed")
    lab.do("set_ev", ready=0)
    lab.advance(3000)
    r.expect(not lab.contactor_closed(), "back to B: contactor open")
    r.did("A, B, C and back to B with a 16 A EV")
    # between B (9 V) and C (6 V): neither state, so the contactor must not close
    lab.force_cp(7400, -12000)
    lab.advance(400)
    r.expect(not lab.contactor_closed(), "7.4 V (B/C band gap) for 400 ms: contactor open")
    lab.advance(1000)
    r.measure("7.4 V held 1.4 s: duty (information)", lab.duty_permille(), "permille")
    lab.release_cp()
    lab.do("unplug")
    lab.advance(2000)
    lab.do("plug", state="B", pp_ohms=220)
    lab.advance(1000)
    lab.do("set_ev", ventilation=1, ready=1)
    lab.advance(3000)
    r.expect(not lab.contactor_closed(), "D (ventilation asked, not allowed): contactor open")
    lab.do("unplug")
    lab.advance(2000)
    lab.do("plug", state="B", pp_ohms=220)
    lab.do("set_ev", short=1)
    lab.advance(1000)
    r.measure("E (pilot shorted): duty (0 = state F, -12 V)", lab.duty_permille(),
              "permille", "==", 0)
    r.expect(not lab.contactor_closed(), "E: contactor open")
    r.did("7.5 V band gap, D without ventilation, E (pilot short to PE)")


DEMANDS_A = (6, 10, 13, 16, 20, 25, 32, 40, 50, 63, 80)


@check("IEC-DUTY", needs=("pilot", "link"))
def duty_from_current(target, r):
    """Each offered current gives the Annex A duty: the lab reads the duty back to amps
    with its own Annex A table and compares it with the demand."""
    lab = target.lab(settings=dict(QUICK, max_current_ma=80000, site_limit_ma=80000,
                                   tethered_cable_ma=80000))
    lab.link_connect()
    lab.do("plug", state="B", pp_ohms=100)
    lab.advance(500)
    worst = 0
    for a in DEMANDS_A:
        lab.limit(lm.SRC_CSMS, a * 1000)
        lab.advance(300)
        duty = lab.duty_permille()
        got = annex_a_current_ma(duty)
        r.measure("%d A: duty" % a, duty, "permille")
        worst = max(worst, abs(got - a * 1000))
        r.measure("%d A: current read from the duty" % a, got, "mA", "<=", a * 1000)
    r.measure("largest gap between demand and duty (Annex A)", worst, "mA", "<=", 250)
    r.did("a tethered 80 A charger, EV in B; CSMS limits %s A over the link"
          % ", ".join([str(a) for a in DEMANDS_A]))


@check("IEC-DIODE", needs=("pilot", "contactor"))
def diode_check(target, r):
    """An EV whose diode is missing: the negative plateau is not -12 V, so the contactor
    never closes and the EVSE reports the fault (state F)."""
    lab = target.lab(settings=QUICK)
    lab.do("plug", state="B", pp_ohms=220)
    lab.do("set_ev", diode=0)
    lab.do("draw", a=16, phases=3)
    r.did("EV without its diode plugged in, asking for 16 A")
    closed = lab.wait_until(lab.contactor_closed, 10000)
    r.expect(closed is None, "contactor never closed in 10 s")
    r.measure("duty (0 = state F)", lab.duty_permille(), "permille", "==", 0)


def _open_after(lab, r, what, action, **args):
    """Time from the pilot leaving C (the EV's resistor switch, seen by the lab on the line)
    or from the action itself (unplug, diode) to the contacts open."""
    lab.do(action, **args)
    if action == "set_ev" and "ready" in args:
        lab.wait_until(lambda: pilot_letter(lab.cp_high_mv()) != "C", 5000)
    t = lab.wait_until(lambda: not lab.contactor_closed(), 2000)
    r.measure("%s -> contacts open" % what, -1 if t is None else t, "ms", "<=", OPEN_LIMIT_MS)
    if t is None:
        r.expect(False, "%s: the contactor opened" % what)


@check("IEC-OPEN", needs=("pilot", "contactor", "load"))
def contactor_opens(target, r):
    """C -> B (EV stops asking), C -> A (unplugged under load), diode fault while charging:
    contacts open within 100 ms each."""
    cases = (("C -> B", "set_ev", {"ready": 0}), ("C -> A", "unplug", {}),
             ("diode lost", "set_ev", {"diode": 0}))
    for what, action, args in cases:
        lab = target.lab(settings=QUICK)
        if plug_and_charge(lab, r) is None:
            r.expect(False, "%s: the charge started" % what)
            continue
        lab.advance(2000)
        _open_after(lab, r, what, action, **args)


@check("IEC-CLOSE", needs=("pilot", "contactor"))
def contactor_closes(target, r):
    """B2 -> C2: the contacts close within 3 s of the EV's request."""
    lab = target.lab(settings=QUICK)
    lab.do("plug", state="B", pp_ohms=220)
    lab.advance(1000)
    r.expect(0 < lab.duty_permille() < 1000, "B2: PWM offered")
    t = plug_and_charge(lab, r)
    r.measure("B2 -> C2 -> contacts closed", -1 if t is None else t, "ms", "<=", CLOSE_LIMIT_MS)
    r.expect(t is not None, "the contactor closed")


@check("IEC-X1", needs=("pilot", "contactor", "link"))
def forced_open_after_x1(target, r):
    """The offer is withdrawn (a limit below 6 A: x1, steady +12 V) and the EV stays in C:
    the contactor opens after at least 6 s, not much later."""
    lab = target.lab(settings=QUICK)
    lab.link_connect()
    if plug_and_charge(lab, r) is None:
        r.expect(False, "the charge started")
        return
    lab.advance(2000)
    lab.do("set_ev", ignores_x1=1)
    lab.limit(lm.SRC_CSMS, 0)
    r.did("the EV is set to stay in C; CSMS limit 0 A")
    x1 = lab.wait_until(lambda: lab.duty_permille() == 1000, 2000)
    r.expect(x1 is not None, "PWM off (x1) after the 0 A limit")
    t = lab.wait_until(lambda: not lab.contactor_closed(), 15000)
    t = -1 if t is None else t
    r.measure("x1 with the EV in C -> contacts open", t, "ms", ">=", X1_MIN_MS)
    r.measure("x1 with the EV in C -> contacts open (upper bound)", t, "ms", "<=", X1_MAX_MS)


PP_CASES = ((1500, 13000), (680, 20000), (220, 32000), (100, 63000))


@check("IEC-PP", needs=("pilot", "link"))
def cable_rating(target, r):
    """Each proximity resistor: the offer never exceeds the cable's rating, even when
    everything else allows 80 A; an out-of-range PP offers nothing."""
    for ohms, cable_ma in PP_CASES:
        lab = target.lab(settings=dict(QUICK, max_current_ma=80000, site_limit_ma=80000))
        lab.do("plug", state="B", pp_ohms=ohms)
        lab.advance(1000)
        got = annex_a_current_ma(lab.duty_permille())
        r.measure("PP %d ohm: offered" % ohms, got, "mA", "<=", cable_ma)
        r.measure("PP %d ohm: offered (not needlessly low)" % ohms, got, "mA", ">=",
                  cable_ma - 1000)
    lab = target.lab(settings=dict(QUICK, max_current_ma=80000, site_limit_ma=80000))
    lab.do("plug", state="B", pp_ohms=5000)
    lab.advance(1000)
    r.measure("PP 5000 ohm (no valid cable): offered", annex_a_current_ma(lab.duty_permille()),
              "mA", "==", 0)
