# The EV models and the mains of sim_hardware (ev.py, mains.py) with the
# firmware's controller on the sim board, on virtual time (issue 5): the basic
# IEC 61851 EV, ventilation (D), missing diode, CP short (E), slow to follow a
# lower duty, drawing after the PWM stops, bidirectional (AG-06), state of
# charge (AG-07); mains outage and restoration (AG-13), voltage and frequency
# per phase (T7-PQ).
from mpunit import raises
from protocols import iec61851
from protocols import link_messages as lm
from sim_hardware.charger import TICK_MS, Charger
from sim_hardware.ev import EV
from sim_hardware.sim_board import SimBoard

STANDALONE = {"random_delay_max_s": 0}


def _run(ch, ms):
    for _ in range(ms // TICK_MS):
        ch.tick()


def _until(ch, pred, max_ms):
    """Ticks until pred(ch); the virtual ms it took, -1 if never."""
    start = ch.board.now_ms
    while ch.board.now_ms - start < max_ms:
        ch.tick()
        if pred(ch):
            return ch.board.now_ms - start
    return -1


def _charging(settings=None, kind="basic", **params):
    ch = Charger(settings or STANDALONE, ev=kind)
    if params:
        ch.ev.configure(**params)
    ch.ev.plug("B", 220)
    assert _until(ch, lambda c: c.board.ev_current_ma[0] != 0, 10000) > 0, "never drew"
    return ch


def _pause(ch):
    ch.link_send(lm.COMMAND, {"command": lm.CMD_PAUSE, "arg": 0})


def test_basic_ev_b_on_plug_c_after_its_response_to_the_offer():
    """Annex A: B on plug-in; the EV asks C (B2 -> C2) response_ms after the PWM offer."""
    ch = Charger(dict(STANDALONE, site_limit_ma=16000))
    ch.ev.plug("B", 220)
    t_offer = _until(ch, lambda c: 0 < c.board.duty_permille < 1000, 1000)
    assert t_offer > 0 and ch.ev.state == "B" and ch.board.duty_permille == 266
    t_c = _until(ch, lambda c: c.ev.state == "C", 3000)
    assert t_c == ch.ev.response_ms
    assert _until(ch, lambda c: c.board.contactor_cmd == 1, 3000) > 0


def test_basic_ev_draws_min_of_offer_and_its_max_on_three_phases():
    """The EV decodes the duty: 26.6 % = 15.96 A, under its own 32 A, on L1-L3."""
    ch = _charging(dict(STANDALONE, site_limit_ma=16000))
    assert ch.board.ev_current_ma == [15960, 15960, 15960]
    assert iec61851.current_from_duty(ch.board.duty_permille) == 15960


def test_basic_ev_single_phase_at_its_own_max():
    ch = _charging(phases=1, max_ma=10000)
    assert ch.board.ev_current_ma == [10000, 0, 0]
    assert ch.board.duty_permille == 533  # 32 A offered, 10 A taken


def test_basic_ev_draws_only_through_closed_contacts_after_its_response():
    ch = Charger(STANDALONE)
    ch.ev.plug("C", 220)
    t_closed = _until(ch, lambda c: c.board.contacts_closed() == 1, 3000)
    assert t_closed > 0 and ch.board.ev_current_ma[0] == 0
    t_draw = _until(ch, lambda c: c.board.ev_current_ma[0] != 0, 3000)
    assert ch.ev.response_ms <= t_draw <= ch.ev.response_ms + TICK_MS


def test_basic_ev_full_battery_stops_and_goes_to_b_suspended_ev():
    """At its target SoC the EV stops drawing and returns to B; the EVSE opens
    (IEC-OPEN) and reports SuspendedEV (AG-06)."""
    ch = _charging(phases=1, max_ma=16000, capacity_wh=100, soc_permille=950)
    assert _until(ch, lambda c: c.ev.state == "B", 20000) > 0
    assert ch.ev.soc_percent() == 100 and ch.board.ev_current_ma == [0, 0, 0]
    assert _until(ch, lambda c: c.board.contactor_cmd == 0, 100) <= 2 * TICK_MS
    assert ch.status()["wire_session"] == "suspended_ev"
    assert 5 <= ch.ev.energy_in_wh() <= 7  # 5 Wh to full, then up to 1 s more


def test_nothing_offered_is_suspended_evse_an_unused_offer_suspended_ev():
    """TELEMETRY session (OCPP statuses): a firmware that offers nothing to a plugged-in EV
    (paused, CONNECTED, x1) is the EVSE suspending the charge; an offer (PWM) the EV does not
    take is the EV's (an EV that never drew: B with the PWM on)."""
    ch = Charger(STANDALONE)
    ch.ev.configure(ready=0)
    _pause(ch)
    ch.ev.plug("B", 220)
    _run(ch, 500)
    assert ch.ctl.session.state == 1 and ch.status()["wire_session"] == "suspended_evse"
    ch.link_send(lm.COMMAND, {"command": lm.CMD_RESUME, "arg": 0})
    _run(ch, 500)
    assert ch.status()["duty"] != iec61851.DUTY_X1_PERMILLE
    assert ch.status()["wire_session"] == "suspended_ev"


def test_ag07_soc_integrates_energy_at_the_mains_voltage():
    """AG-07: SoC from energy = sum over phases of V x I x t; a lower voltage
    (T7-PQ) gives less energy for the same current."""
    for volts_mv, expect_mwh in ((230000, 9200), (207000, 8280)):
        ch = Charger(dict(STANDALONE, site_limit_ma=16000))
        ch.mains.set_voltage_mv(volts_mv)
        ch.ev.configure(phases=1, capacity_wh=1000, soc_permille=0)
        ch.ev.plug("B", 220)
        _until(ch, lambda c: c.board.ev_current_ma[0] != 0, 5000)
        _run(ch, 9000)  # 15.96 A x V x 9 s
        assert expect_mwh - 60 <= ch.ev.in_mwh <= expect_mwh + 60, ch.ev.in_mwh
        assert ch.ev.soc_permille() == ch.ev.in_mwh // 1000
    ch.ev.configure(capacity_wh=100, soc_permille=427)
    assert ch.ev.soc_percent() == 42 and ch.status()["soc"] == 42


def test_ventilation_ev_refused_unless_allowed():
    """State D: no offer and never closed unless allow_ventilation; then D2 charges."""
    ch = Charger(STANDALONE, ev="ventilation")
    ch.ev.plug("B", 220)
    _run(ch, 3000)
    st = ch.status()
    assert ch.ev.state == "D" and st["cp"] == "D" and st["session"] == "suspended"
    assert ch.board.contactor_cmd == 0 and ch.board.duty_permille == 1000
    ch = _charging(dict(STANDALONE, allow_ventilation=1), kind="ventilation")
    assert ch.ev.state == "D" and ch.status()["session"] == "charging"


def test_ev_without_diode_is_a_diode_fault_never_charged():
    """IEC-DIODE: a missing or shorted diode: fault, the contactor never closes."""
    ch = Charger(STANDALONE, ev="no_diode")
    ch.ev.plug("B", 220)
    _run(ch, 3000)
    assert ch.status()["fault"] == lm.FAULT_DIODE
    assert ch.board.contactor_cmd == 0 and ch.board.ev_current_ma[0] == 0


def test_cp_short_is_state_e_until_cleared():
    """State E (CP shorted to PE): fault, F driven, no current; gone when cleared."""
    ch = _charging()
    ch.ev.configure(cp_short=1)
    assert _until(ch, lambda c: c.board.contactor_cmd == 0, 100) <= 2 * TICK_MS
    st = ch.status()
    assert st["fault"] == lm.FAULT_CP_SHORT and ch.board.duty_permille == 0
    _run(ch, 100)
    assert ch.board.ev_current_ma[0] == 0
    ch.ev.configure(cp_short=0)
    assert _until(ch, lambda c: c.board.contactor_cmd == 1, 5000) > 0


def test_slow_ev_keeps_the_old_current_past_five_seconds():
    """Annex A gives the EV about 5 s to follow a lower duty: the basic EV takes
    its response time, the slow one 8 s, drawing over the offer meanwhile."""
    for kind, follow_ms in (("basic", 1000), ("slow_follow", 8000)):
        ch = _charging(kind=kind)
        assert ch.board.ev_current_ma[0] == 31980
        ch.limit(10000)
        t_duty = _until(ch, lambda c: c.board.duty_permille == 166, 100)
        t = _until(ch, lambda c: c.board.ev_current_ma[0] == 9960, 20000)
        assert t_duty > 0 and follow_ms <= t <= follow_ms + 2 * TICK_MS, (kind, t)
        assert follow_ms - TICK_MS <= ch.ev.over_offer_ms <= follow_ms + TICK_MS
    assert ch.ev.over_offer_ms > iec61851.EV_FOLLOW_MS


def test_ev_drawing_after_pwm_stops_is_cut_by_the_6_s_rule():
    """IEC-X1: offer withdrawn; a basic EV stops drawing within its response
    and stays in C; one that keeps drawing is cut off when the EVSE opens 6 s later."""
    for kind, draws_until_ms in (("basic", 1000), ("ignores_x1", iec61851.X1_OPEN_MS)):
        ch = _charging(kind=kind)
        _pause(ch)
        assert _until(ch, lambda c: c.board.duty_permille == 1000, 100) > 0
        t_zero = _until(ch, lambda c: c.board.ev_current_ma[0] == 0, 10000)
        assert draws_until_ms <= t_zero <= draws_until_ms + 5 * TICK_MS + 30, (kind, t_zero)
        assert ch.ev.state == "C"
        _until(ch, lambda c: c.board.contactor_cmd == 0, 7000)
        assert ch.status()["session"] == "suspended"


def test_ag06_bidirectional_ev_discharges_down_to_its_minimum():
    """AG-06 discharging: negative current on every phase, SoC falls, the EV
    stops at its minimum and goes to B."""
    ch = _charging(kind="bidirectional", capacity_wh=100, soc_permille=215)
    ch.ev.configure(discharge=1, discharge_max_ma=10000)
    assert _until(ch, lambda c: c.board.ev_current_ma[0] < 0, 3000) > 0
    assert ch.board.ev_current_ma == [-10000, -10000, -10000]
    assert ch.status()["draw_ma"] == -10000
    assert _until(ch, lambda c: c.ev.state == "B", 20000) > 0
    assert ch.ev.soc_permille() <= 200 and ch.ev.energy_out_wh() >= 1
    with raises(ValueError):
        EV(SimBoard()).configure(discharge=1)  # a basic EV cannot export


def test_ev_parameters_are_checked():
    ev = EV(SimBoard())
    with raises(ValueError):
        ev.configure(max_ma=90000)
    with raises(ValueError):
        ev.configure(wings=2)
    with raises(ValueError):
        ev.kind("hovercraft")
    with raises(ValueError):
        ev.plug("A")
    ev.kind("slow_follow")
    ev.kind("basic")  # back to the defaults of every flag
    assert ev.follow_down_ms == -1 and ev.diode == 1


def test_ag13_power_cut_reboots_with_storage_intact_then_restarts_after_delay():
    """AG-13: the outage drops F and opens at once; on restoration a new
    controller on the same board (settings and event log kept) is idle first,
    then charges again after its random delay."""
    ch = _charging({"random_delay_max_s": 5, "site_limit_ma": 16000})
    ctl = ch.ctl
    seq = ctl.events.next_seq
    ch.power_cut(2000)
    _run(ch, 50)
    assert ch.board.duty_permille == 0 and ch.board.contactor_cmd == 0
    assert ch.board.ev_current_ma[0] == 0 and ch.board.mains_mv == [0, 0, 0]
    assert ch.status()["session"] == "off"
    _until(ch, lambda c: c.ctl is not None, 3000)
    assert ch.ctl is not ctl and ch.board.resets == 1 and ch.board.reset_cause() == 0
    assert ch.ctl.settings["site_limit_ma"] == 16000 and ch.ctl.events.next_seq > seq
    assert ch.board.duty_permille == 1000 and ch.board.contactor_cmd == 0
    delay_ms = ch.ctl.delay.delay_s * 1000
    t = _until(ch, lambda c: c.board.ev_current_ma[0] == 15960, 10000)
    assert delay_ms < t <= delay_ms + 3000, (delay_ms, t)


def test_t7_pq_voltage_per_phase_and_frequency():
    ch = Charger(STANDALONE)
    ch.mains.set_voltage_mv(207000, 2)
    ch.mains.set_frequency_mhz(49800)
    assert ch.board.mains_mv == [230000, 207000, 230000] and ch.board.mains_mhz == 49800
    ch.mains.set_voltage_mv(253000)
    assert ch.board.mains_mv == [253000, 253000, 253000]
    with raises(ValueError):
        ch.mains.set_frequency_mhz(80000)
    with raises(ValueError):
        ch.mains.set_voltage_mv(230000, 4)
