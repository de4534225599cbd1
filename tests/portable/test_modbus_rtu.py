# Modbus RTU master codec: known answers, each malformed-frame class with its
# documented result, integer register decoding. Runs on CPython and MicroPython.
from mpunit import raises
from protocols import modbus_rtu as rtu
from protocols.crc16 import crc16

# Recorded with pymodbus 3.16 (FramerRTU) and struct on CPython: unit 1,
# function 4, 3 float32 registers pairs high word first: 49.98, 12345.67, 123.45.
SDM630_FREQ_ENERGY = b"\x01\x04\x0c\x42\x47\xeb\x85\x46\x40\xe6\xae\x42\xf6\xe6\x66\x0d\xdf"


def _with_crc(body):
    frame = bytearray(body)
    c = crc16(frame)
    frame.append(c & 0xFF)
    frame.append(c >> 8)
    return bytes(frame)


def _decoder(unit=1, function=4, count=6):
    d = rtu.ResponseDecoder()
    d.expect(unit, function, count)
    return d


def _decode_all(data, unit=1, function=4, count=6, end=False):
    d = _decoder(unit, function, count)
    d.feed(data)
    return d, d.decode(end)


# ---- requests ----


def test_request_read_input_registers_sdm630_manual_example():
    """SDM630 manual: 01 04 00 00 00 02 71 CB reads phase 1 voltage."""
    buf = bytearray(8)
    assert rtu.build_read_request(buf, 1, 4, 0x0000, 2) == 8
    assert bytes(buf) == b"\x01\x04\x00\x00\x00\x02\x71\xcb"


def test_request_read_holding_registers_recorded_with_pymodbus():
    buf = bytearray(10)
    n = rtu.build_read_request(buf, 1, 3, 0x5B00, 28)
    assert bytes(buf[:n]) == b"\x01\x03\x5b\x00\x00\x1c\x57\x27"
    n = rtu.build_read_request(buf, 1, 4, 0x0046, 6)
    assert bytes(buf[:n]) == b"\x01\x04\x00\x46\x00\x06\x91\xdd"


def test_request_arguments_out_of_range_raise_valueerror():
    buf = bytearray(8)
    for unit, function, address, count in (
        (0, 4, 0, 1),  # broadcast never answers a read
        (248, 4, 0, 1),
        (1, 6, 0, 1),
        (1, 0x84, 0, 1),
        (1, 4, 0, 0),
        (1, 4, 0, 126),  # application protocol 6.4: 1..125 registers
        (1, 4, -1, 1),
        (1, 4, 0x10000, 1),
        (1, 4, 0xFFFF, 2),
    ):
        with raises(ValueError):
            rtu.build_read_request(buf, unit, function, address, count)
    with raises(ValueError):
        rtu.build_read_request(bytearray(7), 1, 4, 0, 1)


def test_response_length_is_5_plus_2_per_register():
    assert rtu.response_length(1) == 7
    assert rtu.response_length(125) == 255
    with raises(ValueError):
        rtu.response_length(0)


# ---- line timing ----


def test_char_bits_11_with_parity_or_2_stop_bits_10_otherwise():
    assert rtu.char_bits("E") == 11
    assert rtu.char_bits("O") == 11
    assert rtu.char_bits("N", 2) == 11
    assert rtu.char_bits("N") == 10
    with raises(ValueError):
        rtu.char_bits("X")
    with raises(ValueError):
        rtu.char_bits("N", 3)


def test_t35_is_3_5_char_times_and_fixed_1750us_above_19200_baud():
    """Modbus over serial line 2.5.1.1; DESIGN §8: about 4 ms at 9600 baud."""
    assert rtu.t35_us(9600, "E") == 4011  # 3.5 * 11 bits / 9600 = 4010.4 us
    assert rtu.t35_us(9600, "N") == 3646
    assert rtu.t35_us(19200, "E") == 2006
    assert rtu.t35_us(38400, "E") == 1750
    assert rtu.t35_us(115200, "N") == 1750
    with raises(ValueError):
        rtu.t35_us(0, "N")


def test_frame_and_poll_line_times():
    assert rtu.char_time_us(9600, "N") == 1042
    assert rtu.frame_time_us(8, 9600, "E") == 9167  # 88 bits
    # 8-byte request + 41-byte response (18 registers) + 2 x t3.5 at 9600 8N1
    assert rtu.poll_line_time_us(18, 9600, "N") == 51042 + 2 * 3646


# ---- decoder: the expected answer ----


