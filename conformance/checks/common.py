"""Steps several checks share, written against the lab interface (conformance/lab.py)."""

# settings a lab uses to reach a charge quickly; the checks that are about the delay,
# the windows or the pacing set their own
QUICK = {"random_delay_max_s": 0, "pwm_min_interval_ms": 0}
CLOSE_TIMEOUT_MS = 10000


def annex_a_current_ma(duty_permille):
    """IEC 61851-1 Annex A, the lab's own reading of a duty (not the firmware's table):
    8-10 % -> 6 A, 10-85 % -> 0.6 A per %, 85-96 % -> 2.5 A per % above 64, 96-97 % ->
    80 A; anything else offers no current."""
    d = duty_permille
    if 80 <= d < 100:
        return 6000
    if 100 <= d <= 850:
        return d * 60
    if 850 < d <= 960:
        return (d - 640) * 250
    if 960 < d <= 970:
        return 80000
    return 0


def plug_and_charge(lab, r, amps=16, pp_ohms=220, phases=3):
    """An EV plugs in (B), asks for current (C) and the contactor closes; -> ms from the
    EV's request to closed contacts, or None when it never closed."""
    lab.do("plug", state="B", pp_ohms=pp_ohms)
    lab.do("draw", a=amps, phases=phases)
    r.did("EV plugged in (state B, PP %d ohm), asks for %d A on %d phases"
          % (pp_ohms, amps, phases))
    return lab.wait_until(lab.contactor_closed, CLOSE_TIMEOUT_MS)


def offered_ma(lab):
    return annex_a_current_ma(lab.duty_permille())


# the lab's own reading of the pilot's positive plateau (DESIGN §8 midpoints)
_LETTERS = ((10500, "A"), (7500, "B"), (4500, "C"), (1500, "D"), (-1500, "E"))


def pilot_letter(high_mv):
    for floor_mv, letter in _LETTERS:
        if high_mv >= floor_mv:
            return letter
    return "F"
