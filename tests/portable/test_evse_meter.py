# The firmware's Modbus RTU master (firmware/evse/meter.py) on CPython and the
# MicroPython VM: recorded request/response streams decode to the same
# integers on both, every emulated model is read, and every fault the
# emulator injects has its defined outcome (AG-03; docs/meter.md).
import test_meters as rec

from evse import meter as mm
from evse.meter import Meter
from protocols import link_messages as lm
from protocols import meters as m
from protocols import modbus_rtu as rtu
from sim_hardware.meter_emulator import MeterEmulator, TimedLine, bus
from sim_hardware.sim_board import SimBoard

CFG = {"model": "SDM630", "unit_id": 1, "baud": 9600, "parity": "N", "poll_ms": 1000}


def _cfg(**kw):
    d = dict(CFG)
    d.update(kw)
    return d


class _Log:
    def __init__(self):
        self.events = []

    def __call__(self, code, a=0, b=0, c=0, d=0):
        self.events.append((code, a, b, c, d))

    def codes(self, code):
        return [e[1:] for e in self.events if e[0] == code]


def _board(ma=(16000, 16000, 16000)):
    b = SimBoard()
    b.set_contactor(1)
    b.advance(100)  # contacts closed: the EV's current flows through the meter
    b.ev_current_ma = list(ma)
    return b


def _bench(model="SDM630", unit=1, cfg=None, **emu_kw):
    b = _board()
    emu = MeterEmulator(model, unit, b, **emu_kw)
    if cfg is None:
        cfg = _cfg(model=model, baud=emu.baud, parity=emu.parity)
    b.meter_device = emu.respond
    log = _Log()
    return b, emu, Meter(b, cfg, b.ticks_ms(), log), log


