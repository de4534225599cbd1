# Every supported meter map decodes a recorded frame to the right integer
# values (issue 2), and its blocks follow the documented rule. Frames were
# recorded once on CPython with struct + pymodbus 3.16 FramerRTU (CRC).
from mpunit import raises
from protocols import meters as m
from protocols import modbus_rtu as rtu

# Eastron SDM630, unit 1: V 230.1/231.4/229.8, I 16.02/15.98/0, P 3686.2/3697.8/-12.7
SDM630_R0 = (
    b"\x01\x04\x24\x43\x66\x19\x9a\x43\x67\x66\x66\x43\x65\xcc\xcd\x41\x80\x28\xf6\x41"
    b"\x7f\xae\x14\x00\x00\x00\x00\x45\x66\x63\x33\x45\x67\x1c\xcd\xc1\x4b\x33\x33\x34\xf0"
)
SDM630_R1 = b"\x01\x04\x04\x45\xe6\x5b\x33\x74\x5a"  # P total 7371.4
# 49.98 Hz, 12345.67 kWh import, 123.45 kWh export
SDM630_R2 = b"\x01\x04\x0c\x42\x47\xeb\x85\x46\x40\xe6\xae\x42\xf6\xe6\x66\x0d\xdf"

# SDM72D-M, unit 2: V 238.7/240.2/236.9, I 10.5/0.25/31.99, P 2506.3/60.1/7578.4
SDM72_R0 = (
    b"\x02\x04\x24\x43\x6e\xb3\x33\x43\x70\x33\x33\x43\x6c\xe6\x66\x41\x28\x00\x00\x3e"
    b"\x80\x00\x00\x41\xff\xeb\x85\x45\x1c\xa4\xcd\x42\x70\x66\x66\x45\xec\xd3\x33\x9b\x62"
)
SDM72_R1 = b"\x02\x04\x04\x46\x1e\x83\x33\x9c\xef"  # P total 10144.8
# 50.02 Hz, 98765.43 kWh import, 0 export
SDM72_R2 = b"\x02\x04\x0c\x42\x48\x14\x7b\x47\xc0\xe6\xb7\x00\x00\x00\x00\x60\x9b"

# SDM120, unit 1: V 230.1, (L2/L3 read as 0), I 16.02, P 3686.2; then 49.98 Hz, energies
SDM120_R0 = (
    b"\x01\x04\x1c\x43\x66\x19\x9a\x00\x00\x00\x00\x00\x00\x00\x00\x41\x80\x28\xf6\x00"
    b"\x00\x00\x00\x00\x00\x00\x00\x45\x66\x63\x33\x30\xea"
)
SDM120_R1 = SDM630_R2

# SDM230, unit 1: V 241.3, I 31.75, P -7650.9 (exporting); 50.01 Hz, 4321.09 / 876.54 kWh
SDM230_R0 = (
    b"\x01\x04\x1c\x43\x71\x4c\xcd\x00\x00\x00\x00\x00\x00\x00\x00\x41\xfe\x00\x00\x00"
    b"\x00\x00\x00\x00\x00\x00\x00\xc5\xef\x17\x33\x05\x33"
)
SDM230_R1 = b"\x01\x04\x0c\x42\x48\x0a\x3d\x45\x87\x08\xb8\x44\x5b\x22\x8f\x90\x2c"

# Carlo Gavazzi EM340, unit 1, INT32 low word first: V 2301/2314/2298 (0.1 V),
# V L-L, A 16020/15980/0 (mA), W 36862/36978/-127 (0.1 W)
EM340_R0 = (
    b"\x01\x04\x30\x08\xfd\x00\x00\x09\x0a\x00\x00\x08\xfa\x00\x00\x0f\x9b\x00\x00\x0f"
    b"\x96\x00\x00\x0f\x90\x00\x00\x3e\x94\x00\x00\x3e\x6c\x00\x00\x00\x00\x00\x00\x8f"
    b"\xfe\x00\x00\x90\x72\x00\x00\xff\x81\xff\xff\xec\x0c"
)
# W sys 73714, VA sys, var sys, DMD W, DMD W max, PF 0.983, Hz 500 (0.1 Hz), kWh(+) 123456 (0.1 kWh)
EM340_R1 = (
    b"\x01\x04\x1c\x1f\xf2\x00\x01\x24\xf8\x00\x01\xf4\x48\xff\xff\x11\x70\x00\x01\x5f"
    b"\x90\x00\x01\x03\xd7\x01\xf4\xe2\x40\x00\x01\x4a\xf4"
)
EM340_R2 = b"\x01\x04\x04\x04\xd2\x00\x00\x5a\x8d"  # kWh(-) 1234 (0.1 kWh)

