"""Issue 4, what it must show: the firmware's Modbus RTU master
(firmware/evse/meter.py, unchanged) reads, through pyserial on a pseudo-terminal,
each emulated meter model (sim_hardware/meter_emulator.PtyMeter) and a pymodbus
3.16 RTU server configured as an SDM630 (sdm630_server.py over a socat pty
pair), with values equal to what was served (AG-03).

The master is driven the way firmware/main.py drives it: tick(now_ms) every
millisecond of wall time, bytes through a tiny pyserial board adapter. Every
wait is bounded; nothing here measures performance (bench/p7_meter_poll.py does).
"""

import sys
import time
from pathlib import Path

import pytest
import serial

from evse import meter as mm
from evse.meter import Meter
from protocols import meters
from protocols import modbus_rtu as rtu
from sim_hardware.meter_emulator import MeterEmulator, PtyMeter
from sim_hardware.sim_board import SimBoard

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sdm630_server  # noqa: E402
from pymodbus_pty import sdm630_on_pty  # noqa: E402

TURNAROUND_MS = 1000  # a loaded CI machine may take long to schedule the slave


class SerialMeterBoard:
    """What the meter poller needs of the Board contract (DESIGN §3.1) on a host
    serial port: the RS-485 port, a monotonic ms clock and small files."""

    def __init__(self, port, baud=9600, parity="N"):
        self.ser = serial.Serial(port, baud, parity=parity, timeout=0, write_timeout=2)
        self.t0 = time.monotonic()
        self.storage = {}
        self.formats = []

    def ticks_ms(self):
        return int((time.monotonic() - self.t0) * 1000)

    def meter_read(self, buf):
        n = self.ser.in_waiting
        if not n:
            return 0
        data = self.ser.read(min(n, len(buf)))
        buf[: len(data)] = data
        return len(data)

    def meter_write(self, data):
        n = self.ser.write(bytes(data))
        self.ser.flush()
        return n

    def meter_configure(self, baud, parity):
        self.ser.baudrate = baud
        self.ser.parity = parity
        self.formats.append((baud, parity))

    def storage_read(self, name):
        return self.storage.get(name)

    def storage_write(self, name, data):
        self.storage[name] = bytes(data)

    def close(self):
        self.ser.close()


