# Register maps of the supported MID meters, as data (DESIGN §8), and the one
# function that turns a block's response into integer mV / mA / W / Wh / mHz.
"""Register maps of supported MID meters.

A meter is a dict:
  name, function (3 or 4), word_order (modbus_rtu.HIGH_WORD_FIRST or
  LOW_WORD_FIRST), baud, parity, unit (factory defaults; all three are
  settings), max_registers (per request, from the maker's manual), phases,
  quantities: ((quantity, address, type, mul, div), ...) with
      value in project units = round(raw * mul / div), ties to even,
  blocks: ((address, count), ...), the read requests of one poll cycle.

Blocks are stored, not computed on the board: they cost nothing at boot and
can be edited by hand for a meter with quirks. They follow one rule, which
plan_blocks() implements and the tests check against every map: quantities
sorted by address share a request while the registers between them cost
fewer line bytes (2 per register) than a request/response pair of their own
(8 + 5 bytes + two t3.5 silences, about 20 characters), so at most
MERGE_GAP_REGISTERS unused registers, and within max_registers.

decode_block() writes into a list indexed by the quantity constants below
(new_values() makes one); quantities a meter does not have stay None, as do
values the meter reports invalid (float NaN/inf; the integer "invalid" codes
ABB documents, 0x7FFFFFFF overflow for Carlo Gavazzi).

Sources: Eastron SDM630-Modbus V2, SDM72D-M(-2), SDM120-Modbus and SDM230-Modbus
protocol documents (input registers 3xxxx, float32 high word first, each request
limited to 40 parameters = 80 registers; SDM72D-M: 30 parameters = 60 registers;
registers are read in pairs from an even address; on single-phase meters the L2/L3
registers inside a block read as zero);
Carlo Gavazzi "EM300 Series and ET300 Series Communication Protocol" v2 r17
(INT32 low word first, at most 50 registers per read); ABB "B23/B24 User Manual"
2CMC485003M0201 (big-endian, 1-125 registers per read, invalid = all ones for
unsigned, largest positive value for signed).
"""

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from protocols import modbus_rtu as rtu

# Quantity indices, units in QUANTITY_NAMES
V1 = const(0)
V2 = const(1)
V3 = const(2)
I1 = const(3)
I2 = const(4)
I3 = const(5)
P1 = const(6)
P2 = const(7)
P3 = const(8)
P_TOTAL = const(9)
E_IMPORT = const(10)
E_EXPORT = const(11)
FREQ = const(12)
N_QUANTITIES = const(13)

QUANTITY_NAMES = (
    "v1_mv",
    "v2_mv",
    "v3_mv",
    "i1_ma",
    "i2_ma",
    "i3_ma",
    "p1_w",
    "p2_w",
    "p3_w",
    "p_total_w",
    "e_import_wh",
    "e_export_wh",
    "freq_mhz",
)

# Value types
F32 = const(0)  # IEEE 754 binary32
S32 = const(1)
U32 = const(2)
S16 = const(3)
U16 = const(4)
U64 = const(5)

# per type: (registers, raw "invalid" code or None, signed)
_TYPES = (
    (2, None, False),
    (2, 0x7FFFFFFF, True),
    (2, 0xFFFFFFFF, False),
    (1, 0x7FFF, True),
    (1, 0xFFFF, False),
    (4, 0xFFFFFFFFFFFFFFFF, False),
)

MERGE_GAP_REGISTERS = const(10)

# Eastron: input registers, float32 in base units (V, A, W, kWh, Hz).
_SDM_3P = (
    (V1, 0x0000, F32, 1000, 1),
    (V2, 0x0002, F32, 1000, 1),
    (V3, 0x0004, F32, 1000, 1),
    (I1, 0x0006, F32, 1000, 1),
    (I2, 0x0008, F32, 1000, 1),
    (I3, 0x000A, F32, 1000, 1),
    (P1, 0x000C, F32, 1, 1),
    (P2, 0x000E, F32, 1, 1),
    (P3, 0x0010, F32, 1, 1),
    (P_TOTAL, 0x0034, F32, 1, 1),  # 30053 total system power
    (FREQ, 0x0046, F32, 1000, 1),  # 30071 frequency of supply voltages
    (E_IMPORT, 0x0048, F32, 1000, 1),  # 30073 total import kWh
    (E_EXPORT, 0x004A, F32, 1000, 1),  # 30075 total export kWh
)
_SDM_3P_BLOCKS = ((0x0000, 18), (0x0034, 2), (0x0046, 6))

