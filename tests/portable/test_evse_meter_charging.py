# The MID meter in the charger (AG-03, AG-08, UK-9, T7-PQ), on CPython and the
# MicroPython VM: the controller with its emulated SDM630 on the sim board's
# RS-485 port (tests/portable/evse_rig.py), the gateway's view of it on the
# link, what a meter fault does to charging, session energy across a power
# cut, and a missing or failing meter never touching safety.
from evse_rig import TICK_MS, Rig, charging_rig

from evse import meter as mm
from protocols import link_messages as lm
from protocols import meters as m
from sim_hardware.meter_emulator import MeterEmulator

STANDALONE = {"random_delay_max_s": 0}
E_IMPORT = m.E_IMPORT


def _settings(**kw):
    s = dict(STANDALONE)
    s.update(kw)
    return s


def _charging(settings=None, ma=16000, **kw):
    rig = charging_rig(settings or STANDALONE, **kw)
    rig.board.ev_current_ma = [ma, ma, ma]
    return rig


def _telemetry_since(rig, start):
    return [f for t, _, f in rig.up[start:] if t == lm.TELEMETRY]


def test_ag03_status_meter_gives_integers_with_their_age():
    """AG-03 / T7-PQ: current, voltage, power, energy and frequency measured,
    in integers, with the time each was read; status()["meter"] (DESIGN §3.2)."""
    rig = _charging()
    rig.board.mains_mv = [231000, 229000, 232000]
    rig.board.mains_mhz = 49950
    rig.run(2500)
    st = rig.status()["meter"]
    assert (st["v1_mv"], st["v2_mv"], st["v3_mv"]) == (231000, 229000, 232000)
    assert (st["i1_ma"], st["i2_ma"], st["i3_ma"]) == (16000, 16000, 16000)
    assert (st["p1_w"], st["p2_w"], st["p3_w"]) == (3696, 3664, 3712)
    assert st["p_total_w"] == 11072 and st["freq_mhz"] == 49950
    assert st["e_import_wh"] <= rig.meter.served()[E_IMPORT] <= st["e_import_wh"] + 4
    assert st["e_export_wh"] == 0
    assert 0 <= st["age_ms"] <= 1000 and st["stale"] is False
    assert st["fault"] == 0 and st["reason"] == "ok" and st["model"] == "SDM630"
    assert all(0 < t <= rig.ctl.board.ticks_ms() for t in st["read_ms"])
    for name in m.QUANTITY_NAMES:
        assert type(st[name]) is int, name


def test_ag03_hello_announces_the_meter():
    rig = Rig(STANDALONE)
    rig.run(100)
    assert rig.messages(lm.HELLO)[0]["capabilities"] & lm.CAP_METER
    rig = Rig(_settings(meter={"model": "none"}))
    rig.run(100)
    assert not rig.messages(lm.HELLO)[0]["capabilities"] & lm.CAP_METER


def test_ag08_telemetry_carries_the_meter_values():
    """AG-08: near-real-time current, voltage, power and energy upstream."""
    rig = _charging(_settings(telemetry_interval_s=1))
    rig.run(3000)
    t = rig.telemetry()
    st = rig.status()["meter"]
    assert (t["current_l1_ma"], t["current_l2_ma"], t["current_l3_ma"]) == (16000,) * 3
    assert (t["voltage_l1_mv"], t["voltage_l2_mv"], t["voltage_l3_mv"]) == (230000,) * 3
    assert t["power_w"] == 11040 and t["frequency_mhz"] == 50000
    assert t["energy_import_wh"] <= st["e_import_wh"] <= t["energy_import_wh"] + 4
    assert t["energy_export_wh"] == 0
    assert not t["flags"] & lm.F_METER_STALE and 0 <= t["meter_age_ms"] <= 1100


