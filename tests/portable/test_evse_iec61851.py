# IEC 61851-1 Annex A behaviour of the whole controller on the sim board, in
# virtual time (IEC-STATE, IEC-DUTY, IEC-DIODE, IEC-OPEN, IEC-CLOSE, IEC-X1,
# IEC-PP). Standalone settings, no random delay unless a test asks for one.
from evse_rig import TICK_MS, Rig

from protocols import iec61851
from protocols import link_messages as lm

STANDALONE = {"random_delay_max_s": 0}


def _charging_rig(settings=None, pp_ohms=220):
    rig = Rig(settings or STANDALONE)
    rig.run(100)
    rig.board.plug("B", pp_ohms)
    rig.run(100)
    rig.board.set_ev_state("C")
    assert rig.run_until(lambda r: r.board.contacts_closed(), 3000) >= 0
    return rig


def test_iec_state_a_b_c_d_e_f_read_from_the_pilot():
    """IEC-STATE: A +12 V, B +9 V, C +6 V, D +3 V, E 0 V, F -12 V (x1 and x2)."""
    rig = Rig({"random_delay_max_s": 0, "allow_ventilation": 1})
    rig.run(50)
    assert rig.status()["cp_state"] == "A"
    rig.board.plug("B", 220)
    rig.run(50)
    assert rig.status()["cp_state"] == "B"
    rig.board.set_ev_state("C")
    rig.run(50)
    assert rig.status()["cp_state"] == "C"
    rig.board.set_ev_state("D")
    rig.run(50)
    assert rig.status()["cp_state"] == "D"
    rig.board.short_cp()
    rig.run(50)
    assert rig.status()["session"] == "fault"
    assert rig.status()["fault"] == lm.FAULT_CP_SHORT
    assert rig.board.duty_permille == 0  # F while faulted


def test_iec_state_reading_between_bands_keeps_state_then_faults():
    """IEC-STATE: a plateau in no band is never taken as a state; lasting, it is a fault."""
    rig = _charging_rig()
    rig.board.force_cp(7600, -12000)  # between B (9 V +-1) and C (6 V +-1)
    rig.run(200)
    st = rig.status()
    assert st["cp_state"] == "C" and st["session"] == "charging"
    rig.run(400)
    st = rig.status()
    assert st["session"] == "fault" and st["fault"] == lm.FAULT_PILOT
    assert st["contactor"] == 0 and rig.board.duty_permille == 0


def test_iec_duty_offers_the_limited_current_by_annex_a():
    """IEC-DUTY: the duty encodes the offered current per Annex A (16 A -> 26.6 %)."""
    rig = _charging_rig(dict(STANDALONE, site_limit_ma=16000))
    assert rig.board.duty_permille == 266
    assert iec61851.current_from_duty(rig.board.duty_permille) == 15960
    rig = _charging_rig(dict(STANDALONE, max_current_ma=63000, site_limit_ma=63000),
                        pp_ohms=100)
    assert rig.board.duty_permille == 892


def test_iec_diode_missing_never_closes_the_contactor():
    """IEC-DIODE: the negative plateau must reach -12 V before closing; a
    missing diode is a fault and the contactor stays open."""
    rig = Rig(STANDALONE)
    rig.run(100)
    rig.board.remove_diode()
    rig.board.plug("B", 220)
    rig.run(100)
    rig.board.set_ev_state("C")
    rig.run(3000)
    assert not rig.board.contactor_log or all(v == 0 for _, v in rig.board.contactor_log)
    st = rig.status()
    assert st["session"] == "fault" and st["fault"] == lm.FAULT_DIODE


def test_iec_diode_lost_while_charging_opens_within_two_ticks():
    rig = _charging_rig()
    rig.board.remove_diode()
    t = rig.run_until(lambda r: r.board.contactor_cmd == 0, 1000)
    assert 0 < t <= 2 * TICK_MS


def test_iec_open_within_100_ms_of_c_to_b_and_c_to_a():
    """IEC-OPEN: the contactor opens within 100 ms of leaving C (P1: 2 ticks)."""
    rig = _charging_rig()
    rig.board.set_ev_state("B")
    t = rig.run_until(lambda r: r.board.contactor_cmd == 0, 1000)
    assert 0 < t <= 2 * TICK_MS
    rig = _charging_rig()
    rig.board.unplug()
    t = rig.run_until(lambda r: r.board.contactor_cmd == 0, 1000)
    assert 0 < t <= 2 * TICK_MS


