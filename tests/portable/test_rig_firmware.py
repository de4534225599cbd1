# The HIL rig controller's firmware (sim_hardware/rig_firmware/, docs/hil.md):
# the command handler of the rig protocol with its emulated IEC 61851-1 EV on a
# fake rig HAL, and the pilot measurement arithmetic. Runs on CPython and on
# the MicroPython VM.
from sim_hardware.rig_firmware import measure
from sim_hardware.rig_firmware import rig as rig_fw


class FakeHal:
    """The rig HAL: a clock the test moves, the duty the test sets, the outputs
    as last set."""

    cycle_ms = 3000

    def __init__(self):
        self.now = 0
        self.duty = 1000
        self.hi = 12000
        self.lo = 12000
        self.closed = 0
        self.bits = -1
        self.writes = 0

    def ticks_ms(self):
        return self.now

    def set_outputs(self, bits):
        self.bits = bits
        self.writes += 1

    def duty_permille(self):
        return self.duty

    def cp_high_mv(self):
        return self.hi

    def cp_low_mv(self):
        return self.lo

    def contactor_closed(self):
        return self.closed


def _rig():
    hal = FakeHal()
    return rig_fw.Rig(hal), hal


def _run(r, hal, ms, step=10):
    for _ in range(ms // step):
        hal.now += step
        r.tick()


def _fields(reply):
    out = {}
    for word in reply.split()[1:]:
        k, _, v = word.partition("=")
        out[k] = v
    return out


def test_rest_state_ev_unplugged_and_the_charger_powered():
    """At start and after RESET only the mains contactor is energised."""
    r, hal = _rig()
    assert hal.bits == rig_fw.OUT_MAINS
    r.handle_line(b"PLUG C 100")
    assert r.handle_line(b"RESET") == "OK"
    assert hal.bits == rig_fw.OUT_MAINS
    assert _fields(r.handle_line(b"READ"))["ev"] == "A"


def test_hello_names_protocol_capabilities_and_mains_cycle():
    r, _ = _rig()
    f = _fields(r.handle_line(b"hello"))
    assert f["rig"] == "1"
    assert f["caps"] == "pilot,contactor,mains,button"
    assert f["cycle_ms"] == "3000"


def test_annex_a_plug_in_state_b_networks_and_pp():
    """B: the EV circuit (diode + 2.74 kOhm) on CP and the cable's PP resistor."""
    r, hal = _rig()
    assert r.handle_line(b"PLUG B 220") == "OK"
    assert hal.bits == rig_fw.OUT_MAINS | rig_fw.OUT_EV | rig_fw.PP_BITS[1]
    r.handle_line(b"PLUG D 1500")
    assert hal.bits == rig_fw.OUT_MAINS | rig_fw.OUT_EV | rig_fw.OUT_D | rig_fw.PP_BITS[3]


def test_annex_a_ev_asks_c_once_offered_after_its_response_time():
    """B1 -> B2 (PWM offered) -> C2 after response_ms; the 1.3 kOhm switched in."""
    r, hal = _rig()
    r.handle_line(b"PLUG B 220")
    _run(r, hal, 2000)
    assert r.ev == "B"  # x1: no offer, the EV waits in B1
    hal.duty = 533
    _run(r, hal, 990)
    assert r.ev == "B"
    _run(r, hal, 20)
    assert r.ev == "C"
    assert hal.bits & rig_fw.OUT_C


def test_annex_a_ev_with_ventilation_asks_d():
    r, hal = _rig()
    r.handle_line(b"PLUG B 220")
    r.handle_line(b"EV vent=1 response_ms=0")
    hal.duty = 266
    _run(r, hal, 20)
    assert r.ev == "D"
    assert hal.bits & rig_fw.OUT_D and not hal.bits & rig_fw.OUT_C


def test_annex_a_ev_stays_in_c_without_pwm_and_leaves_when_not_ready():
    """x1 while charging: the EV stays in C (C1, IEC-X1); not ready: back to B."""
    r, hal = _rig()
    r.handle_line(b"PLUG B 220")
    r.handle_line(b"EV response_ms=100")
    hal.duty = 533
    _run(r, hal, 200)
    assert r.ev == "C"
    hal.duty = 1000
    _run(r, hal, 5000)
    assert r.ev == "C"
    r.handle_line(b"EV ready=0")
    _run(r, hal, 200)
    assert r.ev == "B"
    assert not hal.bits & rig_fw.OUT_C


def test_annex_a_five_percent_and_state_f_offer_nothing():
    """5 % asks for high-level communication, 0 is F: neither is an offer."""
    r, hal = _rig()
    r.handle_line(b"PLUG B 220")
    r.handle_line(b"EV response_ms=0")
    for duty in (50, 0, 975):
        hal.duty = duty
        _run(r, hal, 100)
        assert r.ev == "B", duty


def test_iec_diode_short_and_band_gap_outputs_only_while_plugged():
    r, hal = _rig()
    r.handle_line(b"PLUG B 220")
    r.handle_line(b"EV diode=0 short=1")
    assert r.handle_line(b"GAP 1") == "OK"
    want = rig_fw.OUT_DIODE_BYPASS | rig_fw.OUT_CP_SHORT | rig_fw.OUT_GAP
    assert hal.bits & want == want
    r.handle_line(b"UNPLUG")
    assert hal.bits == rig_fw.OUT_MAINS  # the short and the diode go with the EV
    r.handle_line(b"PLUG B 220")
    assert hal.bits & (rig_fw.OUT_DIODE_BYPASS | rig_fw.OUT_CP_SHORT)  # the EV's own faults
    assert not hal.bits & rig_fw.OUT_GAP  # the band gap is the lab's, not the EV's


def test_unplug_ev_keeps_the_cable_pp():
    r, hal = _rig()
    r.handle_line(b"PLUG C 680")
    assert r.handle_line(b"UNPLUG ev") == "OK"
    assert hal.bits == rig_fw.OUT_MAINS | rig_fw.PP_BITS[2]
    assert r.handle_line(b"PP open") == "OK"
    assert hal.bits == rig_fw.OUT_MAINS


def test_button_press_ends_after_its_ms():
    r, hal = _rig()
    assert r.handle_line(b"BUTTON 200") == "OK"
    assert hal.bits & rig_fw.OUT_BUTTON
    _run(r, hal, 190)
    assert hal.bits & rig_fw.OUT_BUTTON
    _run(r, hal, 20)
    assert not hal.bits & rig_fw.OUT_BUTTON


def test_mains_cut_for_ms_then_back_and_cut_until_on():
    r, hal = _rig()
    r.handle_line(b"MAINS OFF 3000")
    assert not hal.bits & rig_fw.OUT_MAINS
    _run(r, hal, 3000)
    assert hal.bits & rig_fw.OUT_MAINS
    r.handle_line(b"MAINS OFF")
    _run(r, hal, 100000, step=1000)
    assert not hal.bits & rig_fw.OUT_MAINS
    r.handle_line(b"MAINS ON")
    assert hal.bits & rig_fw.OUT_MAINS


def test_read_reports_measurements_and_outputs():
    r, hal = _rig()
    r.handle_line(b"PLUG B 220")
    hal.now = 1234
    hal.duty = 533
    hal.hi = 8950
    hal.lo = -11980
    hal.closed = 1
    f = _fields(r.handle_line(b"READ"))
    assert f["t"] == "1234" and f["duty"] == "533" and f["hi"] == "8950"
    assert f["lo"] == "-11980" and f["cont"] == "1" and f["ev"] == "B"
    assert f["pp"] == "220" and f["out"] == str(hal.bits) and f["mains"] == "1"


def test_bad_input_gets_err_and_changes_nothing():
    """Unknown commands, bad arguments, a half-bad EV line: ERR, no output written,
    no state changed."""
    r, hal = _rig()
    r.handle_line(b"PLUG B 220")
    before = r.handle_line(b"READ")
    writes = hal.writes
    bad = (b"FLY", b"PLUG", b"PLUG X", b"PLUG B 330", b"PLUG B 220 9", b"UNPLUG now",
           b"EV", b"EV ready", b"EV ready=2", b"EV ready=0 vent=x", b"EV speed=3",
           b"EV response_ms=-1", b"PP 47", b"GAP 2", b"BUTTON 0", b"BUTTON 99999",
           b"BUTTON 1e3", b"MAINS", b"MAINS UP", b"MAINS ON 5", b"MAINS OFF 0", b"READ 1",
           b"HELLO there", b"RESET now", b"EV ready=0 ready=x", b"\xffREAD", b"READ\x01")
    for line in bad:
        reply = r.handle_line(line)
        assert reply.startswith("ERR "), (line, reply)
    assert hal.writes == writes
    assert r.handle_line(b"READ") == before
    assert r.ready == 1


def test_gap_needs_the_ev_circuit():
    r, hal = _rig()
    assert r.handle_line(b"GAP 1").startswith("ERR GAP")
    assert not hal.bits & rig_fw.OUT_GAP


def test_lines_split_crlf_comments_and_overflow():
    """Bytes in any pieces; \\r\\n ends a line; blank and # lines get no reply; a line
    over 120 characters is refused whole and the next one works."""
    r, _ = _rig()
    assert r.feed(b"HEL") == []
    assert r.feed(b"LO\r\n\r\n# note\nREA") == ["OK rig=1 fw=%s caps=%s cycle_ms=3000"
                                                    % (rig_fw.VERSION, rig_fw.CAPS)]
    assert r.feed(b"D\n")[0].startswith("OK t=")
    replies = r.feed(b"X" * 300 + b"\nHELP\n")
    assert replies[0] == "ERR line longer than 120 characters"
    assert replies[1].startswith("OK commands=HELLO")


def test_duty_from_counts_rounds_and_rejects_non_1khz_periods():
    """125 MHz: a 1 kHz period is 125000 cycles; 53.3 % -> 533 permille."""
    assert measure.duty_from_counts(66625, 58375, 125000000) == 533
    assert measure.duty_from_counts(62500, 62500, 125000000) == 500
    assert measure.duty_from_counts(10000, 115000, 125000000) == 80
    assert measure.duty_from_counts(66625, 58375, 125000000, 125) == 532  # 1 us trim
    assert measure.duty_from_counts(66625, 10, 125000000) == measure.NO_DUTY  # cut short
    assert measure.duty_from_counts(1000000, 58375, 125000000) == measure.NO_DUTY
    assert measure.duty_from_counts(0, 0, 125000000) == measure.NO_DUTY


def test_plateaus_drop_edge_samples_and_average():
    buf = [3000, 3010, 2990, 1800, 500, 505, 495, 3000]
    assert measure.plateaus(buf, len(buf), 200) == (3000, 500)
    assert measure.plateaus([2000, 2010, 1990, 2000], 4, 200) == (2000, 2000)


def test_pilot_mv_through_the_two_calibration_points():
    cal = (338, -12000, 2143, 12000)
    assert measure.pilot_mv(338, cal) == -12000
    assert measure.pilot_mv(2143, cal) == 12000
    assert 8900 <= measure.pilot_mv(1917, cal) <= 9100  # docs/hardware.md: +9 V (B)
