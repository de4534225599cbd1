# The emulated MID meters (sim_hardware/meter_emulator.py) as Modbus RTU
# slaves, on CPython and the MicroPython VM: each model answers with its map's
# function, word order and scaling, stays silent where a real RS-485 slave
# does, follows the sim board's power side and integrates energy over virtual
# time; every injected fault shows on the wire as it would from a real meter.
from mpunit import raises
from protocols import meters as m
from protocols import modbus_rtu as rtu
from protocols.crc16 import crc16
from sim_hardware.meter_emulator import MeterEmulator, TimedLine, bus, f32_bits
from sim_hardware.sim_board import SimBoard


def _request(unit, function, address, count):
    buf = bytearray(8)
    rtu.build_read_request(buf, unit, function, address, count)
    return bytes(buf)


def _read_all(emu, unit=1):
    """One poll cycle as the firmware's master decodes it: -> values, result codes."""
    meter = emu.map
    out = m.new_values()
    d = rtu.ResponseDecoder()
    results = []
    for i in range(len(meter["blocks"])):
        req = bytearray(8)
        m.block_request(meter, i, unit, req)
        d.expect(unit, meter["function"], meter["blocks"][i][1])
        answer = emu.respond(bytes(req))
        if answer:
            d.feed(answer)
        r = d.decode(True)
        results.append(r)
        if r == rtu.OK:
            m.decode_block(meter, i, d.buf, d.data_offset, out)
    return out, results


def _powered_board(ma=(16000, 16000, 16000)):
    b = SimBoard()
    b.set_contactor(1)
    b.advance(100)  # the contacts have closed
    b.ev_current_ma = list(ma)
    return b


def test_f32_bits_known_answers():
    """IEEE 754 binary32, round to nearest even: the words the SDM630 frames of
    tests/portable/test_meters.py carry (recorded with struct + pymodbus)."""
    assert f32_bits(2301, 10) == 0x4366199A  # 230.1 V
    assert f32_bits(1602, 100) == 0x418028F6  # 16.02 A
    assert f32_bits(-127, 10) == 0xC14B3333  # -12.7 W
    assert f32_bits(1234567, 100) == 0x4640E6AE  # 12345.67 kWh
    assert f32_bits(4998, 100) == 0x4247EB85  # 49.98 Hz
    assert f32_bits(0) == 0
    assert f32_bits(1, 1) == 0x3F800000
    assert f32_bits(1 << 24) == 0x4B800000
    assert f32_bits((1 << 24) + 1) == 0x4B800000  # tie: to even
    assert f32_bits((1 << 24) + 3) == 0x4B800002


def test_each_model_serves_its_map_scaled_and_in_its_word_order():
    """AG-03: every supported model answers each block of its map; a master
    decoding with that map reads what the power side says, to the register's
    resolution."""
    b = _powered_board((16020, 15980, 500))
    b.mains_mv = [230100, 231400, 229800]
    b.mains_mhz = 49980
    for name in m.METERS:
        emu = MeterEmulator(name, 1, b, import_wh=12345600, export_wh=123400)
        b.meter_configure(emu.baud, emu.parity)  # each at its factory serial format
        v, results = _read_all(emu)
        assert results == [rtu.OK] * len(emu.map["blocks"]), name
        assert v[m.V1] == 230100 and v[m.I1] == 16020, name
        assert v[m.P1] == 3686 and v[m.E_IMPORT] == 12345600 and v[m.E_EXPORT] == 123400, name
        if emu.map["phases"] == 3:
            assert (v[m.V2], v[m.V3], v[m.I2], v[m.I3]) == (231400, 229800, 15980, 500), name
            assert v[m.P2] == 3698 and v[m.P3] == 115 and v[m.P_TOTAL] == 7499, name
        else:
            assert v[m.P_TOTAL] == 3686 and v[m.V2] is None, name
        assert v[m.FREQ] == (50000 if name == "EM340" else 49980), name  # EM340: 0.1 Hz
        assert v == emu.served(), name