def _drive(board, meter, until, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        meter.tick(board.ticks_ms())
        if until():
            return True
        time.sleep(0.001)
    return False


def _world():
    """The power side the emulated meters measure, in frozen virtual time."""
    b = SimBoard()
    b.set_contactor(1)
    b.advance(100)
    b.ev_current_ma = [16020, 15980, 500]
    b.mains_mv = [230100, 231400, 229800]
    b.mains_mhz = 49980
    return b


def _master(path, emu, poll_ms=1000, unit=1):
    board = SerialMeterBoard(path, emu.baud, emu.parity)
    events = []
    cfg = {"model": emu.model, "unit_id": unit, "baud": emu.baud, "parity": emu.parity,
           "poll_ms": poll_ms}
    meter = Meter(board, cfg, board.ticks_ms(), lambda *e: events.append(e),
                  turnaround_ms=TURNAROUND_MS)
    return board, meter, events


@pytest.mark.parametrize("model", sorted(meters.METERS))
def test_ag03_firmware_master_reads_each_emulated_model_over_a_pty(model):
    world = _world()
    emu = MeterEmulator(model, 1, world, import_wh=12345600, export_wh=123400)
    emu.parity = "N"  # a Linux pty refuses parity (termios EINVAL); each model allows 8N1
    world.meter_configure(emu.baud, emu.parity)  # the emulator's own line matches
    with PtyMeter(emu.respond, emu.baud, emu.parity) as pty:
        board, meter, events = _master(pty.path, emu)
        try:
            assert _drive(board, meter, lambda: meter.good_seq >= 2, 10), meter.status(0)
        finally:
            board.close()
    assert meter.values == emu.served()
    v = meter.values
    assert v[meters.V1] == 230100 and v[meters.I1] == 16020 and v[meters.P1] == 3686
    assert v[meters.E_IMPORT] == 12345600 and v[meters.E_EXPORT] == 123400
    if emu.map["phases"] == 3:
        assert (v[meters.V3], v[meters.I3]) == (229800, 500)
    assert sum(meter.errors) == 0 and meter.fault == mm.R_OK and events == []
    assert board.formats == [(emu.baud, emu.parity)]  # the poller set the port
    assert pty.frames[0][0] == 1 and len(pty.frames) >= 2 * len(emu.map["blocks"])


def test_ag03_line_time_modelled_on_the_pty_still_reads():
    """The pty slave answering only when a 9600 baud line would have delivered
    the answer: the master waits for it within its baud-derived timeout."""
    world = _world()
    emu = MeterEmulator("SDM630", 1, world)
    with PtyMeter(emu.respond, 9600, "N", line_time=True) as pty:
        board, meter, events = _master(pty.path, emu)
        try:
            assert _drive(board, meter, lambda: meter.good_seq >= 1, 10)
        finally:
            board.close()
    assert meter.values == emu.served() and sum(meter.errors) == 0


def test_ag03_faults_over_the_pty_wrong_unit_id_and_crc_errors():
    """A meter at another unit id stays silent (no_answer after three polls);
    CRC errors are counted and do not stop the next good poll."""
    world = _world()
    emu = MeterEmulator("EM340", 2, world)
    with PtyMeter(emu.respond, emu.baud, emu.parity) as pty:
        board, meter, events = _master(pty.path, emu, poll_ms=200)
        try:
            assert _drive(board, meter, lambda: meter.fault != mm.R_OK, 15)
            assert meter.fault == mm.R_NO_ANSWER and meter.good_seq == 0
            assert events[0][:3] == (13, 0, mm.R_NO_ANSWER)
            emu.unit_id = 1
            emu.inject("crc", 1)
            assert _drive(board, meter, lambda: meter.good_seq >= 1, 10)
            assert meter.errors[rtu.BAD_CRC] == 1 and meter.fault == mm.R_OK
            assert meter.values == emu.served()
        finally:
            board.close()


# --- pymodbus 3.16 as an independent SDM630 ---


@pytest.fixture(scope="module")
def pymodbus_port(tmp_path_factory):
    with sdm630_on_pty(tmp_path_factory.mktemp("pymodbus")) as master_end:
        yield str(master_end)


def test_ag03_firmware_master_reads_a_pymodbus_sdm630(pymodbus_port):
    """The same master against an independent slave: every quantity equals
    what pymodbus served (sdm630_server.EXPECTED), the start-up check passes."""
    board = SerialMeterBoard(pymodbus_port)
    events = []
    cfg = {"model": "SDM630", "unit_id": 1, "baud": 9600, "parity": "N", "poll_ms": 500}
    meter = Meter(board, cfg, board.ticks_ms(), lambda *e: events.append(e),
                  turnaround_ms=TURNAROUND_MS)
    try:
        assert _drive(board, meter, lambda: meter.good_seq >= 2, 20), meter.status(0)
    finally:
        board.close()
    got = dict(zip(meters.QUANTITY_NAMES, meter.values, strict=True))
    assert got == sdm630_server.EXPECTED
    assert sum(meter.errors) == 0 and events == [] and meter.verified


def test_ag03_pymodbus_silence_for_another_unit_id_is_a_meter_fault(pymodbus_port):
    """The server emulates a real bus: unit 2 gets no answer (no_answer fault)."""
    board = SerialMeterBoard(pymodbus_port)
    events = []
    cfg = {"model": "SDM630", "unit_id": 2, "baud": 9600, "parity": "N", "poll_ms": 200}
    meter = Meter(board, cfg, board.ticks_ms(), lambda *e: events.append(e),
                  turnaround_ms=300)
    try:
        assert _drive(board, meter, lambda: meter.fault != mm.R_OK, 20)
    finally:
        board.close()
    assert meter.fault == mm.R_NO_ANSWER and meter.good_seq == 0
    assert meter.errors[rtu.NO_RESPONSE] == mm.MISSED_POLLS_FAULT