# ABB B23, unit 1, big-endian: import 1234567 / export 12345 (U64, 0.01 kWh)
B23_R0 = b"\x01\x03\x10\x00\x00\x00\x00\x00\x12\xd6\x87\x00\x00\x00\x00\x00\x00\x30\x39\xcc\x73"
# V 2301/2314/2298 (0.1 V), V L-L, I 1602/1598/0 (0.01 A), In invalid,
# P total 737140, P 368620/369780/-1260 (0.01 W)
B23_R1 = (
    b"\x01\x03\x38\x00\x00\x08\xfd\x00\x00\x09\x0a\x00\x00\x08\xfa\x00\x00\x0f\x9b\x00"
    b"\x00\x0f\x96\x00\x00\x0f\x90\x00\x00\x06\x42\x00\x00\x06\x3e\x00\x00\x00\x00\xff"
    b"\xff\xff\xff\x00\x0b\x3f\x74\x00\x05\x9f\xec\x00\x05\xa4\x74\xff\xff\xfb\x14\xc3\x2f"
)
B23_R2 = b"\x01\x03\x02\x13\x86\x34\xd6"  # 49.98 Hz (0.01 Hz)
# Basic B23 variant: export register reads "invalid" (all ones)
B23_R0_NO_EXPORT = (
    b"\x01\x03\x10\x00\x00\x00\x00\x00\x12\xd6\x87\xff\xff\xff\xff\xff\xff\xff\xff\x59\xe5"
)

# Requests of every block, recorded with pymodbus FramerRTU
REQUESTS = {
    "SDM630": (
        b"\x01\x04\x00\x00\x00\x12\x70\x07",
        b"\x01\x04\x00\x34\x00\x02\x30\x05",
        b"\x01\x04\x00\x46\x00\x06\x91\xdd",
    ),
    "SDM120": (b"\x01\x04\x00\x00\x00\x0e\x71\xce", b"\x01\x04\x00\x46\x00\x06\x91\xdd"),
    "EM340": (
        b"\x01\x04\x00\x00\x00\x18\xf0\x00",
        b"\x01\x04\x00\x28\x00\x0e\xf1\xc6",
        b"\x01\x04\x00\x4e\x00\x02\x11\xdc",
    ),
    "B23": (
        b"\x01\x03\x50\x00\x00\x08\x55\x0c",
        b"\x01\x03\x5b\x00\x00\x1c\x57\x27",
        b"\x01\x03\x5b\x2c\x00\x01\x56\xe7",
    ),
}


def _poll(meter, unit, frames):
    """Decode one recorded frame per block the way the poller will."""
    out = m.new_values()
    d = rtu.ResponseDecoder()
    for index in range(len(meter["blocks"])):
        count = meter["blocks"][index][1]
        d.expect(unit, meter["function"], count)
        d.feed(frames[index])
        assert d.decode() == rtu.OK
        assert m.decode_block(meter, index, d.buf, d.data_offset, out) > 0
    return out


def _check(v, mv, ma, w, p_total_w):
    assert (v[m.V1], v[m.V2], v[m.V3]) == mv
    assert (v[m.I1], v[m.I2], v[m.I3]) == ma
    assert (v[m.P1], v[m.P2], v[m.P3]) == w
    assert v[m.P_TOTAL] == p_total_w


def _check_energy_freq(v, import_wh, export_wh, freq_mhz):
    assert v[m.E_IMPORT] == import_wh
    assert v[m.E_EXPORT] == export_wh
    assert v[m.FREQ] == freq_mhz


def test_sdm630_recorded_frames_to_integers():
    v = _poll(m.SDM630, 1, (SDM630_R0, SDM630_R1, SDM630_R2))
    _check(v, (230100, 231400, 229800), (16020, 15980, 0), (3686, 3698, -13), 7371)
    _check_energy_freq(v, 12345670, 123450, 49980)


def test_sdm72dm_recorded_frames_to_integers():
    v = _poll(m.SDM72DM, 2, (SDM72_R0, SDM72_R1, SDM72_R2))
    assert v[m.V1] == 238700 and v[m.V2] == 240200 and v[m.V3] == 236900
    assert v[m.I1] == 10500 and v[m.I2] == 250 and v[m.I3] == 31990
    assert v[m.P1] == 2506 and v[m.P2] == 60 and v[m.P3] == 7578
    assert v[m.P_TOTAL] == 10145
    assert v[m.FREQ] == 50020
    assert v[m.E_IMPORT] == 98765430 and v[m.E_EXPORT] == 0


def test_sdm120_single_phase_recorded_frames_to_integers():
    """SDM120 uses the SDM630 L1 addresses; L2/L3 stay None, P total = P L1."""
    v = _poll(m.SDM120, 1, (SDM120_R0, SDM120_R1))
    _check(v, (230100, None, None), (16020, None, None), (3686, None, None), 3686)
    _check_energy_freq(v, 12345670, 123450, 49980)


def test_sdm230_single_phase_recorded_frames_to_integers():
    v = _poll(m.SDM230, 1, (SDM230_R0, SDM230_R1))
    _check(v, (241300, None, None), (31750, None, None), (-7651, None, None), -7651)
    _check_energy_freq(v, 4321090, 876540, 50010)


