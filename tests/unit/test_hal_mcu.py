"""The real boards' HAL (firmware/hal/mcu.py, esp32.py, rp2040.py) on CPython,
with fake `machine` / `micropython` modules and a fake ticks clock: CP plateau
extraction from an ADC burst, calibration maths, PP, reset causes, storage,
ticks unwrapping, RS-485 direction. (Proposed tests/unit/test_hal_mcu.py.)"""
import importlib
import random
import sys
import types

import pytest

_PERIOD = 1 << 30


class Clock:
    def __init__(self):
        self.us = 0

    def ticks_us(self):
        return self.us % _PERIOD

    def ticks_ms(self):
        return (self.us // 1000) % _PERIOD

    @staticmethod
    def ticks_diff(a, b):
        return ((a - b + _PERIOD // 2) % _PERIOD) - _PERIOD // 2


class Pin:
    OUT, IN, PULL_UP = 1, 0, 2

    def __init__(self, n, mode=0, pull=None, value=None):
        self.n, self.v, self.log = n, (1 if pull == Pin.PULL_UP else 0), []
        if value is not None:
            self.v = value

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v
        self.log.append(v)


def fake_machine(clock, cause_name="PWRON_RESET", scratch4=0):
    m = types.ModuleType("machine")
    m.Pin = Pin
    m.PWRON_RESET, m.WDT_RESET, m.SOFT_RESET, m.HARD_RESET = 1, 3, 5, 2
    m.reset_cause = lambda: getattr(m, cause_name)
    m.mem32 = {0x4005801C: scratch4, 0x40058000: 0x40000000 | 1234}
    board = {"duty": 0, "ev_high_mv": 12000, "ev_low_mv": -12000, "noise_uv": 0,
             "us_per_read": 35, "pp_ohms": 220, "wdt": []}
    m.state = board

    class PWM:
        def __init__(self, pin, freq, duty_u16):
            self.freq, self.d = freq, duty_u16

        def duty_u16(self, d):
            self.d = d
            board["duty"] = d

    def pilot_mv():
        d = board["duty"]
        phase = clock.us % 1000
        high = d >= 65535 or phase < d * 1000 // 65535
        if d == 0:
            high = False
        return board["ev_high_mv"] if high else board["ev_low_mv"]

    def adc_uv(mv):
        return int((mv / 1000 * 0.075192096597 + 1.24066959385) * 1e6)

    class ADC:
        ATTN_11DB = 3

        def __init__(self, pin, atten=None):
            self.pin = pin.n

        def _v(self):
            clock.us += board["us_per_read"]
            if self.pin in (39, 27):  # PP
                r = board["pp_ohms"]
                return int(3.3e6 * r / (r + 1000))
            return adc_uv(pilot_mv()) + random.randint(-board["noise_uv"], board["noise_uv"])

        def read_uv(self):
            return self._v()

        def read_u16(self):
            return min(65535, self._v() * 65536 // 3300000)

    class UART:
        def __init__(self, n, **kw):
            self.rx, self.tx, self.flushed, self.kw = bytearray(), bytearray(), 0, kw

        def any(self):
            return len(self.rx)

        def readinto(self, buf):
            n = min(len(buf), len(self.rx))
            buf[:n] = self.rx[:n]
            del self.rx[:n]
            return n or None

        def write(self, data):
            self.tx += data
            return len(data)

        def flush(self):
            self.flushed += 1

        def init(self, **kw):
            self.kw.update(kw)

    class WDT:
        def __init__(self, timeout):
            board["wdt"].append(timeout)

        def feed(self):
            pass

    m.PWM, m.ADC, m.UART, m.WDT = PWM, ADC, UART, WDT
    return m


def load(board_name, tmp_path, monkeypatch, **kw):
    clock = Clock()
    machine = fake_machine(clock, **kw)
    mp = types.ModuleType("micropython")
    mp.const = lambda x: x
    monkeypatch.setitem(sys.modules, "machine", machine)
    monkeypatch.setitem(sys.modules, "micropython", mp)
    for name in ("hal.mcu", "hal.esp32", "hal.rp2040"):
        sys.modules.pop(name, None)
    mcu = importlib.import_module("hal.mcu")
    mod = importlib.import_module("hal." + board_name)
    fake_time = types.SimpleNamespace(ticks_ms=clock.ticks_ms, ticks_us=clock.ticks_us,
                                      ticks_diff=clock.ticks_diff)
    monkeypatch.setattr(mcu, "time", fake_time)
    monkeypatch.setattr(mod, "time", fake_time)
    monkeypatch.setattr(mcu, "DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    cls = mod.Esp32Board if board_name == "esp32" else mod.Rp2040Board
    b = cls()
    return b, machine, clock


@pytest.mark.parametrize("board_name,us", [("esp32", 35), ("rp2040", 4)])
@pytest.mark.parametrize("duty", [80, 100, 500, 850, 960, 970])
@pytest.mark.parametrize("levels", [(9000, -12000), (6000, -12000), (3000, -12000), (6000, -5600)])
def test_pwm_plateaus(board_name, us, duty, levels, tmp_path, monkeypatch):
    b, m, clock = load(board_name, tmp_path, monkeypatch)
    m.state["us_per_read"] = us
    m.state["noise_uv"] = 3000  # +-3 mV at the ADC, +-40 mV at the pilot
    m.state["ev_high_mv"], m.state["ev_low_mv"] = levels
    b.set_pwm(duty)
    for _ in range(5):
        clock.us += 10000 + random.randint(0, 999)
        hi, lo = b.cp_high_mv(), b.cp_low_mv()
        assert abs(hi - levels[0]) <= 150, (hi, lo)
        assert abs(lo - levels[1]) <= 150, (hi, lo)


@pytest.mark.parametrize("board_name", ["esp32", "rp2040"])
def test_steady_levels_report_both_plateaus_alike(board_name, tmp_path, monkeypatch):
    b, m, clock = load(board_name, tmp_path, monkeypatch)
    m.state["noise_uv"] = 3000
    b.set_pwm(1000)
    hi, lo = b.cp_high_mv(), b.cp_low_mv()
    assert hi == lo and abs(hi - 12000) <= 100
    b.set_pwm(0)
    hi, lo = b.cp_high_mv(), b.cp_low_mv()
    assert hi == lo and abs(hi + 12000) <= 100
    m.state["ev_high_mv"] = m.state["ev_low_mv"] = 0  # E under PWM
    b.set_pwm(500)
    assert abs(b.cp_high_mv()) <= 100 and abs(b.cp_low_mv()) <= 100
    with pytest.raises(ValueError):
        b.set_pwm(1001)


def test_one_burst_serves_a_high_low_pair(tmp_path, monkeypatch):
    b, m, clock = load("rp2040", tmp_path, monkeypatch)
    b.set_pwm(500)
    t0 = clock.us
    b.cp_high_mv()
    t1 = clock.us
    b.cp_low_mv()
    assert clock.us == t1 > t0
    b.cp_low_mv()
    assert clock.us > t1


@pytest.mark.parametrize("board_name", ["esp32", "rp2040"])
@pytest.mark.parametrize("ohms", [100, 220, 680, 1500])
def test_pp_ohms(board_name, ohms, tmp_path, monkeypatch):
    b, m, _ = load(board_name, tmp_path, monkeypatch)
    m.state["pp_ohms"] = ohms
    assert abs(b.pp_ohms() - ohms) <= ohms // 50 + 3
    m.state["pp_ohms"] = 10 ** 7
    assert b.pp_ohms() == 100000


@pytest.mark.parametrize("board_name,cause,scratch4,expected", [
    ("esp32", "PWRON_RESET", 0, 0), ("esp32", "WDT_RESET", 0, 1), ("esp32", "HARD_RESET", 0, 2),
    ("esp32", "SOFT_RESET", 0, 2),
    ("rp2040", "PWRON_RESET", 0, 0), ("rp2040", "WDT_RESET", 0x6AB73121, 1),
    ("rp2040", "WDT_RESET", 0, 2),
])
def test_reset_cause(board_name, cause, scratch4, expected, tmp_path, monkeypatch):
    b, _, _ = load(board_name, tmp_path, monkeypatch, cause_name=cause, scratch4=scratch4)
    assert b.reset_cause() == expected


def test_storage_atomic_and_missing(tmp_path, monkeypatch):
    b, _, _ = load("esp32", tmp_path, monkeypatch)
    assert b.storage_read("settings.json") is None
    b.storage_write("settings.json", b"one")
    b.storage_write("settings.json", b"two")
    assert b.storage_read("settings.json") == b"two"
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["settings.json"]
    with pytest.raises(ValueError):
        b.storage_write("a/b", b"")


def test_ticks_ms_hides_the_wrap(tmp_path, monkeypatch):
    b, _, clock = load("rp2040", tmp_path, monkeypatch)
    clock.us = (_PERIOD - 5) * 1000
    b._raw_ms = clock.ticks_ms()
    b._ms = 1000
    t = b.ticks_ms()
    clock.us += 10 * 1000
    assert b.ticks_ms() == t + 10


def test_rs485_direction_and_format(tmp_path, monkeypatch):
    b, m, _ = load("esp32", tmp_path, monkeypatch)
    de = b._meter_de
    assert b.meter_write(b"\x01\x04\x00\x00\x00\x02\x71\xcb") == 8
    assert de.log[-2:] == [1, 0] and b._meter.flushed == 1
    b.meter_configure(2400, "E")
    assert b._meter.kw["baudrate"] == 2400 and b._meter.kw["parity"] == 0
    with pytest.raises(ValueError):
        b.meter_configure(9600, "X")
    buf = bytearray(4)
    assert b.meter_read(buf) == 0 and b.link_read(buf) == 0
    b._link.rx += b"abcdef"
    assert b.link_read(buf) == 4 and buf == bytearray(b"abcd")


def test_indicator_and_service_mode(tmp_path, monkeypatch):
    b, m, _ = load("rp2040", tmp_path, monkeypatch)
    b.set_indicator(3)  # charging: blue
    assert (b._led_r.v, b._led_g.v, b._led_b.v) == (0, 0, 1)
    b.set_contactor(1)
    b.set_pwm(500)
    b.wdt_feed()
    b.service_mode()
    assert b._contactor.v == 0 and m.state["duty"] == 0
    assert (b._led_r.v, b._led_g.v, b._led_b.v) == (1, 0, 0)
    assert m.mem32[0x40058000] & (1 << 30) == 0


@pytest.mark.parametrize("board_name,pin", [("esp32", 25), ("rp2040", 10)])
def test_uk_s8_tamper_lid_switch(board_name, pin, tmp_path, monkeypatch):
    """UK Schedule 1 para 8: the lid microswitch on its pin (docs/hardware.md) with the
    internal pull-up; the lid holds the contact to GND made, so low = closed (0) and
    high = lid off or a cut wire (1); a board file without the switch reports -1."""
    b, m, clock = load(board_name, tmp_path, monkeypatch)
    assert b._tamper.n == pin and b._tamper.v == 1  # pulled up: nothing holds it low
    assert b.tamper() == 1
    b._tamper.v = 0
    assert b.tamper() == 0
    mod = sys.modules["hal." + board_name]
    monkeypatch.setattr(mod, "_TAMPER_FITTED", False)
    bare = mod.Esp32Board() if board_name == "esp32" else mod.Rp2040Board()
    assert bare.tamper() == -1