def test_decoder_ok_recorded_sdm630_response():
    d, r = _decode_all(SDM630_FREQ_ENERGY)
    assert r == rtu.OK
    assert d.frame_start == 0 and d.frame_len == 17 and d.used == 17
    assert d.data_offset == 3
    assert rtu.f32_scaled(d.buf, d.data_offset, rtu.HIGH_WORD_FIRST, 1000) == 49980


def test_decoder_needs_more_until_the_last_byte_fed_one_at_a_time():
    d = _decoder()
    for k in range(len(SDM630_FREQ_ENERGY) - 1):
        assert d.feed(SDM630_FREQ_ENERGY, k, k + 1) == 1
        assert d.decode() == rtu.NEED_MORE
    d.feed(SDM630_FREQ_ENERGY, len(SDM630_FREQ_ENERGY) - 1)
    assert d.decode() == rtu.OK


def test_decoder_garbage_before_a_valid_frame_still_yields_it():
    for garbage in (b"\x00", b"\xff\xff", b"\x01\x04\x0c\x55", b"\x01\x84", b"\x07\x01\x04"):
        d, r = _decode_all(garbage + SDM630_FREQ_ENERGY)
        assert r == rtu.OK
        assert d.frame_start == len(garbage)
        assert d.data_offset == len(garbage) + 3
        assert d.used == len(garbage) + 17


def test_decoder_reset_and_rearm_between_requests():
    d, r = _decode_all(SDM630_FREQ_ENERGY)
    assert r == rtu.OK
    d.expect(1, 4, 2)
    assert d.fill == 0
    assert d.decode() == rtu.NEED_MORE
    d.feed(_with_crc(b"\x01\x04\x04\x45\xe6\x5b\x33"))
    assert d.decode() == rtu.OK
    assert rtu.f32_scaled(d.buf, d.data_offset, rtu.HIGH_WORD_FIRST, 1) == 7371


def test_decoder_expect_validates_like_the_request():
    d = rtu.ResponseDecoder()
    with raises(ValueError):
        d.expect(0, 4, 1)
    with raises(ValueError):
        d.expect(1, 5, 1)
    with raises(ValueError):
        d.expect(1, 4, 126)


# ---- decoder: each malformed class has its own result ----


def test_decoder_exception_response_each_code():
    """Application protocol 7: function | 0x80 + code (1, 2, 3, 4, 6)."""
    for code in (
        rtu.EXC_ILLEGAL_FUNCTION,
        rtu.EXC_ILLEGAL_ADDRESS,
        rtu.EXC_ILLEGAL_VALUE,
        rtu.EXC_DEVICE_FAILURE,
        rtu.EXC_BUSY,
    ):
        d, r = _decode_all(_with_crc(bytes([1, 0x84, code])))
        assert r == rtu.EXCEPTION
        assert d.exception_code == code
        assert d.frame_len == 5


def test_decoder_exception_recorded_from_pymodbus_illegal_address():
    d, r = _decode_all(b"\x01\x84\x02\xc2\xc1")
    assert r == rtu.EXCEPTION and d.exception_code == 2


def test_decoder_bad_crc_is_reported_at_the_silence():
    bad = bytearray(SDM630_FREQ_ENERGY)
    bad[5] ^= 0x10
    d, r = _decode_all(bad)
    assert r == rtu.NEED_MORE  # could still be garbage before the real frame
    assert d.decode(True) == rtu.BAD_CRC
    bad = bytearray(SDM630_FREQ_ENERGY)
    bad[-1] ^= 0x01
    assert _decode_all(bad, end=True)[1] == rtu.BAD_CRC
    assert _decode_all(b"\x01\x84\x02\xc2\xc0", end=True)[1] == rtu.BAD_CRC
    assert _decode_all(b"\x55\xaa\x55\xaa\x55", end=True)[1] == rtu.BAD_CRC


def test_decoder_wrong_unit():
    other = _with_crc(b"\x02" + SDM630_FREQ_ENERGY[1:-2])
    assert _decode_all(other)[1] == rtu.WRONG_UNIT
    assert _decode_all(_with_crc(b"\x05\x84\x02"))[1] == rtu.WRONG_UNIT


def test_decoder_wrong_function():
    holding = _with_crc(b"\x01\x03" + SDM630_FREQ_ENERGY[2:-2])  # asked 4, got 3
    assert _decode_all(holding)[1] == rtu.WRONG_FUNCTION
    assert _decode_all(_with_crc(b"\x01\x83\x02"))[1] == rtu.WRONG_FUNCTION
    echo = _with_crc(b"\x01\x06\x00\x01\x00\x03")
    assert _decode_all(echo)[1] == rtu.WRONG_FUNCTION