# Single-phase Eastron: the same addresses as SDM630 L1; there is no 30053,
# the total power is the phase 1 power (30013).
_SDM_1P = (
    (V1, 0x0000, F32, 1000, 1),
    (I1, 0x0006, F32, 1000, 1),
    (P1, 0x000C, F32, 1, 1),
    (P_TOTAL, 0x000C, F32, 1, 1),
    (FREQ, 0x0046, F32, 1000, 1),
    (E_IMPORT, 0x0048, F32, 1000, 1),
    (E_EXPORT, 0x004A, F32, 1000, 1),
)
_SDM_1P_BLOCKS = ((0x0000, 14), (0x0046, 6))

SDM630 = {
    "name": "SDM630",
    "function": rtu.FUNC_READ_INPUT,
    "word_order": rtu.HIGH_WORD_FIRST,
    "baud": 9600,
    "parity": "N",  # manuals differ (N or E): a setting
    "unit": 1,
    "max_registers": 80,
    "phases": 3,
    "quantities": _SDM_3P,
    "blocks": _SDM_3P_BLOCKS,
}

# SDM72D-M-2 (V2) map; the first SDM72D-M only answers total power and energy.
SDM72DM = {
    "name": "SDM72D-M",
    "function": rtu.FUNC_READ_INPUT,
    "word_order": rtu.HIGH_WORD_FIRST,
    "baud": 9600,
    "parity": "E",  # 9600 8E1 in Eastron SDM72D notes; manuals differ: a setting
    "unit": 1,
    "max_registers": 60,
    "phases": 3,
    "quantities": _SDM_3P,
    "blocks": _SDM_3P_BLOCKS,
}

SDM120 = {
    "name": "SDM120",
    "function": rtu.FUNC_READ_INPUT,
    "word_order": rtu.HIGH_WORD_FIRST,
    "baud": 2400,  # ships at 2400 baud
    "parity": "N",
    "unit": 1,
    "max_registers": 80,
    "phases": 1,
    "quantities": _SDM_1P,
    "blocks": _SDM_1P_BLOCKS,
}

SDM230 = {
    "name": "SDM230",
    "function": rtu.FUNC_READ_INPUT,
    "word_order": rtu.HIGH_WORD_FIRST,
    "baud": 9600,
    "parity": "N",
    "unit": 1,
    "max_registers": 80,
    "phases": 1,
    "quantities": _SDM_1P,
    "blocks": _SDM_1P_BLOCKS,
}

# Carlo Gavazzi EM340: function 3 or 4 read the same values; INT32 low word first.
EM340 = {
    "name": "EM340",
    "function": rtu.FUNC_READ_INPUT,
    "word_order": rtu.LOW_WORD_FIRST,
    "baud": 9600,
    "parity": "N",
    "unit": 1,
    "max_registers": 50,
    "phases": 3,
    "quantities": (
        (V1, 0x0000, S32, 100, 1),  # V L1-N, 0.1 V
        (V2, 0x0002, S32, 100, 1),
        (V3, 0x0004, S32, 100, 1),
        (I1, 0x000C, S32, 1, 1),  # A L1, 0.001 A
        (I2, 0x000E, S32, 1, 1),
        (I3, 0x0010, S32, 1, 1),
        (P1, 0x0012, S32, 1, 10),  # W L1, 0.1 W
        (P2, 0x0014, S32, 1, 10),
        (P3, 0x0016, S32, 1, 10),
        (P_TOTAL, 0x0028, S32, 1, 10),  # W sys
        (FREQ, 0x0033, S16, 100, 1),  # Hz, INT16, 0.1 Hz
        (E_IMPORT, 0x0034, S32, 100, 1),  # kWh (+) TOT, 0.1 kWh
        (E_EXPORT, 0x004E, S32, 100, 1),  # kWh (-) TOT, 0.1 kWh
    ),
    "blocks": ((0x0000, 24), (0x0028, 14), (0x004E, 2)),
}

# ABB B23: holding registers, big-endian. The manual gives no factory RS-485
# settings (check the display); 9600 8N1 is what integrations assume.
ABB_B23 = {
    "name": "B23",
    "function": rtu.FUNC_READ_HOLDING,
    "word_order": rtu.HIGH_WORD_FIRST,
    "baud": 9600,
    "parity": "N",
    "unit": 1,
    "max_registers": 125,
    "phases": 3,
    "quantities": (
        (E_IMPORT, 0x5000, U64, 10, 1),  # active import, 0.01 kWh
        (E_EXPORT, 0x5004, U64, 10, 1),  # active export, 0.01 kWh
        (V1, 0x5B00, U32, 100, 1),  # voltage L1-N, 0.1 V
        (V2, 0x5B02, U32, 100, 1),
        (V3, 0x5B04, U32, 100, 1),
        (I1, 0x5B0C, U32, 10, 1),  # current L1, 0.01 A
        (I2, 0x5B0E, U32, 10, 1),
        (I3, 0x5B10, U32, 10, 1),
        (P_TOTAL, 0x5B14, S32, 1, 100),  # active power total, 0.01 W
        (P1, 0x5B16, S32, 1, 100),
        (P2, 0x5B18, S32, 1, 100),
        (P3, 0x5B1A, S32, 1, 100),
        (FREQ, 0x5B2C, U16, 10, 1),  # frequency, 0.01 Hz
    ),
    "blocks": ((0x5000, 8), (0x5B00, 28), (0x5B2C, 1)),
}