def test_em340_recorded_frames_to_integers():
    """INT32 low word first: 0.1 V -> mV, mA, 0.1 W -> W, Hz INT16 0.1, 0.1 kWh -> Wh."""
    v = _poll(m.EM340, 1, (EM340_R0, EM340_R1, EM340_R2))
    _check(v, (230100, 231400, 229800), (16020, 15980, 0), (3686, 3698, -13), 7371)
    _check_energy_freq(v, 12345600, 123400, 50000)


def test_abb_b23_recorded_frames_to_integers():
    """U64 0.01 kWh, U32 0.1 V and 0.01 A, S32 0.01 W, U16 0.01 Hz, big-endian."""
    v = _poll(m.ABB_B23, 1, (B23_R0, B23_R1, B23_R2))
    _check(v, (230100, 231400, 229800), (16020, 15980, 0), (3686, 3698, -13), 7371)
    _check_energy_freq(v, 12345670, 123450, 49980)


def test_abb_b23_invalid_register_reads_none():
    out = m.new_values()
    d = rtu.ResponseDecoder()
    d.expect(1, 3, 8)
    d.feed(B23_R0_NO_EXPORT)
    assert d.decode() == rtu.OK
    assert m.decode_block(m.ABB_B23, 0, d.buf, d.data_offset, out) == 2
    assert out[m.E_IMPORT] == 12345670
    assert out[m.E_EXPORT] is None


def test_integer_invalid_codes_and_float_nan_read_none():
    assert m.value(b"\x7f\xff\xff\xff", 0, m.S32, rtu.HIGH_WORD_FIRST, 100, 1) is None
    assert m.value(b"\xff\xff\x7f\xff", 0, m.S32, rtu.LOW_WORD_FIRST, 100, 1) is None  # EM340 EEE
    assert m.value(b"\xff\xff\xff\xff", 0, m.U32, rtu.HIGH_WORD_FIRST, 10, 1) is None
    assert m.value(b"\xff\xff", 0, m.U16, rtu.HIGH_WORD_FIRST, 10, 1) is None
    assert m.value(b"\x7f\xff", 0, m.S16, rtu.HIGH_WORD_FIRST, 100, 1) is None
    assert m.value(b"\x7f\xc0\x00\x00", 0, m.F32, rtu.HIGH_WORD_FIRST, 1000, 1) is None
    assert m.value(b"\xff\xfe", 0, m.S16, rtu.HIGH_WORD_FIRST, 100, 1) == -200


def test_block_requests_match_recorded_bytes():
    buf = bytearray(8)
    for name in REQUESTS:
        meter = m.get(name)
        for index in range(len(meter["blocks"])):
            assert m.block_request(meter, index, 1, buf) == 8
            assert bytes(buf) == REQUESTS[name][index]


def test_every_map_has_every_quantity_of_its_phases():
    single = (m.V1, m.I1, m.P1, m.P_TOTAL, m.E_IMPORT, m.E_EXPORT, m.FREQ)
    for name in m.METERS:
        meter = m.METERS[name]
        present = [q[0] for q in meter["quantities"]]
        wanted = range(m.N_QUANTITIES) if meter["phases"] == 3 else single
        for q in wanted:
            assert q in present, name + " lacks " + m.QUANTITY_NAMES[q]
        assert meter["function"] in (rtu.FUNC_READ_HOLDING, rtu.FUNC_READ_INPUT)
        assert meter["word_order"] in (rtu.HIGH_WORD_FIRST, rtu.LOW_WORD_FIRST)
        assert meter["parity"] in ("N", "E", "O")
        assert 1 <= meter["unit"] <= 247


def test_every_quantity_lies_in_exactly_one_block_within_the_meter_limit():
    for name in m.METERS:
        meter = m.METERS[name]
        for _start, count in meter["blocks"]:
            assert 1 <= count <= meter["max_registers"] <= rtu.MAX_REGISTERS
        for q, address, value_type, mul, div in meter["quantities"]:
            end = address + m.registers(value_type)
            inside = [b for b in meter["blocks"] if b[0] <= address and end <= b[0] + b[1]]
            assert len(inside) == 1, name + " " + m.QUANTITY_NAMES[q]
            assert mul > 0 and div > 0


def test_stored_blocks_follow_the_merge_rule():
    """Blocks merge while the gap costs less than a request of its own (10 registers)."""
    for name in m.METERS:
        meter = m.METERS[name]
        assert meter["blocks"] == m.plan_blocks(meter["quantities"], meter["max_registers"])


def test_plan_blocks_splits_on_large_gaps_and_the_register_limit():
    q = ((m.V1, 0, m.F32, 1, 1), (m.V2, 12, m.F32, 1, 1), (m.V3, 30, m.F32, 1, 1))
    assert m.plan_blocks(q, 80) == ((0, 14), (30, 2))
    assert m.plan_blocks(q, 10) == ((0, 2), (12, 2), (30, 2))


def test_get_unknown_meter_raises_valueerror():
    assert m.get("EM340") is m.EM340
    with raises(ValueError):
        m.get("SDM999")
