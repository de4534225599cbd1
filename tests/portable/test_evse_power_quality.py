# T7-PQ power-quality awareness: the MID meter's voltage per phase and
# frequency against the pq_* band, the debounce over consecutive readings,
# the hold time, the response (none / pause / reduce), the randomised delay
# before the rate rises again (UK-11), and what is reported upstream. The
# module alone (evse/power_quality.py), then the controller with its emulated
# SDM630 on the sim board (tests/portable/evse_rig.py), in virtual time, on
# CPython and the MicroPython VM.
from evse_rig import Rig

from evse import power_quality as pq
from evse import settings as settings_mod
from protocols import link_messages as lm
from protocols import meters
from sim_hardware.charger import Charger
from sim_hardware.scenario import Scenario

NOMINAL = (230000, 230000, 230000, 50000)
FAST = {"random_delay_max_s": 0, "pq_hold_s": 5}  # no delays, a short hold


def _pq(**kw):
    s = settings_mod.defaults()
    for k in kw:
        s[k] = kw[k]
    settings, errors = settings_mod.validate(s)
    assert not errors, errors
    return pq.PowerQuality(settings)


def _values(v1=230000, v2=230000, v3=230000, f=50000):
    v = meters.new_values()
    v[meters.V1] = v1
    v[meters.V2] = v2
    v[meters.V3] = v3
    v[meters.FREQ] = f
    return v


def _rig(draws=None, **kw):
    """Charging at 16 A per phase with the emulated SDM630, right after a
    reading. draws: the random delays' u32 draws, from a power-on boot."""
    s = dict(FAST)
    s.update(kw)
    rig = Rig(s)
    if draws is not None:
        rig.script_random(draws)
        rig.power_cut()
    rig.auto_ack = True
    rig.hello()
    rig.run(100)
    rig.board.plug("B", 220)
    rig.run(100)
    rig.board.set_ev_state("C")
    assert rig.run_until(lambda r: r.board.contacts_closed(), 3000) >= 0, "did not charge"
    rig.board.ev_current_ma = [16000, 16000, 16000]
    _readings(rig, 2)
    return rig


def _readings(rig, n):
    """Ticks until the meter committed n more good poll cycles (readings)."""
    want = rig.ctl.meter.good_seq + n
    assert rig.run_until(lambda r: r.ctl.meter.good_seq >= want, n * 1500) >= 0, "no reading"


def _mains(rig, v1, v2, v3, f):
    rig.board.mains_mv = [v1, v2, v3]
    rig.board.mains_mhz = f


def _sent(rig):
    """Let the event log reach flash and the link (at most once a second)."""
    rig.run(1500)


def _pq_events(rig):
    return [lm.event_args(e)[1] for e in rig.events(lm.EV_POWER_QUALITY)]


def _pq_limits(rig):
    return [lm.event_args(e)[1] for e in rig.events(lm.EV_LIMIT_APPLIED)
            if e["a"] == lm.SRC_POWER_QUALITY]


def _state(rig):
    return rig.status()["power_quality"]["state"]


# --- the band, the debounce and the hold (evse/power_quality.py) -------------


def test_t7_pq_defaults_are_the_uk_statutory_limits():
    """230 V -6 % / +10 % and 50 Hz +/- 1 % (ESQCR 2002 reg 27); the response
    pauses after 3 readings outside, and ends 30 s after the supply is back."""
    d = settings_mod.defaults()
    assert (d["pq_voltage_min_mv"], d["pq_voltage_max_mv"]) == (216200, 253000)
    assert (d["pq_frequency_min_mhz"], d["pq_frequency_max_mhz"]) == (49500, 50500)
    assert (d["pq_response"], d["pq_readings"], d["pq_hold_s"]) == ("pause", 3, 30)
    q = pq.PowerQuality(d)
    assert q.limit_ma == 0 and q.hold_ms == 30000 and q.limit_in_force_ma() == -1