def test_decoder_short_frame_at_the_silence():
    d, r = _decode_all(SDM630_FREQ_ENERGY[:10])
    assert r == rtu.NEED_MORE
    assert d.decode(True) == rtu.SHORT_FRAME
    assert _decode_all(b"\x01\x04", end=True)[1] == rtu.SHORT_FRAME
    assert _decode_all(b"\x01\x84\x02\xc2", end=True)[1] == rtu.SHORT_FRAME
    assert _decode_all(b"\x01", end=True)[1] == rtu.SHORT_FRAME


def test_decoder_overlong_bytes_after_the_frame():
    d, r = _decode_all(SDM630_FREQ_ENERGY + b"\x00")
    assert r == rtu.OVERLONG
    assert d.frame_start == 0 and d.frame_len == 17  # the CRC-valid part is still described
    # more data than the byte count says, CRC over the whole: seen at the silence
    longer = _with_crc(SDM630_FREQ_ENERGY[:-2] + b"\x12\x34")
    assert _decode_all(longer)[1] == rtu.NEED_MORE
    assert _decode_all(longer, end=True)[1] == rtu.OVERLONG


def test_decoder_overlong_256_bytes_without_a_frame_and_never_grows():
    d = _decoder()
    noise = bytes(range(1, 201))
    assert d.feed(noise) == 200
    assert d.feed(noise) == 56
    assert d.fill == 256 and len(d.buf) == 256
    assert d.decode() == rtu.OVERLONG
    assert d.feed(noise) == 0
    assert d.fill == 256 and len(d.buf) == 256


def test_decoder_wrong_byte_count():
    """Byte count 4 where 6 registers (12 bytes) were asked."""
    short_count = _with_crc(b"\x01\x04\x04\x45\xe6\x5b\x33")
    assert _decode_all(short_count)[1] == rtu.WRONG_LENGTH


def test_decoder_no_response_at_the_timeout():
    d = _decoder()
    assert d.decode() == rtu.NEED_MORE
    assert d.decode(True) == rtu.NO_RESPONSE


def test_decoder_result_codes_are_distinct_and_named():
    codes = (
        rtu.OK,
        rtu.NEED_MORE,
        rtu.EXCEPTION,
        rtu.BAD_CRC,
        rtu.WRONG_UNIT,
        rtu.WRONG_FUNCTION,
        rtu.SHORT_FRAME,
        rtu.OVERLONG,
        rtu.WRONG_LENGTH,
        rtu.NO_RESPONSE,
    )
    assert len(set(codes)) == len(codes)
    assert rtu.RESULT_NAMES[rtu.WRONG_LENGTH] == "WRONG_LENGTH"
    assert len(rtu.RESULT_NAMES) == len(codes)


def test_decoder_not_armed_finds_nothing():
    d = rtu.ResponseDecoder()
    d.feed(SDM630_FREQ_ENERGY)
    assert d.decode() == rtu.NEED_MORE
    assert d.decode(True) == rtu.BAD_CRC


# ---- register values ----


def test_u16_s16_u32_s32_both_word_orders():
    buf = b"\x12\x34\xfe\xdc\xff\xff\x80\x00"
    assert rtu.u16(buf, 0) == 0x1234
    assert rtu.s16(buf, 2) == -292
    assert rtu.s16(buf, 0) == 0x1234
    assert rtu.u32(buf, 0, rtu.HIGH_WORD_FIRST) == 0x1234FEDC
    assert rtu.u32(buf, 0, rtu.LOW_WORD_FIRST) == 0xFEDC1234
    assert rtu.s32(buf, 4, rtu.HIGH_WORD_FIRST) == -32768
    assert rtu.s32(buf, 4, rtu.LOW_WORD_FIRST) == -0x7FFF0001
    # EM340 style: -127 stored low word first
    assert rtu.s32(b"\xff\x81\xff\xff", 0, rtu.LOW_WORD_FIRST) == -127
    with raises(ValueError):
        rtu.u32(buf, 0, 2)


def test_u64_abb_energy_both_word_orders():
    buf = b"\x00\x00\x00\x00\x00\x12\xd6\x87"
    assert rtu.u64(buf, 0, rtu.HIGH_WORD_FIRST) == 1234567
    assert rtu.u64(b"\xd6\x87\x00\x12\x00\x00\x00\x00", 0, rtu.LOW_WORD_FIRST) == 1234567
    assert rtu.u64(b"\x01\x02\x03\x04\x05\x06\x07\x08", 0) == 0x0102030405060708