def test_iec_open_on_rcd_trip_at_once():
    rig = _charging_rig()
    rig.board.trip_rcd()
    t = rig.run_until(lambda r: r.board.contactor_cmd == 0, 1000)
    assert 0 < t <= TICK_MS
    assert rig.status()["fault"] == lm.FAULT_RCD


def test_iec_close_within_3_s_of_b2_to_c2():
    """IEC-CLOSE: the contactor closes within 3 s of B2 -> C2."""
    rig = Rig(STANDALONE)
    rig.run(100)
    rig.board.plug("B", 220)
    assert rig.run_until(lambda r: 0 < r.board.duty_permille < 1000, 1000) > 0
    rig.board.set_ev_state("C")
    t = rig.run_until(lambda r: r.board.contactor_cmd == 1, 3000)
    assert 0 < t <= 3000


def test_iec_x1_forces_open_6_s_after_pwm_stops_if_ev_stays_in_c():
    """IEC-X1: offer withdrawn (x1) and the EV stays in C: open after 6 s, not before."""
    rig = _charging_rig(dict(STANDALONE, link_timeout_ms=0))
    rig.command(lm.CMD_PAUSE)
    assert rig.run_until(lambda r: r.board.duty_permille == 1000, 100) > 0
    paused_at = rig.now_ms
    t = rig.run_until(lambda r: r.board.contactor_cmd == 0, 10000)
    assert t > 0
    waited = rig.now_ms - paused_at
    assert iec61851.X1_OPEN_MS <= waited <= iec61851.X1_OPEN_MS + 2 * TICK_MS
    assert rig.status()["session"] == "suspended"


def test_iec_pp_cable_rating_caps_the_offer():
    """IEC-PP: a 13 A cable (1500 ohm) caps a 32 A EVSE at 13 A."""
    rig = _charging_rig(pp_ohms=1500)
    assert rig.board.duty_permille == iec61851.duty_from_current(13000)
    assert rig.status()["limit_source"] == "cable"


def test_iec_pp_open_or_shorted_is_a_fault_never_an_offer():
    for ohms in (10, 5000):
        rig = Rig(STANDALONE)
        rig.run(100)
        rig.board.plug("B", ohms)
        rig.run(500)
        st = rig.status()
        assert st["session"] == "fault" and st["fault"] == lm.FAULT_PP
        assert all(d in (0, 1000) for _, d in rig.board.pwm_log)


def test_iec_welded_contactor_is_a_fault_reported_upstream():
    rig = _charging_rig()
    rig.hello()  # events flow once the gateway has said HELLO (LINK.md 5.1)
    rig.board.weld()
    rig.board.set_ev_state("B")
    rig.run(1500)  # events leave once flushed to flash, at most once a second
    st = rig.status()
    assert st["session"] == "fault" and st["fault"] == lm.FAULT_WELDED
    assert rig.board.duty_permille == 0
    faults = rig.events(lm.EV_FAULT)
    assert faults and faults[-1]["a"] == lm.FAULT_WELDED and faults[-1]["b"] == 1


def test_iec_ventilation_refused_unless_allowed():
    """State D needs ventilation: refused by default, the contactor stays open."""
    rig = Rig(STANDALONE)
    rig.run(100)
    rig.board.plug("D", 220)
    rig.run(3000)
    assert rig.board.contactor_cmd == 0
    assert rig.status()["session"] == "suspended"
    rig = Rig({"random_delay_max_s": 0, "allow_ventilation": 1})
    rig.run(100)
    rig.board.plug("B", 220)
    rig.run(100)
    rig.board.set_ev_state("D")
    assert rig.run_until(lambda r: r.board.contactor_cmd == 1, 3000) > 0


def test_indicator_shows_ready_delay_charging_override_and_fault():
    """The board's LED (hal.base IND_*) follows what the charger does."""
    from hal import base as hal

    rig = Rig({"random_delay_max_s": 5})
    rig.run(50)
    assert rig.board.indicator == hal.IND_DELAYED  # idle after power restoration (AG-13)
    rig.run(6000)
    assert rig.board.indicator == hal.IND_READY
    rig.board.plug("C", 220)
    rig.run(50)
    assert rig.board.indicator in (hal.IND_DELAYED, hal.IND_CHARGING)
    assert rig.run_until(lambda r: r.board.contacts_closed(), 7000) > 0
    rig.run(20)
    assert rig.board.indicator == hal.IND_CHARGING
    rig.command(lm.CMD_OVERRIDE, 1)
    rig.run(20)
    assert rig.board.indicator == hal.IND_OVERRIDE
    rig.board.trip_rcd()
    rig.run(20)
    assert rig.board.indicator == hal.IND_FAULT