def test_word_order_on_the_wire():
    """SDM630 float32 high word first; EM340 INT32 low word first (DESIGN §8)."""
    b = _powered_board()
    sdm = MeterEmulator("SDM630", 1, b)
    a = sdm.respond(_request(1, 4, 0x0000, 2))
    assert a[3:7] == b"\x43\x66\x00\x00"  # 230.0 V
    em = MeterEmulator("EM340", 1, b)
    a = em.respond(_request(1, 4, 0x0000, 2))
    assert a[3:7] == b"\x08\xfc\x00\x00"  # 2300 (0.1 V), low word first
    em.swap_words = True
    a = em.respond(_request(1, 4, 0x0000, 2))
    assert a[3:7] == b"\x00\x00\x08\xfc"


def test_silent_for_other_unit_ids_broadcast_and_bad_crc():
    """Issue 4: a real RS-485 slave stays silent for other unit ids; Modbus
    over serial line 2.4.1: no answer to a broadcast or a damaged frame."""
    emu = MeterEmulator("SDM630", 7)
    assert emu.respond(_request(7, 4, 0, 2)) is not None
    assert emu.respond(_request(1, 4, 0, 2)) is None
    req = bytearray(_request(7, 4, 0, 2))
    req[0] = 0  # broadcast
    crc = crc16(req, 0, 6)
    req[6] = crc & 0xFF
    req[7] = crc >> 8
    assert emu.respond(bytes(req)) is None
    bad = bytearray(_request(7, 4, 0, 2))
    bad[7] ^= 1
    assert emu.respond(bytes(bad)) is None
    assert emu.respond(b"\x07") is None
    assert emu.ignored == 4 and emu.requests == 1


def test_exception_responses_for_bad_requests():
    """Modbus application protocol 7: 1 illegal function, 2 illegal address,
    3 illegal value (count above the maker's per-request limit)."""
    emu = MeterEmulator("SDM630")
    assert emu.respond(_request(1, 3, 0, 2))[1:3] == b"\x83\x01"  # SDM: input registers only
    assert emu.respond(_request(1, 4, 0x1000, 2))[1:3] == b"\x84\x02"
    assert emu.respond(_request(1, 4, 0x0040, 16))[1:3] == b"\x84\x02"  # runs past the map
    assert emu.respond(_request(1, 4, 0, 81))[1:3] == b"\x84\x03"  # 80 registers at most
    em = MeterEmulator("EM340")
    assert em.respond(_request(1, 3, 0, 2))[1] == 3  # EM340: function 3 and 4 alike
    b23 = MeterEmulator("B23")
    assert b23.respond(_request(1, 4, 0x5000, 4))[1:3] == b"\x84\x01"
    d = rtu.ResponseDecoder()
    d.expect(1, 4, 2)
    d.feed(emu.respond(_request(1, 4, 0x1000, 2)))
    assert d.decode() == rtu.EXCEPTION and d.exception_code == rtu.EXC_ILLEGAL_ADDRESS


def test_current_flows_only_while_the_contacts_are_closed():
    b = SimBoard()
    b.ev_current_ma = [16000, 16000, 16000]
    emu = MeterEmulator("SDM630", 1, b)
    v, _ = _read_all(emu)
    assert v[m.I1] == 0 and v[m.P_TOTAL] == 0 and v[m.V1] == 230000
    b.set_contactor(1)
    b.advance(100)
    v, _ = _read_all(emu)
    assert v[m.I1] == 16000 and v[m.P_TOTAL] == 11040


def test_energy_integrates_power_over_virtual_time():
    """UK-9: 11.04 kW for an hour is 11040 Wh of import; exporting counts export."""
    b = _powered_board()
    emu = MeterEmulator("SDM630", 1, b, import_wh=1000)
    emu.update()
    b.advance(3600000)
    assert emu.energy_wh() == (12040, 0)
    b.ev_current_ma = [-10000, 0, 0]  # V2G: 2.3 kW out for half an hour
    emu.update()
    b.advance(1800000)
    assert emu.energy_wh() == (12040, 1150)
    v, _ = _read_all(emu)
    assert v[m.E_IMPORT] == 12040 and v[m.E_EXPORT] == 1150 and v[m.P_TOTAL] == -2300