def test_t7_pq_voltage_band_edges_are_inside_the_band():
    """216.2 V and 253 V are inside; 1 mV beyond either edge is outside, on any phase."""
    for v, cause in ((216200, 0), (216199, lm.PQ_UNDERVOLTAGE), (253000, 0),
                     (253001, lm.PQ_OVERVOLTAGE)):
        for phase in (1, 2, 3):
            q = _pq(pq_readings=1)
            volts = [230000, 230000, 230000]
            volts[phase - 1] = v
            got = q.reading(_values(volts[0], volts[1], volts[2]), 0)
            assert got == (pq.ENTERED if cause else 0), (v, phase)
            assert q.cause == cause and q.phase == (phase if cause else 0)
            assert q.voltage_mv == (v if cause or phase == 1 else 230000)  # else L1


def test_t7_pq_frequency_band_edges_are_inside_the_band():
    """49.5 Hz and 50.5 Hz are inside; 1 mHz beyond either edge is outside."""
    for f, cause in ((49500, 0), (49499, lm.PQ_UNDERFREQUENCY), (50500, 0),
                     (50501, lm.PQ_OVERFREQUENCY)):
        q = _pq(pq_readings=1)
        assert q.reading(_values(f=f), 0) == (pq.ENTERED if cause else 0), f
        assert q.cause == cause and q.frequency_mhz == f and q.phase == 0


def test_t7_pq_band_is_a_setting():
    q = _pq(pq_readings=1, pq_voltage_min_mv=207000, pq_voltage_max_mv=264000,
            pq_frequency_min_mhz=47000, pq_frequency_max_mhz=52000)
    assert q.reading(_values(207000, 264000, 230000, 47000), 0) == 0
    assert q.reading(_values(f=52001), 0) == pq.ENTERED and q.cause == lm.PQ_OVERFREQUENCY


def test_t7_pq_reports_the_phase_furthest_outside_and_every_cause():
    q = _pq(pq_readings=1)
    assert q.reading(_values(215000, 260000, 200000, 49000), 0) == pq.ENTERED
    assert q.cause == lm.PQ_UNDERVOLTAGE | lm.PQ_OVERVOLTAGE | lm.PQ_UNDERFREQUENCY
    assert q.phase == 3 and q.voltage_mv == 200000 and q.frequency_mhz == 49000


def test_t7_pq_only_the_wired_phases_count():
    """A three-phase meter on a single-phase supply (phases 1) reads 0 V on L2
    and L3: not an undervoltage. A meter without L2/L3 (None) is the same."""
    q = _pq(phases=1, pq_readings=1)
    assert q.reading(_values(230000, 0, 0), 0) == 0
    assert q.reading(_values(230000, None, None), 0) == 0
    assert q.reading(_values(210000, 0, 0), 0) == pq.ENTERED and q.phase == 1
    q = _pq(pq_readings=1)
    assert q.reading(_values(230000, None, None), 0) == 0


def test_t7_pq_enters_after_n_consecutive_readings_outside():
    """Not one glitch: pq_readings consecutive readings outside the band; a
    reading inside starts the count again."""
    q = _pq(pq_readings=3)
    low = _values(v2=210000)
    assert q.reading(low, 0) == 0 and q.reading(low, 1000) == 0
    assert q.reading(_values(), 2000) == 0 and q.count == 0
    assert q.reading(low, 3000) == 0 and q.reading(low, 4000) == 0
    assert q.state == pq.NORMAL
    assert q.reading(low, 5000) == pq.ENTERED and q.state == pq.RESPONDING
    assert q.reading(low, 6000) == 0  # in force: no second entry


def test_t7_pq_leaves_after_the_hold_back_in_band():
    """Every reading for pq_hold_s inside the band ends the response; one
    outside restarts the hold."""
    q = _pq(pq_readings=1, pq_hold_s=30)
    assert q.reading(_values(f=50600), 0) == pq.ENTERED
    assert q.limit_in_force_ma() == 0
    assert q.reading(_values(), 1000) == 0  # back in band from here
    assert q.reading(_values(), 30999) == 0
    assert q.reading(_values(f=50501), 31000) == 0  # outside again: the hold restarts
    assert q.reading(_values(), 32000) == 0
    assert q.reading(_values(), 61999) == 0
    assert q.reading(_values(), 62000) == pq.LEFT
    assert q.state == pq.RESUMING and q.cause == 0 and q.limit_in_force_ma() == 0
    q.resumed()
    assert q.state == pq.NORMAL and q.limit_in_force_ma() == -1


