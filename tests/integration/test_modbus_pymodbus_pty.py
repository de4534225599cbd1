"""The project's Modbus RTU codec as master against an independent peer: a
pymodbus 3.16 RTU server emulating an SDM630 (sdm630_server.py), over a socat
pseudo-terminal pair (DESIGN §9). The codec builds the requests, the decoder
frames the answers, protocols.meters turns them into integers.

A pty does not enforce baud timing, so the end-of-frame silence is modelled
with a generous wall-clock gap; every wait is bounded.
"""

import sys
import time
from pathlib import Path

import pytest
import serial

from protocols import meters
from protocols import modbus_rtu as rtu

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sdm630_server  # noqa: E402
from pymodbus_pty import sdm630_on_pty  # noqa: E402

SILENCE_S = 0.15  # stands for t3.5 on a pty that has no line timing
RESPONSE_TIMEOUT_S = 1.5


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    with sdm630_on_pty(tmp_path_factory.mktemp("pty")) as master_end:
        ser = serial.Serial(str(master_end), 9600, timeout=0.02)
        try:
            yield ser
        finally:
            ser.close()


def _transact(ser, decoder, unit, function, address, count):
    """One master transaction; returns the decoder's final result code."""
    request = bytearray(rtu.REQUEST_LENGTH)
    n = rtu.build_read_request(request, unit, function, address, count)
    ser.reset_input_buffer()
    ser.write(request[:n])
    ser.flush()
    decoder.expect(unit, function, count)
    started = last_byte = time.monotonic()
    while True:
        chunk = ser.read(ser.in_waiting or 1)
        now = time.monotonic()
        if chunk:
            last_byte = now
            decoder.feed(chunk)
            result = decoder.decode()
            if result != rtu.NEED_MORE:
                return result
        elif decoder.fill and now - last_byte > SILENCE_S:
            return decoder.decode(True)
        elif now - started > RESPONSE_TIMEOUT_S:
            return decoder.decode(True)


def test_codec_reads_every_sdm630_quantity_from_pymodbus(port):
    """Issue 2: the codec reads a pymodbus 3.x RTU server (an emulated SDM630)."""
    meter = meters.SDM630
    decoder = rtu.ResponseDecoder()
    values = meters.new_values()
    for index, (address, count) in enumerate(meter["blocks"]):
        result = _transact(port, decoder, 1, meter["function"], address, count)
        assert result == rtu.OK, rtu.RESULT_NAMES[result]
        assert decoder.frame_start == 0 and decoder.frame_len == 5 + 2 * count
        meters.decode_block(meter, index, decoder.buf, decoder.data_offset, values)
    got = dict(zip(meters.QUANTITY_NAMES, values, strict=True))
    assert got == sdm630_server.EXPECTED


def test_unmapped_registers_give_a_real_exception_response(port):
    decoder = rtu.ResponseDecoder()
    result = _transact(port, decoder, 1, rtu.FUNC_READ_INPUT, 0x1000, 2)
    assert result == rtu.EXCEPTION, rtu.RESULT_NAMES[result]
    assert decoder.exception_code == rtu.EXC_ILLEGAL_ADDRESS
    # a block that runs past the served registers is refused the same way
    result = _transact(port, decoder, 1, rtu.FUNC_READ_INPUT, 0x0040, 16)
    assert result == rtu.EXCEPTION and decoder.exception_code == rtu.EXC_ILLEGAL_ADDRESS


def test_other_unit_id_gets_no_answer_then_the_bus_still_works(port):
    decoder = rtu.ResponseDecoder()
    started = time.monotonic()
    result = _transact(port, decoder, 2, rtu.FUNC_READ_INPUT, 0x0000, 2)
    assert result == rtu.NO_RESPONSE, rtu.RESULT_NAMES[result]
    assert time.monotonic() - started >= RESPONSE_TIMEOUT_S
    result = _transact(port, decoder, 1, rtu.FUNC_READ_INPUT, 0x0046, 2)
    assert result == rtu.OK
    assert rtu.f32_scaled(decoder.buf, decoder.data_offset, rtu.HIGH_WORD_FIRST, 1000) == 49980


def test_holding_function_reads_the_same_registers(port):
    """pymodbus serves shared registers: function 3 sees the input registers."""
    decoder = rtu.ResponseDecoder()
    result = _transact(port, decoder, 1, rtu.FUNC_READ_HOLDING, 0x0000, 2)
    assert result == rtu.OK
    assert rtu.f32_scaled(decoder.buf, decoder.data_offset, rtu.HIGH_WORD_FIRST, 1000) == 230100