def test_integer_registers_show_completed_units():
    """EM340 counts 0.1 kWh, B23 0.01 kWh: a register shows the completed units."""
    b = _powered_board()
    for name, step in (("EM340", 100), ("B23", 10)):
        emu = MeterEmulator(name, 1, b, import_wh=5099)
        v, _ = _read_all(emu)
        assert v[m.E_IMPORT] == 5099 // step * step, name


def test_injected_silence_crc_and_exceptions_for_a_number_of_requests():
    emu = MeterEmulator("SDM630")
    req = _request(1, 4, 0, 2)
    emu.inject("silence", 2)
    assert emu.respond(req) is None and emu.respond(req) is None
    assert emu.respond(req) is not None
    emu.inject("crc", 1)
    a = emu.respond(req)
    assert crc16(a, 0, len(a)) != 0
    assert crc16(emu.respond(req), 0, 9) == 0
    emu.inject("exception", -1, rtu.EXC_BUSY)
    for _ in range(3):
        assert emu.respond(req)[1:3] == b"\x84\x06"
    emu.clear()
    assert emu.respond(req)[1] == 4
    with raises(ValueError):
        emu.inject("smoke")


def test_frozen_values_and_register_reset():
    b = _powered_board()
    emu = MeterEmulator("B23", 1, b, import_wh=50000)
    emu.freeze()
    b.advance(3600000)
    b.ev_current_ma = [10000, 10000, 10000]
    v, _ = _read_all(emu)
    assert v[m.E_IMPORT] == 50000 and v[m.I1] == 16000  # the frozen instant
    emu.unfreeze()
    v, _ = _read_all(emu)
    assert v[m.E_IMPORT] == 61040 and v[m.I1] == 10000  # it kept counting meanwhile
    emu.reset_register()
    v, _ = _read_all(emu)
    assert v[m.E_IMPORT] == 0 and v[m.E_EXPORT] == 0


def test_wrong_baud_or_parity_gives_garbage():
    """A UART at another rate or parity than the meter's: framing errors."""
    b = _powered_board()
    emu = MeterEmulator("SDM120", 1, b)  # ships at 2400 baud
    v, results = _read_all(emu)
    assert rtu.OK not in results and v[m.V1] is None
    b.meter_configure(2400, "N")
    v, results = _read_all(emu)
    assert results == [rtu.OK, rtu.OK] and v[m.V1] == 230000


def test_a_bus_answers_each_unit_id_from_its_own_device():
    b = _powered_board()
    one = MeterEmulator("SDM630", 1, b)
    two = MeterEmulator("EM340", 2, b)
    respond = bus(one, two)
    assert respond(_request(1, 4, 0, 2))[0] == 1
    assert respond(_request(2, 4, 0, 2))[0] == 2
    assert respond(_request(3, 4, 0, 2)) is None


def test_timed_line_delivers_the_answer_at_line_rate_after_t35():
    """DESIGN §9: the emulator models line time where timing matters: at 9600
    8N1 an 8-byte request takes 8.33 ms, t3.5 3.65 ms, a 9-byte answer 9.38 ms."""
    b = _powered_board()
    emu = MeterEmulator("SDM630", 1, b)
    TimedLine(b, emu.respond)
    buf = bytearray(64)
    b.meter_write(_request(1, 4, 0x0034, 2))
    assert b.meter_read(buf) == 0
    b.advance(13)  # the first byte arrives at 13.02 ms
    assert b.meter_read(buf) == 0
    b.advance(1)
    assert b.meter_read(buf) == 1
    b.advance(8)  # 22 ms: 8 more
    assert b.meter_read(buf) == 8
    b.advance(1)  # 23 ms: all 9 bytes by 21.73 ms
    assert b.meter_read(buf) == 0