def test_t7_pq_hold_zero_leaves_at_the_first_reading_in_band():
    q = _pq(pq_readings=1, pq_hold_s=0)
    assert q.reading(_values(v1=100000), 0) == pq.ENTERED
    assert q.reading(_values(), 1000) == pq.LEFT


def test_t7_pq_response_encodings():
    """pq_response: "none" (report only: no limit), "pause" (0 mA) or a current in mA."""
    for response, limit_ma in (("none", -1), ("pause", 0), (10000, 10000)):
        q = _pq(pq_response=response, pq_readings=1)
        assert q.limit_ma == limit_ma
        q.reading(_values(v1=260000), 0)
        assert q.limit_in_force_ma() == limit_ma


def test_uk8_t7_pq_settings_out_of_range_are_refused_with_a_reason():
    """Each band edge stays on its side of the 230 V / 50 Hz nominal, so no
    setting can make the band empty; the response is none, pause or 6..80 A."""
    check = settings_mod.check
    for key, good, bad in (("pq_voltage_min_mv", (100000, 230000), (99999, 230001)),
                           ("pq_voltage_max_mv", (230000, 300000), (229999, 300001)),
                           ("pq_frequency_min_mhz", (45000, 50000), (44999, 50001)),
                           ("pq_frequency_max_mhz", (50000, 55000), (49999, 55001)),
                           ("pq_response", ("none", "pause", 6000, 80000),
                            ("stop", 5999, 80001, 0, True)),
                           ("pq_readings", (1, 10), (0, 11)),
                           ("pq_hold_s", (0, 3600), (-1, 3601))):
        for v in good:
            assert check(key, v) is None, (key, v)
        for v in bad:
            reason = check(key, v)
            assert reason is not None and reason.startswith(key + ":"), (key, v, reason)
    assert "not none, pause or mA" in check("pq_response", "reduce")
    assert "int expected" in check("pq_readings", "3")


# --- the controller: response, report, delay, override, stale meter --------


def test_t7_pq_pause_on_a_sag_after_three_readings():
    """A sag on L2 below 216.2 V: after 3 readings the offer goes to 0 (the EVSE
    pauses, the contactor opens) and the gateway is told: a power_quality event,
    a limit_applied from source power_quality, F_POWER_QUALITY and limit_source."""
    rig = _rig()
    _mains(rig, 230000, 210000, 230000, 50000)
    _readings(rig, 2)
    assert rig.status()["offered_ma"] == 32000 and _state(rig) == "normal"
    assert _pq_events(rig) == []
    _readings(rig, 1)
    st = rig.status()
    assert st["offered_ma"] == 0 and st["limit_source"] == "power_quality"
    assert st["power_quality"]["state"] == "responding"
    _sent(rig)
    assert _pq_events(rig) == [{"on": 1, "cause": lm.PQ_UNDERVOLTAGE | 2 << 8,
                                "voltage_mv": 210000, "frequency_mhz": 50000}]
    assert _pq_limits(rig)[-1]["asked_ma"] == 0 and _pq_limits(rig)[-1]["applied_ma"] == 0
    t = rig.telemetry()
    assert t["flags"] & lm.F_POWER_QUALITY and t["limit_source"] == lm.SRC_POWER_QUALITY
    assert rig.board.duty_permille == 1000  # x1: no PWM offer
    assert rig.run_until(lambda r: not r.board.contacts_closed(), 7000) >= 0  # IEC-X1


def test_t7_pq_a_glitch_does_not_enter():
    """Two readings outside, then one inside: nothing happens, nothing is reported."""
    rig = _rig()
    _mains(rig, 230000, 230000, 230000, 49000)
    _readings(rig, 2)
    _mains(rig, *NOMINAL)
    _readings(rig, 3)
    _sent(rig)
    assert _pq_events(rig) == [] and rig.status()["offered_ma"] == 32000
    assert not rig.telemetry()["flags"] & lm.F_POWER_QUALITY