METERS = {
    "SDM630": SDM630,
    "SDM72D-M": SDM72DM,
    "SDM120": SDM120,
    "SDM230": SDM230,
    "EM340": EM340,
    "B23": ABB_B23,
}


def get(name):
    """The map of a model name (a key of METERS); ValueError for an unknown one."""
    meter = METERS.get(name)
    if meter is None:
        raise ValueError("unknown meter %r, supported: %s" % (name, ", ".join(sorted(METERS))))
    return meter


def new_values():
    return [None] * N_QUANTITIES


def registers(value_type):
    """Registers a value of this type occupies."""
    return _TYPES[value_type][0]


def block_request(meter, index, unit, buf):
    """Write the read request of block index into buf; return its length."""
    address, count = meter["blocks"][index]
    return rtu.build_read_request(buf, unit, meter["function"], address, count)


def value(buf, off, value_type, word_order, mul, div):
    """One register value at buf[off] scaled to the project's integer unit, or None."""
    if value_type == F32:
        return rtu.f32_scaled(buf, off, word_order, mul, div)
    width, invalid, signed = _TYPES[value_type]
    if width == 1:
        raw = rtu.u16(buf, off)
    elif width == 2:
        raw = rtu.u32(buf, off, word_order)
    else:
        raw = rtu.u64(buf, off, word_order)
    if raw == invalid:
        return None
    if signed:
        half = 1 << (16 * width - 1)
        if raw >= half:
            raw -= half << 1
    return rtu.div_round(raw * mul, div)


def decode_block(meter, index, buf, offset, out):
    """Fill out[quantity] for every quantity inside block index, whose register
    data starts at buf[offset] (a ResponseDecoder's data_offset after OK).
    Returns the number of quantities written."""
    start, count = meter["blocks"][index]
    end = start + count
    word_order = meter["word_order"]
    n = 0
    for quantity, address, value_type, mul, div in meter["quantities"]:
        if address >= start and address + _TYPES[value_type][0] <= end:
            off = offset + 2 * (address - start)
            out[quantity] = value(buf, off, value_type, word_order, mul, div)
            n += 1
    return n


def decode_quantity(meter, index, quantity, buf, offset, word_order):
    """One quantity of block index decoded with the given word order (the
    start-up word-order check tries the other one); None when the block does
    not hold it or the raw value is invalid."""
    start, count = meter["blocks"][index]
    for q, address, value_type, mul, div in meter["quantities"]:
        if q == quantity and address >= start and address + _TYPES[value_type][0] <= start + count:
            return value(buf, offset + 2 * (address - start), value_type, word_order, mul, div)
    return None


def resolution(meter, quantity, at):
    """Smallest step of the quantity's register near the value `at`, in project
    units, at least 1: mul / div of an integer register; for float32 the
    24-bit mantissa gives steps of at most |at| / 2**23."""
    for q, _address, value_type, mul, div in meter["quantities"]:
        if q == quantity:
            if value_type == F32:
                return ((at if at > 0 else -at) >> 23) + 1
            return mul // div if mul >= div else 1
    return 1


# Start-up plausibility (a 230 V 50/60 Hz supply, DESIGN section 8): a meter
# read with the wrong word order, the wrong map or another device's unit id
# gives values far outside these bands.
V_MIN_MV = const(100000)
V_MAX_MV = const(300000)
F_MIN_MHZ = const(45000)
F_MAX_MHZ = const(65000)


def plausible(values):
    """L1 voltage 100-300 V and frequency 45-65 Hz (values from decode_block)."""
    v = values[V1]
    f = values[FREQ]
    return (v is not None and V_MIN_MV <= v <= V_MAX_MV and f is not None
            and F_MIN_MHZ <= f <= F_MAX_MHZ)


def plan_blocks(quantities, max_registers, gap=MERGE_GAP_REGISTERS):
    """The blocks rule above, as code: ((address, count), ...) for quantities."""
    spans = sorted((q[1], q[1] + _TYPES[q[2]][0]) for q in quantities)
    blocks = []
    start, end = spans[0]
    for lo, hi in spans[1:]:
        if lo - end <= gap and max(hi, end) - start <= max_registers:
            if hi > end:
                end = hi
        else:
            blocks.append((start, end - start))
            start, end = lo, hi
    blocks.append((start, end - start))
    return tuple(blocks)