def test_f32_scaled_known_values_in_integers():
    """230.1 V -> 230100 mV, 16.02 A -> 16020 mA, 12345.67 kWh -> 12345670 Wh."""
    h = rtu.HIGH_WORD_FIRST
    assert rtu.f32_scaled(b"\x43\x66\x19\x9a", 0, h, 1000) == 230100
    assert rtu.f32_scaled(b"\x41\x80\x28\xf6", 0, h, 1000) == 16020
    assert rtu.f32_scaled(b"\x46\x40\xe6\xae", 0, h, 1000) == 12345670
    assert rtu.f32_scaled(b"\xc1\x4b\x33\x33", 0, h, 1) == -13  # -12.7 W
    assert rtu.f32_scaled(b"\x45\x66\x63\x33", 0, h, 1) == 3686  # 3686.2 W
    assert rtu.f32_scaled(b"\x45\x66\x63\x33", 0, h, 1000, 1000) == 3686
    # low word first: the same 230.1 with its words swapped
    assert rtu.f32_scaled(b"\x19\x9a\x43\x66", 0, rtu.LOW_WORD_FIRST, 1000) == 230100


def test_f32_scaled_zero_subnormal_large_and_ties_to_even():
    h = rtu.HIGH_WORD_FIRST
    assert rtu.f32_scaled(b"\x00\x00\x00\x00", 0, h, 1000) == 0
    assert rtu.f32_scaled(b"\x80\x00\x00\x00", 0, h, 1000) == 0  # -0.0
    assert rtu.f32_scaled(b"\x00\x00\x00\x01", 0, h, 1000) == 0  # smallest subnormal
    assert rtu.f32_scaled(b"\x4b\x80\x00\x00", 0, h, 1) == 16777216  # 2**24
    assert rtu.f32_scaled(b"\x7f\x7f\xff\xff", 0, h, 1) == 0xFFFFFF << 104  # largest float32
    assert rtu.f32_scaled(b"\x40\x20\x00\x00", 0, h, 1) == 2  # 2.5 -> 2
    assert rtu.f32_scaled(b"\x40\x60\x00\x00", 0, h, 1) == 4  # 3.5 -> 4
    assert rtu.f32_scaled(b"\xc0\x20\x00\x00", 0, h, 1) == -2  # -2.5 -> -2


def test_f32_scaled_nan_and_infinity_are_none():
    h = rtu.HIGH_WORD_FIRST
    assert rtu.f32_scaled(b"\x7f\xc0\x00\x00", 0, h, 1000) is None
    assert rtu.f32_scaled(b"\xff\xc0\x00\x01", 0, h, 1000) is None
    assert rtu.f32_scaled(b"\x7f\x80\x00\x00", 0, h, 1000) is None
    assert rtu.f32_scaled(b"\xff\x80\x00\x00", 0, h, 1000) is None


def test_div_round_ties_to_even_like_round():
    assert rtu.div_round(25, 10) == 2
    assert rtu.div_round(35, 10) == 4
    assert rtu.div_round(-25, 10) == -2
    assert rtu.div_round(-127, 10) == -13
    assert rtu.div_round(126, 10) == 13
    assert rtu.div_round(7, -2) == -4
    assert rtu.div_round(0, 7) == 0


def test_decoder_pseudo_random_bytes_never_raise_on_this_interpreter():
    """The hypothesis property runs on CPython; this runs the same idea on the VM."""
    x = 0x2545F491
    d = rtu.ResponseDecoder()
    chunk = bytearray(64)
    for trial in range(60):
        d.expect(1 + trial % 247, 3 + trial % 2, 1 + trial % 125)
        for _ in range(6):
            for k in range(len(chunk)):
                x ^= (x << 13) & 0xFFFFFFFF
                x ^= x >> 17
                x ^= (x << 5) & 0xFFFFFFFF
                # bias towards header-like bytes so candidates get checked
                chunk[k] = (1 + trial % 247, 3 + trial % 2, x & 0xFF, x >> 8 & 0xFF)[x >> 30]
            d.feed(chunk, 0, x % 65)
            assert 0 <= d.decode() < len(rtu.RESULT_NAMES)
            assert d.fill <= 256 and len(d.buf) == 256
        assert d.decode(True) != rtu.NEED_MORE