def test_ag08_telemetry_interval_is_a_setting_from_1_to_300_s():
    """AG-08: reporting interval configurable, sub-minute granularity up to 5 minutes."""
    for interval_s in (1, 10, 300):
        rig = _charging(_settings(telemetry_interval_s=interval_s))
        rig.run(2000)
        times = []
        for _ in range(min(interval_s, 10) * 3000 // TICK_MS):
            n = len(rig.up)
            rig.tick()
            if _telemetry_since(rig, n):
                times.append(rig.now_ms)
        gaps = [times[i + 1] - times[i] for i in range(len(times) - 1)]
        if interval_s <= 10:
            assert len(gaps) >= 2 and all(g == interval_s * 1000 for g in gaps), gaps
        else:  # steady: nothing before the interval is up, 300 s after the last one
            due_ms = rig.ctl.uplink.next_telemetry_ms - rig.ctl.board.ticks_ms()
            assert times == [] and 300000 - 32000 <= due_ms <= 300000 - 30000
    rig = Rig(_settings(telemetry_interval_s=301))
    assert rig.ctl.settings["telemetry_interval_s"] == 10  # refused: above 300 s (UK-8)


def test_ag08_telemetry_at_once_when_the_current_changes():
    """AG-08: on change: a phase current that moved by 1 A is reported with
    the next meter reading, whatever the interval."""
    rig = _charging(_settings(telemetry_interval_s=300))
    rig.run(3000)
    start = len(rig.up)
    rig.board.ev_current_ma = [10000, 10000, 10000]
    t = rig.run_until(lambda r: _telemetry_since(r, start), 3000)
    assert 0 < t <= 1100
    assert _telemetry_since(rig, start)[0]["current_l1_ma"] == 10000
    start = len(rig.up)
    rig.board.ev_current_ma = [10500, 10500, 10500]  # under 1 A: no extra telemetry
    rig.run(5000)
    assert _telemetry_since(rig, start) == []


def test_ag03_stale_values_are_never_reported_as_fresh_on_the_link():
    """Issue 4: when the meter stops answering, every TELEMETRY after the first
    missed poll has F_METER_STALE, the last values and a growing meter_age_ms;
    after 3 missed polls an EV_METER event (ok=0, no_answer) goes upstream."""
    rig = _charging(_settings(telemetry_interval_s=1), auto_ack=True)
    rig.run(3000)
    good = rig.telemetry()
    rig.meter.inject("silence")
    start = len(rig.up)
    rig.run(8000)
    tel = _telemetry_since(rig, start)
    fresh = [t for t in tel if not t["flags"] & lm.F_METER_STALE]
    stale = [t for t in tel if t["flags"] & lm.F_METER_STALE]
    assert len(fresh) <= 1 and len(stale) >= 6
    ages = [t["meter_age_ms"] for t in stale]
    assert ages == sorted(ages) and ages[-1] >= 7000
    for t in stale:
        assert t["current_l1_ma"] == 16000 and t["voltage_l1_mv"] == good["voltage_l1_mv"]
    ev = rig.events(lm.EV_METER)
    assert len(ev) == 1 and (ev[0]["a"], ev[0]["b"], ev[0]["d"]) == (0, mm.R_NO_ANSWER, 3)
    assert lm.event_args(ev[0]) == ("meter", {"ok": 0, "reason": mm.R_NO_ANSWER, "value": 0,
                                              "value2": 3})
    rig.meter.clear()
    rig.run(2000)
    t = rig.telemetry()
    assert not t["flags"] & lm.F_METER_STALE and t["meter_age_ms"] < 1100
    assert rig.events(lm.EV_METER)[-1]["a"] == 1
    for t in _telemetry_since(rig, 0):  # nothing fresh was ever older than a poll cycle
        if not t["flags"] & lm.F_METER_STALE:
            assert t["meter_age_ms"] <= rig.ctl.meter.stale_after_ms


def test_ag03_meter_fault_continue_is_the_default():
    rig = _charging()
    assert rig.ctl.settings["meter_fault_action"] == "continue"
    rig.meter.inject("silence")
    rig.run(5000)
    st = rig.status()
    assert st["meter"]["fault"] == mm.R_NO_ANSWER
    assert st["offered_ma"] == 32000 and st["contactor"] == 1 and st["limit_source"] != "meter"


def test_ag03_meter_fault_limits_the_current_until_the_meter_is_back():
    rig = _charging(_settings(meter_fault_action="limit", meter_fault_limit_ma=10000),
                    auto_ack=True)
    rig.run(2000)
    rig.meter.inject("crc")
    rig.run(5000)
    st = rig.status()
    assert st["offered_ma"] == 10000 and st["limit_source"] == "meter"
    assert st["contactor"] == 1 and rig.telemetry()["limit_source"] == lm.SRC_METER
    ev = rig.events(lm.EV_LIMIT_APPLIED)[-1]
    assert ev["a"] == lm.SRC_METER and ev["d"] == 10000
    rig.meter.clear()
    rig.run(8000)  # increases wait pwm_min_interval_ms (Annex A)
    assert rig.status()["offered_ma"] == 32000 and rig.status()["meter"]["fault"] == 0


def test_ag03_meter_fault_stop_pauses_the_charge():
    rig = _charging(_settings(meter_fault_action="stop"))
    rig.run(2000)
    rig.meter.inject("exception", -1, 4)
    rig.run(5000)
    st = rig.status()
    assert st["offered_ma"] == 0 and st["duty_permille"] == 1000  # x1, no offer
    rig.run(7000)  # the EV stays in C: the contactor opens after 6 s (IEC-X1)
    assert rig.board.contactor_cmd == 0
    rig.meter.clear()
    rig.run(8000)
    assert rig.board.contactor_cmd == 1 and rig.status()["offered_ma"] == 32000


def test_ag03_fault_action_changed_over_the_link_applies_at_once():
    rig = _charging()
    rig.meter.inject("silence")
    rig.run(5000)
    assert rig.status()["offered_ma"] == 32000
    rig.setting_set("meter_fault_action", "limit", tag=3)
    rig.run(20)
    assert rig.setting_values(3)[0]["status"] == lm.ST_OK
    assert rig.status()["offered_ma"] == 6000
    rig.setting_set("meter_fault_action", "continue", tag=4)
    rig.run(6000)
    assert rig.status()["offered_ma"] == 32000


def test_ag03_meter_settings_over_the_link_reconfigure_the_poller():
    rig = _charging()
    rig.run(2000)
    rig.setting_set("meter.unit_id", 5, tag=7)
    rig.run(5000)
    assert rig.setting_values(7)[0]["status"] == lm.ST_OK
    assert rig.setting_values(7)[0]["value"] == 5
    assert rig.status()["meter"]["fault"] == mm.R_NO_ANSWER  # the meter is unit 1
    rig.board.meter_take()
    rig.setting_set("meter", '{"unit_id": 1, "baud": 19200}', tag=8)
    rig.run(5000)
    assert rig.board.meter_baud == 19200  # the port follows the setting
    assert rig.status()["meter"]["fault"] in (mm.R_CRC, mm.R_FRAME)  # the meter: 9600 baud
    rig.meter.baud = 19200
    rig.run(2000)
    assert rig.status()["meter"]["fault"] == 0 and not rig.status()["meter"]["stale"]


def test_ag03_a_missing_meter_never_affects_safety():
    """Safety never depends on the meter: with no meter on the bus, even with
    meter_fault_action stop, IEC-OPEN, the RCD and the diode check act as
    ever; a meter port that raises stops neither the tick nor the charge."""
    rig = Rig(_settings(meter_fault_action="continue"), meter=None)
    rig.run(100)
    rig.board.plug("B", 220)
    rig.run(100)
    rig.board.set_ev_state("C")
    assert rig.run_until(lambda r: r.board.contacts_closed(), 3000) >= 0
    rig.run(5000)
    assert rig.status()["meter"]["fault"] == mm.R_NO_ANSWER and rig.board.contactor_cmd == 1
    rig.board.set_ev_state("B")
    t = rig.run_until(lambda r: r.board.contactor_cmd == 0, 1000)
    assert 0 < t <= 2 * TICK_MS  # IEC-OPEN, P1
    rig.board.set_ev_state("C")
    assert rig.run_until(lambda r: r.board.contactor_cmd == 1, 3000) > 0

    def broken(buf):
        raise OSError(5)

    rig.board.meter_read = broken
    rig.run(1000)
    st = rig.status()
    assert st["meter"]["fault"] in (mm.R_NO_ANSWER, mm.R_INTERNAL)
    assert "OSError" in st["meter"]["error"] and st["contactor"] == 1
    rig.board.trip_rcd()
    t = rig.run_until(lambda r: r.board.contactor_cmd == 0, 1000)
    assert 0 < t <= TICK_MS and rig.status()["fault"] == lm.FAULT_RCD


def test_ag03_stop_action_is_only_a_limit_the_ev_still_leaves_safely():
    rig = _charging(_settings(meter_fault_action="stop"))
    rig.meter.inject("silence")
    t = rig.run_until(lambda r: r.status()["offered_ma"] == 0, 6000)
    assert t > 0 and rig.board.contactor_cmd == 1  # pausing: waits for the EV (Annex A)
    rig.board.set_ev_state("B")
    t = rig.run_until(lambda r: r.board.contactor_cmd == 0, 1000)
    assert 0 < t <= 2 * TICK_MS


def test_ag03_model_none_no_meter_no_polls_no_cap():
    """A charger without a meter (model "none"): nothing is polled, nothing
    measured is claimed, and the fault action has nothing to act on."""
    rig = Rig(_settings(meter={"model": "none"}, meter_fault_action="stop"))
    assert rig.meter is None
    rig.run(100)
    rig.board.plug("B", 220)
    rig.run(100)
    rig.board.set_ev_state("C")
    assert rig.run_until(lambda r: r.board.contacts_closed(), 3000) >= 0
    rig.run(5000)
    st = rig.status()
    assert st["meter"] is None and st["offered_ma"] == 32000
    assert rig.board.meter_take() == b""
    t = rig.telemetry()
    assert t["flags"] & lm.F_METER_STALE and t["meter_age_ms"] == 65535
    assert t["current_l1_ma"] == 0 and t["energy_import_wh"] == 0
    assert rig.events(lm.EV_METER) == []


def test_uk9_session_energy_in_the_session_events():
    """UK-9: the energy of each charge from the meter's import register:
    session_start carries the register, session_stop the session's Wh."""
    rig = _charging(auto_ack=True)
    rig.run(60000)
    rig.board.ev_current_ma = [0, 0, 0]  # the EV is full
    rig.run(2000)
    rig.board.unplug()
    rig.run(100)
    start = rig.events(lm.EV_SESSION_START)
    stop = rig.events(lm.EV_SESSION_STOP)
    assert len(start) == 1 and len(stop) == 1
    assert start[0]["c"] == stop[0]["c"] == 1
    assert stop[0]["a"] == lm.STOP_UNPLUG
    assert stop[0]["d"] == rig.meter.served()[E_IMPORT] - start[0]["d"]
    assert 180 <= stop[0]["d"] <= 190  # 11.04 kW for about a minute
    codes = [e["code"] for e in rig.events()]
    assert codes.index(lm.EV_PLUG) < codes.index(lm.EV_SESSION_START)
    assert codes.index(lm.EV_UNPLUG) < codes.index(lm.EV_SESSION_STOP)


def test_uk9_energy_persisted_across_a_power_cut():
    """UK-9 / issue 4: a power cut mid-session loses no energy: after the
    restart the session it ended is closed (STOP_POWER_LOSS) with the energy
    the meter counted up to the cut, and session ids continue."""
    rig = _charging(auto_ack=True)
    rig.run(120000)
    before = rig.meter.served()[E_IMPORT]
    start = rig.events(lm.EV_SESSION_START)[0]
    rig.power_cut(5000)  # the EV stays plugged in, in C
    rig.auto_ack = True
    rig.hello()
    rig.run(3000)
    stops = rig.events(lm.EV_SESSION_STOP)
    assert len(stops) == 1 and stops[0]["a"] == lm.STOP_POWER_LOSS and stops[0]["c"] == 1
    assert stops[0]["d"] == before - start["d"]  # all the meter counted up to the cut
    assert 365 <= stops[0]["d"] <= 372  # 11.04 kW for two minutes: 368 Wh
    starts = rig.events(lm.EV_SESSION_START)
    assert starts[-1]["c"] == 2  # the EV still plugged in: a new session, the next id
    assert starts[-1]["d"] in (-1, before)  # from the register as the restart found it
    assert rig.ctl.session_id == 2


def test_uk9_power_cut_with_the_meter_gone_keeps_the_last_saved_energy():
    """With no meter after the restart the session's energy is the one saved
    at most 15 minutes before the cut; it is reported once the meter is in
    fault."""
    rig = _charging(auto_ack=True)
    for _ in range(16):  # 16 minutes of charging, a poll cycle after each minute
        rig.skip(60000)
        rig.run(200)
    saved = rig.ctl.meter.energy.wh
    assert saved > 2500
    rig.meter.inject("silence")
    rig.power_cut(5000)
    rig.auto_ack = True
    rig.hello()
    rig.run(6000)
    stops = rig.events(lm.EV_SESSION_STOP)
    assert len(stops) == 1 and stops[0]["a"] == lm.STOP_POWER_LOSS
    assert 2500 < stops[0]["d"] <= saved


def test_uk9_session_file_is_written_rarely():
    """Flash wear: session.json at start, stop and at most every 15 minutes."""
    rig = _charging(auto_ack=True)
    writes = []
    own = rig.board.storage_write

    def count(name, data):
        if name == "session.json":
            writes.append(rig.now_ms)
        return own(name, data)

    rig.board.storage_write = count
    for _ in range(35):  # 35 minutes
        rig.skip(60000)
        rig.run(200)
    rig.board.unplug()
    rig.run(100)
    assert 2 <= len(writes) <= 4  # two periodic saves and the stop


def test_uk9_session_keeps_its_energy_when_the_meter_is_replaced():
    """A meter setting changed mid-session (another meter, another register):
    the session keeps what it counted and goes on from the new meter."""
    rig = _charging(auto_ack=True)
    rig.run(60000)
    counted = rig.ctl.meter.energy.wh
    assert 180 <= counted <= 185
    other = MeterEmulator("EM340", 3, rig.board, import_wh=9000000)
    rig.board.meter_device = other.respond
    rig.setting_set("meter", '{"model": "EM340", "unit_id": 3}', tag=2)
    rig.run(60000)
    assert rig.status()["meter"]["model"] == "EM340" and rig.status()["meter"]["fault"] == 0
    wh = rig.ctl.meter.energy.wh
    assert counted + 100 <= wh <= counted + 200  # EM340 counts in 0.1 kWh steps
    rig.board.unplug()
    rig.run(100)
    assert rig.events(lm.EV_SESSION_STOP)[-1]["d"] == wh