def test_t7_pq_reduce_caps_the_offer_then_restores_it_after_the_hold():
    rig = _rig(pq_response=10000)
    _mains(rig, 230000, 230000, 230000, 50600)
    _readings(rig, 4)
    st = rig.status()
    assert st["offered_ma"] == 10000 and st["limit_source"] == "power_quality"
    assert rig.board.duty_permille == 166 and rig.board.contacts_closed()
    _sent(rig)
    assert _pq_events(rig)[0]["cause"] == lm.PQ_OVERFREQUENCY
    _mains(rig, *NOMINAL)
    _readings(rig, 2)
    assert rig.status()["offered_ma"] == 10000  # the hold: 5 s back in band first
    assert rig.run_until(lambda r: r.status()["offered_ma"] == 32000, 7000) >= 0
    _sent(rig)
    assert _pq_events(rig)[-1] == {"on": 0, "cause": 0, "voltage_mv": 230000,
                                   "frequency_mhz": 50000}
    assert _pq_limits(rig)[-1]["reason"] == lm.R_REMOVED and _state(rig) == "normal"
    assert not rig.telemetry()["flags"] & lm.F_POWER_QUALITY


def test_t7_pq_none_reports_without_limiting():
    rig = _rig(pq_response="none")
    _mains(rig, 258000, 258000, 258000, 50000)
    _readings(rig, 4)
    assert rig.status()["offered_ma"] == 32000 and _state(rig) == "responding"
    _sent(rig)
    assert _pq_events(rig)[0]["on"] == 1 and _pq_events(rig)[0]["cause"] & lm.PQ_OVERVOLTAGE
    assert rig.telemetry()["flags"] & lm.F_POWER_QUALITY and _pq_limits(rig) == []


def test_t7_pq_randomised_delay_before_charging_resumes():
    """UK-11: charging would start again when the response ends, so the
    randomised delay runs first (cause charge_start after a pause); the
    response's limit holds until it is over."""
    rig = _rig([0, 0, 20], random_delay_max_s=600)  # restoration, plug-in: 0 s; resuming 20 s
    _mains(rig, 200000, 200000, 200000, 50000)
    _readings(rig, 4)
    assert rig.status()["offered_ma"] == 0
    _mains(rig, *NOMINAL)
    assert rig.run_until(lambda r: _state(r) == "resuming", 8000) >= 0
    st = rig.status()
    assert st["offered_ma"] == 0 and st["delay_remaining_s"] == 20
    _sent(rig)
    delay = rig.events(lm.EV_DELAY)[-1]
    assert (delay["a"], delay["b"], delay["c"]) == (1, 2, 20)  # on, CAUSE_CHARGE_START, 20 s
    assert _pq_events(rig)[-1]["on"] == 0
    assert rig.telemetry()["flags"] & lm.F_POWER_QUALITY
    rig.skip(17000)  # 18.5 s into the delay
    assert rig.status()["offered_ma"] == 0 and _state(rig) == "resuming"
    assert rig.run_until(lambda r: _state(r) == "normal", 2000) >= 0
    assert rig.run_until(lambda r: r.status()["offered_ma"] == 32000, 1000) >= 0


def test_t7_pq_no_delay_when_its_limit_did_not_bind():
    """UK-11 delays a rate that would rise: a reduced current above a lower
    limit in force (here the CSMS's 10 A) changes nothing when it goes."""
    rig = _rig([0, 0, 300], random_delay_max_s=600, pq_response=20000)
    rig.limit(lm.SRC_CSMS, 10000, 1)
    _mains(rig, 265000, 265000, 265000, 50000)
    _readings(rig, 4)
    assert _state(rig) == "responding" and rig.status()["limit_source"] == "csms"
    _mains(rig, *NOMINAL)
    assert rig.run_until(lambda r: _state(r) == "normal", 8000) >= 0
    assert rig.status()["delay_remaining_s"] == 0 and rig.status()["offered_ma"] == 10000


def test_t7_pq_override_does_not_lift_the_response():
    """DESIGN §5: the owner's override lifts the smart limits, never a grid
    limit like the site limit; the power-quality response is one. Ending it
    during an override runs no randomised delay (UK-11)."""
    rig = _rig([0, 0], random_delay_max_s=600)
    _mains(rig, 230000, 230000, 230000, 49400)
    _readings(rig, 4)
    rig.command(lm.CMD_OVERRIDE, 1)
    rig.run(100)
    st = rig.status()
    assert st["override"] is True and st["offered_ma"] == 0
    assert st["limit_source"] == "power_quality"
    _mains(rig, *NOMINAL)
    assert rig.run_until(lambda r: _state(r) == "normal", 8000) >= 0
    assert rig.status()["delay_remaining_s"] == 0
    assert rig.run_until(lambda r: r.status()["offered_ma"] == 32000, 1000) >= 0


