"""Property tests of the Modbus RTU codec (issue 2): the decoder fed random
bytes never raises and never grows past its 256-byte bound, garbage before a
valid frame still yields that frame, float32 decoding in integers equals
struct + round(), and 32/64-bit word orders round-trip."""

import math
import struct
from fractions import Fraction

from hypothesis import assume, given
from hypothesis import strategies as st

from protocols import modbus_rtu as rtu
from protocols.crc16 import crc16

ORDERS = st.sampled_from((rtu.HIGH_WORD_FIRST, rtu.LOW_WORD_FIRST))
EXPECTATIONS = st.tuples(
    st.integers(1, 247), st.sampled_from((3, 4)), st.integers(1, rtu.MAX_REGISTERS)
)
ALL_RESULTS = set(range(len(rtu.RESULT_NAMES)))


def _with_crc(body):
    c = crc16(body)
    return bytes(body) + bytes((c & 0xFF, c >> 8))


def _response(unit, function, registers):
    return _with_crc(bytes((unit, function, len(registers))) + registers)


def _words(raw, nbytes, order):
    """raw as nbytes big-endian bytes, words swapped for LOW_WORD_FIRST."""
    b = raw.to_bytes(nbytes, "big")
    if order == rtu.LOW_WORD_FIRST:
        b = b"".join(b[i : i + 2] for i in range(nbytes - 2, -2, -2))
    return b


@given(EXPECTATIONS, st.lists(st.binary(max_size=300), max_size=8), st.booleans())
def test_random_bytes_never_raise_and_never_grow_past_256(expect, chunks, end):
    d = rtu.ResponseDecoder()
    d.expect(*expect)
    for chunk in chunks:
        taken = d.feed(chunk)
        assert 0 <= taken <= len(chunk)
        assert d.fill <= rtu.MAX_FRAME
        assert len(d.buf) == rtu.MAX_FRAME
        r = d.decode()
        assert r in ALL_RESULTS and r != rtu.NO_RESPONSE
        assert d.used <= d.fill
    r = d.decode(end)
    assert r in ALL_RESULTS
    if end:
        assert r != rtu.NEED_MORE
    assert len(d.buf) == rtu.MAX_FRAME and d.fill <= rtu.MAX_FRAME


@given(st.integers(1, 247), st.sampled_from((3, 4)), st.data())
def test_garbage_then_valid_frame_yields_that_frame(unit, function, data):
    count = data.draw(st.integers(1, rtu.MAX_REGISTERS))
    registers = data.draw(st.binary(min_size=2 * count, max_size=2 * count))
    frame = _response(unit, function, registers)
    garbage = data.draw(st.binary(max_size=rtu.MAX_FRAME - len(frame)))
    stream = garbage + frame
    d = rtu.ResponseDecoder()
    d.expect(unit, function, count)
    # in random chunks, decoding after each one as a poller would
    pos = 0
    result = rtu.NEED_MORE
    while pos < len(stream):
        step = data.draw(st.integers(1, len(stream) - pos))
        assert d.feed(stream, pos, pos + step) == step
        pos += step
        result = d.decode()
        if result != rtu.NEED_MORE:
            break
    if result != rtu.OK or d.frame_start != len(garbage):
        # only a CRC-valid frame hidden in the garbage may come first (a chance
        # of about 2**-24 per garbage byte); anything else is a decoder bug
        assert result not in (rtu.NEED_MORE, rtu.BAD_CRC, rtu.SHORT_FRAME, rtu.NO_RESPONSE)
        assert d.frame_start < len(garbage)
        assume(False)
    assert pos == len(stream)
    assert d.frame_start == len(garbage) and d.frame_len == len(frame)
    assert d.used == len(stream)
    assert bytes(d.buf[d.data_offset : d.data_offset + 2 * count]) == registers


@given(st.integers(1, 247), st.sampled_from((3, 4)), st.integers(1, 6), st.integers(1, 255))
def test_exception_after_garbage_yields_the_code(unit, function, code, junk):
    d = rtu.ResponseDecoder()
    d.expect(unit, function, 2)
    d.feed(bytes((0, junk)) + _with_crc(bytes((unit, function | 0x80, code))))
    assert d.decode() == rtu.EXCEPTION
    assert d.exception_code == code


finite_f32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@given(finite_f32, ORDERS, st.sampled_from((1, 10, 100, 1000)))
def test_f32_integer_decode_equals_struct_unpack_and_round(x, order, scale):
    buf = _words(struct.unpack(">I", struct.pack(">f", x))[0], 4, order)
    value = struct.unpack(">f", struct.pack(">f", x))[0]
    # value * scale is exact in a double (24 + 10 bits), so round() sees the true product
    assert rtu.f32_scaled(buf, 0, order, scale) == round(value * scale)


@given(finite_f32, ORDERS, st.integers(1, 1000), st.integers(1, 1000))
def test_f32_integer_decode_with_divisor_is_exactly_rounded(x, order, scale, div):
    buf = _words(struct.unpack(">I", struct.pack(">f", x))[0], 4, order)
    exact = Fraction(struct.unpack(">f", struct.pack(">f", x))[0]) * scale / div
    assert rtu.f32_scaled(buf, 0, order, scale, div) == round(exact)


@given(st.sampled_from((0x7F800000, 0xFF800000)), st.integers(0, 0x7FFFFF), ORDERS)
def test_f32_nan_and_infinity_give_none(exponent_bits, mantissa, order):
    buf = _words(exponent_bits | mantissa, 4, order)
    value = struct.unpack(">f", struct.pack(">I", exponent_bits | mantissa))[0]
    assert math.isnan(value) or math.isinf(value)
    assert rtu.f32_scaled(buf, 0, order, 1000) is None


@given(st.integers(-(2**31), 2**31 - 1), ORDERS, st.binary(max_size=5))
def test_int32_word_orders_round_trip(v, order, prefix):
    buf = prefix + _words(v & 0xFFFFFFFF, 4, order)
    assert rtu.s32(buf, len(prefix), order) == v
    assert rtu.u32(buf, len(prefix), order) == v & 0xFFFFFFFF
    other = rtu.LOW_WORD_FIRST if order == rtu.HIGH_WORD_FIRST else rtu.HIGH_WORD_FIRST
    swapped = ((v & 0xFFFF) << 16) | ((v >> 16) & 0xFFFF)
    assert rtu.u32(buf, len(prefix), other) == swapped


@given(st.integers(0, 2**64 - 1), ORDERS)
def test_u64_word_orders_round_trip(v, order):
    assert rtu.u64(_words(v, 8, order), 0, order) == v


@given(st.integers(-(10**12), 10**12), st.integers(-(10**6), 10**6).filter(bool))
def test_div_round_is_round_of_the_exact_fraction(num, den):
    assert rtu.div_round(num, den) == round(Fraction(num, den))