def _run(b, meter, ms, step=10):
    for _ in range(ms // step):
        b.advance(step)
        meter.tick(b.ticks_ms())


def _run_until(b, meter, pred, max_ms, step=10):
    t = 0
    while t < max_ms:
        b.advance(step)
        t += step
        meter.tick(b.ticks_ms())
        if pred():
            return t
    return -1


# --- recorded byte streams (both interpreters decode them identically) ---

RECORDED = (
    # model, unit, requests (pymodbus FramerRTU) or None, answers, expected
    ("SDM630", 1, rec.REQUESTS["SDM630"], (rec.SDM630_R0, rec.SDM630_R1, rec.SDM630_R2),
     ((230100, 231400, 229800), (16020, 15980, 0), (3686, 3698, -13), 7371, 12345670, 123450,
      49980)),
    ("SDM72D-M", 2, None, (rec.SDM72_R0, rec.SDM72_R1, rec.SDM72_R2),
     ((238700, 240200, 236900), (10500, 250, 31990), (2506, 60, 7578), 10145, 98765430, 0,
      50020)),
    ("SDM120", 1, rec.REQUESTS["SDM120"], (rec.SDM120_R0, rec.SDM120_R1),
     ((230100, None, None), (16020, None, None), (3686, None, None), 3686, 12345670, 123450,
      49980)),
    ("SDM230", 1, rec.REQUESTS["SDM120"], (rec.SDM230_R0, rec.SDM230_R1),
     ((241300, None, None), (31750, None, None), (-7651, None, None), -7651, 4321090, 876540,
      50010)),
    ("EM340", 1, rec.REQUESTS["EM340"], (rec.EM340_R0, rec.EM340_R1, rec.EM340_R2),
     ((230100, 231400, 229800), (16020, 15980, 0), (3686, 3698, -13), 7371, 12345600, 123400,
      50000)),
    ("B23", 1, rec.REQUESTS["B23"], (rec.B23_R0, rec.B23_R1, rec.B23_R2),
     ((230100, 231400, 229800), (16020, 15980, 0), (3686, 3698, -13), 7371, 12345670, 123450,
      49980)),
)


def _expected(v):
    mv, ma, w, total, e_in, e_out, mhz = v
    return [mv[0], mv[1], mv[2], ma[0], ma[1], ma[2], w[0], w[1], w[2], total, e_in, e_out, mhz]


def _recorded_meter(model, unit, answers):
    b = SimBoard()
    sent = []

    def device(frame):
        sent.append(frame)
        return answers[(len(sent) - 1) % len(answers)]

    b.meter_device = device
    meter = Meter(b, _cfg(model=model, unit_id=unit), 0, _Log())
    return b, meter, sent


def test_ag03_recorded_streams_decode_to_the_same_integers():
    """AG-03: the master sends the requests pymodbus recorded and turns the
    recorded answers of every model into the same integers on CPython and
    the MicroPython VM (mV, mA, W, Wh, mHz), each with the time it was read."""
    for model, unit, requests, answers, expected in RECORDED:
        b, meter, sent = _recorded_meter(model, unit, answers)
        assert _run_until(b, meter, lambda mt=meter: mt.good_seq == 1, 500) > 0, model
        if requests is not None:
            assert tuple(sent) == requests, model
        assert len(sent) == len(answers) and sent[0][0] == unit, model
        assert meter.values == _expected(expected), model
        for q in range(m.N_QUANTITIES):
            if meter.values[q] is not None:
                assert 0 < meter.read_ms[q] <= b.ticks_ms(), model
        assert not meter.stale(b.ticks_ms()) and meter.fault == mm.R_OK, model


def test_ag03_recorded_answers_in_fragments_after_noise_decode_the_same():
    """The answer arrives a few bytes per tick after line noise: the decoder
    resynchronises on the frame and the integers are the same."""
    b = SimBoard()
    meter = Meter(b, CFG, 0, _Log())
    answers = (rec.SDM630_R0, rec.SDM630_R1, rec.SDM630_R2)
    queue = []
    for _ in range(60):
        b.advance(10)
        meter.tick(b.ticks_ms())
        if b.meter_take():  # a request went out: its answer follows, 3 bytes a tick
            queue.extend(b"\x00\xff" + answers[meter.block])
        if queue:
            b.meter_inject(bytes(queue[:3]))
            del queue[:3]
        if meter.good_seq:
            break
    assert meter.good_seq == 1
    assert meter.values == _expected(RECORDED[0][4])
    assert sum(meter.errors) == 0


# --- every emulated model ---


def test_ag03_every_model_is_read_from_its_emulator():
    for model in m.METERS:
        b, emu, meter, log = _bench(model, import_wh=4321000)
        assert _run_until(b, meter, lambda mt=meter: mt.good_seq >= 2, 3000) > 0, model
        assert meter.values == emu.served(), model
        assert meter.values[m.E_IMPORT] >= 4321000 and meter.values[m.I1] == 16000, model
        assert sum(meter.errors) == 0 and log.events == [], model
        st = meter.status(b.ticks_ms())
        assert st["model"] == m.get(model)["name"] and st["stale"] is False, model
        assert st["fault"] == 0 and st["reason"] == "ok", model


def test_ag03_timeout_follows_baud_and_frame_length():
    """The answer is awaited for the line time of request and answer + t3.5
    + the meter's turnaround (Modbus over serial line 2.5.1)."""
    meter = Meter(SimBoard(), CFG, 0, _Log())
    assert meter.t35_ms == 4  # 3.65 ms at 9600 8N1
    assert meter.timeout_ms == [55 + 100, 22 + 100, 30 + 100]  # 18, 2 and 6 registers
    slow = Meter(SimBoard(), _cfg(model="SDM120", baud=2400, parity="E"), 0, _Log())
    t35 = rtu.t35_us(2400, "E")
    assert slow.t35_ms == (t35 + 999) // 1000 == 17
    assert slow.timeout_ms[0] == (rtu.frame_time_us(8 + 33, 2400, "E") + t35 + 999) // 1000 + 100


def test_ag03_no_answer_is_given_up_after_the_timeout():
    b, emu, meter, log = _bench()
    emu.inject("silence")
    sent_ms = []
    own = b.meter_write

    def write(data):
        sent_ms.append(b.ticks_ms())
        return own(data)

    b.meter_write = write
    assert _run_until(b, meter, lambda: meter.missed == 1, 2000) > 0
    assert b.ticks_ms() - sent_ms[0] == 160  # 155 ms, seen at the next 10 ms tick
    assert meter.errors[rtu.NO_RESPONSE] == 1 and meter.reason == mm.R_NO_ANSWER
    assert len(sent_ms) == 1  # the cycle is abandoned; the next try is at the next poll
    _run(b, meter, 1000)
    assert sent_ms[1] - sent_ms[0] == 1000


def test_ag03_requests_wait_t35_after_each_answer_and_poll_every_poll_ms():
    """Modbus over serial line 2.5.1.1: frames are separated by t3.5 of
    silence; a cycle reads the map's blocks and starts every poll_ms."""
    b, emu, meter, log = _bench(cfg=_cfg(poll_ms=2000))
    line = TimedLine(b, emu.respond)
    t35_us = rtu.t35_us(9600, "N")
    for _ in range(6000):  # main.py: 1 ms steps while a transaction runs
        b.advance(1)
        meter.tick(b.ticks_ms())
    frames = line.frames
    assert len(frames) == 9 and meter.good_seq == 3
    for i in range(1, len(frames)):
        assert frames[i][0] - frames[i - 1][1] >= t35_us
    assert frames[3][0] - frames[0][0] == 2000000 and frames[6][0] - frames[3][0] == 2000000


# --- faults: each has its defined outcome (docs/meter.md) ---


def test_ag03_stale_values_are_never_reported_as_fresh():
    """Issue 4: a meter that stops answering is reported after a bounded number
    of missed polls (3) and its last values are marked stale from the first
    missed poll on, never republished as fresh; the age keeps growing."""
    b, emu, meter, log = _bench()
    _run(b, meter, 2500)
    good = list(meter.values)
    assert not meter.stale(b.ticks_ms())
    emu.inject("silence")
    ages = []
    while meter.fault == mm.R_OK:
        _run(b, meter, 10)
        now = b.ticks_ms()
        if meter.missed:
            assert meter.stale(now) and meter.values == good
            ages.append(meter.age_ms(now))
    assert meter.missed == mm.MISSED_POLLS_FAULT and meter.fault == mm.R_NO_ANSWER
    assert log.codes(lm.EV_METER) == [(0, mm.R_NO_ANSWER, 0, 3)]
    assert ages == sorted(ages) and ages[-1] > 3000
    _run(b, meter, 5000)
    assert meter.stale(b.ticks_ms()) and meter.values == good
    assert meter.status(b.ticks_ms())["age_ms"] > 8000
    emu.clear()
    assert _run_until(b, meter, lambda: not meter.stale(b.ticks_ms()), 2000) > 0
    assert meter.fault == mm.R_OK and log.codes(lm.EV_METER)[-1] == (1, mm.R_OK, 0, 0)
    assert meter.age_ms(b.ticks_ms()) < 100


def test_ag03_values_go_stale_while_a_poll_is_overdue():
    """Even before a poll fails, values older than poll_ms + one cycle's
    timeouts are stale."""
    b, emu, meter, log = _bench()
    _run(b, meter, 1500)
    meter.next_ms = b.ticks_ms() + 60000  # polling held up
    _run(b, meter, meter.stale_after_ms)
    assert meter.missed == 0 and meter.stale(b.ticks_ms())


def test_ag03_crc_errors_counted_then_a_fault_after_three_polls():
    b, emu, meter, log = _bench()
    _run(b, meter, 1500)
    emu.inject("crc", 1)
    _run(b, meter, 1000)
    assert meter.errors[rtu.BAD_CRC] == 1 and meter.fault == mm.R_OK and meter.missed == 1
    _run(b, meter, 1000)
    assert meter.missed == 0 and not meter.stale(b.ticks_ms())
    emu.inject("crc")
    _run(b, meter, 3000)
    assert meter.errors[rtu.BAD_CRC] == 4 and meter.fault == mm.R_CRC
    assert meter.status(b.ticks_ms())["bad_crc"] == 4
    assert log.codes(lm.EV_METER) == [(0, mm.R_CRC, 0, 3)]


def test_ag03_exception_responses_counted_with_their_code():
    b, emu, meter, log = _bench()
    _run(b, meter, 1500)
    emu.inject("exception", 1, rtu.EXC_BUSY)
    _run(b, meter, 1000)
    assert meter.errors[rtu.EXCEPTION] == 1 and meter.last_exception == rtu.EXC_BUSY
    assert meter.fault == mm.R_OK
    emu.inject("exception", -1, rtu.EXC_DEVICE_FAILURE)
    _run(b, meter, 3000)
    assert meter.fault == mm.R_EXCEPTION and meter.errors[rtu.EXCEPTION] == 4
    assert log.codes(lm.EV_METER) == [(0, mm.R_EXCEPTION, rtu.EXC_DEVICE_FAILURE, 3)]
    st = meter.status(b.ticks_ms())
    assert st["exception"] == 4 and st["last_exception"] == 4 and st["reason"] == "exception"


def test_ag03_meter_at_another_unit_id_stays_silent_no_answer_fault():
    """A real RS-485 slave ignores other unit ids: a wrong unit_id setting
    reads as silence, reported as no_answer (check unit id, baud, wiring)."""
    b, emu, meter, log = _bench(unit=2)
    _run(b, meter, 4000)
    assert meter.fault == mm.R_NO_ANSWER and meter.good_seq == 0
    assert emu.requests == 0 and emu.ignored == meter.errors[rtu.NO_RESPONSE] >= 3
    meter.configure(_cfg(unit_id=2), b.ticks_ms())  # the setting corrected
    assert meter.changed  # the fault is gone: the controller lifts its action
    _run(b, meter, 1000)
    assert meter.good_seq == 1 and meter.fault == mm.R_OK


def test_ag03_another_device_at_the_unit_id_is_implausible_at_startup():
    """Issue 4: the wrong unit id (another device answers: here an EM340 where
    an SDM630 is configured) is detected at start-up from implausible values;
    no value is ever committed."""
    b = _board()
    b.meter_device = bus(MeterEmulator("EM340", 1, b), MeterEmulator("SDM630", 2, b))
    log = _Log()
    meter = Meter(b, CFG, 0, log)
    _run(b, meter, 3500)
    assert meter.fault == mm.R_IMPLAUSIBLE and meter.good_seq == 0
    assert meter.values == [None] * m.N_QUANTITIES and meter.stale(b.ticks_ms())
    assert log.codes(lm.EV_METER) == [(0, mm.R_IMPLAUSIBLE, 0, 3)]
    meter.configure(_cfg(unit_id=2), b.ticks_ms())
    _run(b, meter, 1000)
    assert meter.good_seq == 1 and meter.values[m.V1] == 230000


def test_ag03_wrong_word_order_detected_at_startup():
    """A meter (or clone) with the other word order than its map: the values
    are implausible, and plausible read the other way: reason word_order."""
    for model in ("SDM630", "EM340", "B23"):
        b, emu, meter, log = _bench(model)
        emu.swap_words = True
        _run(b, meter, 3500)
        assert meter.fault == mm.R_WORD_ORDER and meter.good_seq == 0, model
        assert meter.status(b.ticks_ms())["reason"] == "word_order", model
        emu.swap_words = False
        _run(b, meter, 1000)
        assert meter.fault == mm.R_OK and meter.values[m.V1] == 230000, model


def test_ag03_wrong_serial_format_gives_a_crc_fault():
    """SDM72D-M at 9600 8E1 read at 8N1: framing garbage, never a value."""
    b, emu, meter, log = _bench("SDM72D-M", cfg=_cfg(model="SDM72D-M", parity="N"))
    _run(b, meter, 3500)
    assert meter.fault in (mm.R_CRC, mm.R_FRAME) and meter.good_seq == 0
    assert b.meter_parity == "N"  # the poller set the port from its settings


def test_ag03_energy_register_reset_flagged_and_the_session_keeps_its_energy():
    """An energy register that goes backwards is flagged (EV_METER ok=1,
    energy_backwards, old, new); the session keeps what it counted and goes
    on from the new register value."""
    b, emu, meter, log = _bench(import_wh=500000)
    _run(b, meter, 1500)
    meter.session_start(b.ticks_ms())
    _run(b, meter, 60000)
    before = meter.energy.wh
    assert 180 <= before <= 185  # 11.04 kW for a minute: 184 Wh
    emu.reset_register()
    _run(b, meter, 60000)
    flags = log.codes(lm.EV_METER)
    assert len(flags) == 1 and flags[0][:2] == (1, mm.R_ENERGY_BACKWARDS)
    assert flags[0][2] >= 500180 and flags[0][3] < 10
    assert meter.energy_flags == 1 and meter.fault == mm.R_OK
    assert 360 <= meter.energy.wh <= 370 and meter.energy.wh > before
    assert meter.values[m.E_IMPORT] < 200


def test_ag03_energy_jump_beyond_measured_power_flagged():
    """At 11 kW the register cannot rise 50 kWh in a second: flagged
    (energy_jump), left out of the session's energy."""
    b, emu, meter, log = _bench(import_wh=1000)
    _run(b, meter, 1500)
    meter.session_start(b.ticks_ms())
    _run(b, meter, 10000)
    emu.import_uj += 50000 * 3600000000
    _run(b, meter, 10000)
    flags = log.codes(lm.EV_METER)
    assert len(flags) == 1 and flags[0][:2] == (1, mm.R_ENERGY_JUMP)
    assert flags[0][3] - flags[0][2] > 50000
    assert 58 <= meter.energy.wh <= 62  # 20 s at 11.04 kW, the jump left out


def test_ag03_frozen_values_become_stale_and_a_fault():
    """A meter that keeps answering the same values while power flows: once
    the import register stood still for more than the power allows, the values
    are stale and the meter is in fault (frozen); it recovers when they move."""
    b, emu, meter, log = _bench()
    _run(b, meter, 1500)
    emu.freeze()
    t = _run_until(b, meter, lambda: meter.fault != mm.R_OK, 60000)
    assert meter.fault == mm.R_FROZEN and 15000 <= t <= 25000  # 52 Wh at 11.04 kW: 17 s
    assert meter.stale(b.ticks_ms())
    _run(b, meter, 5000)
    assert meter.fault == mm.R_FROZEN and meter.stale(b.ticks_ms())
    emu.unfreeze()
    _run(b, meter, 2000)
    assert meter.fault == mm.R_OK and not meter.stale(b.ticks_ms())
    assert [e[:2] for e in log.codes(lm.EV_METER)] == [(0, mm.R_FROZEN), (1, mm.R_OK)]


def test_ag03_stray_bytes_between_transactions_delay_the_next_request():
    """Bytes outside a transaction (another master, noise) are counted and the
    bus must be silent for t3.5 after them before the next request."""
    b, emu, meter, log = _bench()
    _run(b, meter, 1500)
    b.meter_take()
    for _ in range(60):  # noise every tick across the next poll time
        b.meter_inject(b"\x55")
        _run(b, meter, 10)
    assert b.meter_take() == b"" and meter.stray_bytes == 60
    _run(b, meter, 10)
    assert len(b.meter_take()) == 8


def test_ag03_model_none_polls_nothing():
    b = SimBoard()
    meter = Meter(b, _cfg(model="none"), 0, _Log())
    _run(b, meter, 5000)
    assert b.meter_take() == b"" and meter.status(b.ticks_ms()) is None
    assert meter.stale(b.ticks_ms()) and meter.fault == mm.R_OK and not meter.busy


class _Wire:
    """A meter port that allocates nothing itself: each block's recorded
    answer is handed out as the master reads."""

    def __init__(self, answers):
        self.answers = [bytearray(a) for a in answers]
        self.sent = 0
        self.pending = None
        self.pos = 0
        self.io = 0  # bytes moved, either way

    def meter_write(self, data):
        self.pending = self.answers[self.sent % len(self.answers)]
        self.sent += 1
        self.pos = 0
        self.io += len(data)
        return len(data)

    def meter_read(self, buf):
        p = self.pending
        if p is None:
            return 0
        n = len(p) - self.pos
        if n > len(buf):
            n = len(buf)
        for k in range(n):
            buf[k] = p[self.pos + k]
        self.pos += n
        if self.pos >= len(p):
            self.pending = None
        self.io += n
        return n

    def storage_read(self, name):
        return None

    def storage_write(self, name, data):
        pass


def test_p3_poller_ticks_without_meter_bytes_allocate_nothing():
    """P3: ticks of the poller that move no meter bytes allocate 0 bytes on
    MicroPython (gc.mem_alloc, collector off), waiting included; ticks that
    send or decode allocate little (the float32 decoding's long integers).
    CPython has no gc.mem_alloc(): there the same ticks run."""
    import sys

    wire = _Wire((rec.SDM630_R0, rec.SDM630_R1, rec.SDM630_R2))
    meter = Meter(wire, _cfg(poll_ms=200), 0, _Log())
    mp = sys.implementation.name == "micropython"
    if mp:
        import gc

        gc.collect()
        gc.disable()
    quiet = quiet_bytes = io_ticks = io_max = 0
    for i in range(1, 1001):
        before = wire.io
        a = gc.mem_alloc() if mp else 0
        meter.tick(i * 10)
        d = gc.mem_alloc() - a if mp else 0
        if wire.io == before:
            quiet += 1
            quiet_bytes += d
        else:
            io_ticks += 1
            io_max = max(io_max, d)
    if mp:
        gc.enable()
    assert meter.good_seq >= 45 and sum(meter.errors) == 0
    assert quiet >= 700 and quiet_bytes == 0, quiet_bytes
    assert io_ticks >= 250 and io_max <= 512, io_max  # measured: 368 bytes at most