def test_t7_pq_stale_meter_never_enters_the_response():
    """A meter that stops answering leaves its last values in place, stale:
    they are never judged again, whatever the supply does meanwhile. Once it
    answers again, its fresh readings count."""
    rig = _rig()
    rig.meter.inject("silence")
    _mains(rig, 190000, 190000, 190000, 48000)
    rig.run(8000)
    assert rig.status()["meter"]["stale"] is True and rig.events(lm.EV_METER)
    assert _pq_events(rig) == [] and _state(rig) == "normal"
    assert rig.status()["offered_ma"] == 32000
    rig.meter.clear()
    assert rig.run_until(lambda r: _state(r) == "responding", 6000) >= 0
    assert rig.status()["offered_ma"] == 0


def test_t7_pq_failed_poll_breaks_the_run_of_readings():
    rig = _rig()
    _mains(rig, 230000, 230000, 230000, 50700)
    _readings(rig, 2)
    rig.meter.inject("silence", 1)  # the next poll cycle fails
    assert rig.run_until(lambda r: r.ctl.meter.missed, 1500) >= 0
    _readings(rig, 2)
    assert _state(rig) == "normal" and _pq_events(rig) == []
    _readings(rig, 1)
    assert _state(rig) == "responding"


def test_t7_pq_meter_fault_ends_the_response():
    """Without readings the supply cannot be judged: the response ends
    (cause PQ_METER_FAULT) and the owner's meter_fault_action governs."""
    rig = _rig()
    _mains(rig, 200000, 200000, 200000, 50000)
    _readings(rig, 4)
    assert rig.status()["offered_ma"] == 0
    rig.meter.inject("silence")
    assert rig.run_until(lambda r: _state(r) == "normal", 6000) >= 0
    _sent(rig)
    ev = _pq_events(rig)[-1]
    assert ev["on"] == 0 and ev["cause"] & 0xFF == lm.PQ_METER_FAULT
    assert rig.run_until(lambda r: r.status()["offered_ma"] == 32000, 6000) >= 0


def test_t7_pq_settings_over_the_link_apply_at_once():
    """SETTING_SET during a response: a new response applies to it at once;
    an unsafe value is refused with its reason (UK-8)."""
    rig = _rig()
    _mains(rig, 200000, 200000, 200000, 50000)
    _readings(rig, 4)
    assert rig.status()["offered_ma"] == 0
    rig.setting_set("pq_response", 12000, tag=7)
    rig.run(20)
    assert rig.setting_values(7)[0]["status"] == lm.ST_OK
    assert rig.status()["target_ma"] == 12000
    _sent(rig)
    assert _pq_limits(rig)[-1]["asked_ma"] == 12000
    rig.setting_set("pq_voltage_min_mv", 240000, tag=8)
    rig.run(20)
    answer = rig.setting_values(8)[0]
    assert answer["status"] == lm.ST_INVALID and "at most 230 V" in answer["value"]


def test_t7_pq_sim_scenario_sag_pauses_and_resumes():
    """The sim's scenario language drives it: `mains` sets the emulated
    meter's voltage, the firmware pauses after 3 readings and resumes after
    the hold."""
    ch = Charger({"random_delay_max_s": 0, "pq_hold_s": 5}, meter="SDM630")
    trace = Scenario("""
plug B 220; wait_state C 10; draw 16 3; wait draw_ma >= 15000 10
mains voltage_v=207 phase=2 ; sleep 1.5       # at most 2 readings so far
expect power_quality normal ; expect draw_ma >= 15000
wait power_quality responding 2 ; wait limit_source power_quality 1 ; wait duty 1000 1
wait contactor 0 10
mains voltage_v=230 ; sleep 4                 # the 5 s hold is not over yet
expect power_quality responding
wait power_quality normal 5 ; wait draw_ma >= 15000 10
""", charger=ch).run()
    assert "> mains voltage_v=207 phase=2" in trace and "duty=1000" in trace
    assert ch.ctl.status()["power_quality"]["state"] == "normal"
