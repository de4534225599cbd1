# Modbus RTU master codec: read requests, a streaming response decoder and
# register decoding in integers. Sans-IO, MicroPython subset (DESIGN §8).
"""Modbus RTU master side, function 3 (read holding) and 4 (read input).

build_read_request(buf, unit, function, address, count) writes the 8-byte
request into the caller's buffer. ResponseDecoder frames the answer the way
real masters do without relying on timing: it knows what it asked for (unit,
function, register count), so it knows the length of the answer. The caller
feeds bytes as they arrive and calls decode(); once t3.5 of silence (or the
response timeout) has passed it calls decode(end=True) for the final verdict.

decode() is a pure function of the expectation and the bytes fed since
expect(): it scans for a plausible header (unit + function, unit +
function|0x80, ...) whose CRC checks and so skips garbage before a frame.
The buffer is one preallocated 256-byte bytearray (the RTU frame limit);
nothing is allocated per byte and no bytes can make it raise.

Result codes (module constants, returned by ResponseDecoder.decode):

| code | name           | meaning                                                            |
| ---- | -------------- | ------------------------------------------------------------------ |
| 0    | OK             | the expected response; registers from buf[data_offset], 2 bytes    |
|      |                | each, high byte first                                              |
| 1    | NEED_MORE      | no verdict yet: feed more bytes, or decode(end=True) after silence |
| 2    | EXCEPTION      | function|0x80 from our unit; exception_code: 1 illegal function,   |
|      |                | 2 illegal address, 3 illegal value, 4 device failure, 6 busy       |
|      |                | (any other code is reported as is)                                 |
| 3    | BAD_CRC        | at the silence: a frame of the expected length, or bytes with no   |
|      |                | header of ours, whose CRC does not check                           |
| 4    | WRONG_UNIT     | a CRC-valid response to our function from another unit id          |
| 5    | WRONG_FUNCTION | a CRC-valid response from our unit to another function (or its     |
|      |                | exception)                                                         |
| 6    | SHORT_FRAME    | at the silence: our frame stopped before the expected length       |
| 7    | OVERLONG       | bytes ran on past the end of our frame, or 256 bytes held no frame |
| 8    | WRONG_LENGTH   | CRC-valid response whose byte count is not 2 x registers asked for |
| 9    | NO_RESPONSE    | at the silence / response timeout: no byte at all                  |

After OK, EXCEPTION, WRONG_* and an OVERLONG that follows a CRC-valid frame,
frame_start, frame_len, data_offset and used (bytes up to the end of that
frame, garbage before it included) describe the frame found.

Integer register helpers read straight from the buffer by index: u16, s16,
u32 / s32 / u64 in both word orders, and f32_scaled, which turns an IEEE-754
float32 into round(value * scale / div) from its sign, exponent and mantissa
bits with integers only (the ESP32 and RP2040 ports have single-precision
floats, which cannot hold 12345.67 kWh in Wh). NaN and infinity give None.
Results are rounded half to even, exactly like Python's round().
"""

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from protocols.crc16 import crc16

FUNC_READ_HOLDING = const(3)
FUNC_READ_INPUT = const(4)

# Word order of 32/64-bit values: bytes are always high first within a word.
HIGH_WORD_FIRST = const(0)
LOW_WORD_FIRST = const(1)

MAX_FRAME = const(256)  # RTU ADU limit: address + 253-byte PDU + CRC
MAX_REGISTERS = const(125)  # Modbus application protocol 6.3 / 6.4: 1..125 registers
REQUEST_LENGTH = const(8)
EXCEPTION_LENGTH = const(5)

# Modbus application protocol 7: exception codes
EXC_ILLEGAL_FUNCTION = const(1)
EXC_ILLEGAL_ADDRESS = const(2)
EXC_ILLEGAL_VALUE = const(3)
EXC_DEVICE_FAILURE = const(4)
EXC_BUSY = const(6)

OK = const(0)
NEED_MORE = const(1)
EXCEPTION = const(2)
BAD_CRC = const(3)
WRONG_UNIT = const(4)
WRONG_FUNCTION = const(5)
SHORT_FRAME = const(6)
OVERLONG = const(7)
WRONG_LENGTH = const(8)
NO_RESPONSE = const(9)

RESULT_NAMES = (
    "OK",
    "NEED_MORE",
    "EXCEPTION",
    "BAD_CRC",
    "WRONG_UNIT",
    "WRONG_FUNCTION",
    "SHORT_FRAME",
    "OVERLONG",
    "WRONG_LENGTH",
    "NO_RESPONSE",
)

_MIN_FRAME = const(4)  # address + function + CRC
_MAX_UNIT = const(247)  # 248..255 reserved, 0 is broadcast (never answers)
_FIXED_T35_US = const(1750)  # Modbus over serial line 2.5.1.1: above 19200 baud
_READ_FUNCTIONS = (1, 2, 3, 4)  # answer: unit, function, byte count, data, CRC
_WRITE_FUNCTIONS = (5, 6, 15, 16)  # answer: 8-byte echo
_PARITY_BITS = {"N": 0, "E": 1, "O": 1}


def _check_int(name, value, lo, hi):
    if not isinstance(value, int) or value < lo or value > hi:
        raise ValueError("%s must be an int in %d..%d, got %r" % (name, lo, hi, value))


def _check_read(unit, function, count):
    _check_int("unit", unit, 1, _MAX_UNIT)
    if function != FUNC_READ_HOLDING and function != FUNC_READ_INPUT:
        raise ValueError("function must be 3 or 4, got %r" % (function,))
    _check_int("count", count, 1, MAX_REGISTERS)


def build_read_request(buf, unit, function, address, count):
    """Write a function 3/4 request into buf[0:8]; return its length (8)."""
    _check_read(unit, function, count)
    _check_int("address", address, 0, 0xFFFF)
    if address + count > 0x10000:
        raise ValueError("address + count runs past register 0xFFFF")
    if len(buf) < REQUEST_LENGTH:
        raise ValueError("buffer must hold 8 bytes")
    buf[0] = unit
    buf[1] = function
    buf[2] = address >> 8
    buf[3] = address & 0xFF
    buf[4] = count >> 8
    buf[5] = count & 0xFF
    crc = crc16(buf, 0, 6)
    buf[6] = crc & 0xFF  # CRC low byte first
    buf[7] = crc >> 8
    return REQUEST_LENGTH


def response_length(count):
    """Bytes in a normal function 3/4 response for count registers."""
    _check_int("count", count, 1, MAX_REGISTERS)
    return 5 + 2 * count


# ---- line timing (Modbus over serial line 2.5.1 and 2.5.1.1) ----


def char_bits(parity, stop_bits=1):
    """Bits per character: start + 8 data + parity + stop (11 with parity or 2 stop
    bits, 10 with no parity and 1 stop bit)."""
    if parity not in _PARITY_BITS:
        raise ValueError("parity must be 'N', 'E' or 'O', got %r" % (parity,))
    _check_int("stop_bits", stop_bits, 1, 2)
    return 9 + _PARITY_BITS[parity] + stop_bits


def frame_time_us(nbytes, baud, parity, stop_bits=1):
    """Line time of nbytes characters in microseconds, rounded up."""
    _check_int("baud", baud, 50, 4000000)
    _check_int("nbytes", nbytes, 0, 0x10000)
    bits = nbytes * char_bits(parity, stop_bits)
    return (bits * 1000000 + baud - 1) // baud


def char_time_us(baud, parity, stop_bits=1):
    return frame_time_us(1, baud, parity, stop_bits)


def t35_us(baud, parity, stop_bits=1):
    """Inter-frame silence t3.5: 3.5 character times, fixed 1750 us above 19200 baud."""
    bits = char_bits(parity, stop_bits)
    _check_int("baud", baud, 50, 4000000)
    if baud > 19200:
        return _FIXED_T35_US
    return (7 * bits * 1000000 + 2 * baud - 1) // (2 * baud)


def poll_line_time_us(count, baud, parity, stop_bits=1):
    """Line time of one read of count registers: request, t3.5, response, t3.5."""
    nbytes = REQUEST_LENGTH + response_length(count)
    return frame_time_us(nbytes, baud, parity, stop_bits) + 2 * t35_us(baud, parity, stop_bits)


# ---- the response decoder ----


class ResponseDecoder:
    """Streaming, resynchronising decoder for the answer to one read request."""

    def __init__(self):
        self.buf = bytearray(MAX_FRAME)
        self.fill = 0
        self.unit = 0  # 0 = nothing expected yet: no frame can match
        self.function = 0
        self.count = 0
        self.exception_code = 0
        self.frame_start = 0
        self.frame_len = 0
        self.data_offset = 0
        self.used = 0

    def expect(self, unit, function, count):
        """Arm for the answer to a request just sent; forgets buffered bytes."""
        _check_read(unit, function, count)
        self.unit = unit
        self.function = function
        self.count = count
        self.reset()

    def reset(self):
        self.fill = 0
        self.exception_code = 0
        self.frame_start = 0
        self.frame_len = 0
        self.data_offset = 0
        self.used = 0

    def feed(self, data, start=0, end=-1):
        """Append data[start:end] (end -1 = len(data)); return the bytes taken,
        fewer than offered once the 256-byte buffer is full."""
        if end < 0:
            end = len(data)
        buf = self.buf
        fill = self.fill
        n = end - start
        if n > MAX_FRAME - fill:
            n = MAX_FRAME - fill
        for k in range(n):
            buf[fill + k] = data[start + k]
        self.fill = fill + n
        return n

    def _claimed_length(self, i):
        """Length the header at i claims: 0 = not a plausible header,
        -1 = the byte count has not arrived yet."""
        buf = self.buf
        u = buf[i]
        if u < 1 or u > _MAX_UNIT:
            return 0
        f = buf[i + 1]
        mine = u == self.unit
        if f == self.function or (mine and f in _READ_FUNCTIONS):
            if i + 2 >= self.fill:
                return -1
            return 5 + buf[i + 2]
        if f == (self.function | 0x80) or (mine and f & 0x80 and (f & 0x7F) > 0):
            return EXCEPTION_LENGTH
        if mine and f in _WRITE_FUNCTIONS:
            return 8
        return 0

    def _classify(self, i, n):
        buf = self.buf
        self.frame_start = i
        self.frame_len = n
        self.data_offset = i + 3
        self.used = i + n
        f = buf[i + 1]
        if buf[i] != self.unit:
            return WRONG_UNIT
        if self.fill > i + n:
            return OVERLONG
        if f == self.function:
            if buf[i + 2] != 2 * self.count:
                return WRONG_LENGTH
            return OK
        if f == (self.function | 0x80):
            self.exception_code = buf[i + 2]
            return EXCEPTION
        return WRONG_FUNCTION

    def decode(self, end=False):
        """Result code for the bytes fed so far; end=True once t3.5 of silence
        or the response timeout has passed (final verdict, never NEED_MORE)."""
        buf = self.buf
        fill = self.fill
        ours = -1  # first plausible header of our unit and function (or exception)
        i = 0
        while i + 1 < fill:
            n = self._claimed_length(i)
            if n != 0 and n <= MAX_FRAME:
                if ours < 0 and buf[i] == self.unit:
                    f = buf[i + 1]
                    if f == self.function or f == (self.function | 0x80):
                        ours = i
                # a frame's CRC over itself including the CRC is 0
                if n > 0 and i + n <= fill and crc16(buf, i, i + n) == 0:
                    return self._classify(i, n)
            i += 1
        if fill >= MAX_FRAME:
            return OVERLONG
        if not end:
            return NEED_MORE
        if fill == 0:
            return NO_RESPONSE
        if ours < 0:
            if fill < _MIN_FRAME:
                return SHORT_FRAME
            return BAD_CRC
        if buf[ours + 1] == self.function:
            want = 5 + 2 * self.count
        else:
            want = EXCEPTION_LENGTH
        have = fill - ours
        if have < want:
            return SHORT_FRAME
        if have > want:
            return OVERLONG
        return BAD_CRC


# ---- register values, read by index from a buffer ----


def u16(buf, off):
    return (buf[off] << 8) | buf[off + 1]


def s16(buf, off):
    v = (buf[off] << 8) | buf[off + 1]
    return v - 0x10000 if v & 0x8000 else v


def u32(buf, off, word_order=HIGH_WORD_FIRST):
    if word_order == HIGH_WORD_FIRST:
        return (u16(buf, off) << 16) | u16(buf, off + 2)
    if word_order == LOW_WORD_FIRST:
        return (u16(buf, off + 2) << 16) | u16(buf, off)
    raise ValueError("word_order must be HIGH_WORD_FIRST or LOW_WORD_FIRST")


def s32(buf, off, word_order=HIGH_WORD_FIRST):
    v = u32(buf, off, word_order)
    return v - 0x100000000 if v & 0x80000000 else v


def u64(buf, off, word_order=HIGH_WORD_FIRST):
    if word_order == HIGH_WORD_FIRST:
        return (u32(buf, off) << 32) | u32(buf, off + 4)
    if word_order == LOW_WORD_FIRST:
        return (u32(buf, off + 4, LOW_WORD_FIRST) << 32) | u32(buf, off, LOW_WORD_FIRST)
    raise ValueError("word_order must be HIGH_WORD_FIRST or LOW_WORD_FIRST")


def div_round(num, den):
    """num / den rounded to the nearest integer, ties to even (Python's round())."""
    if den < 0:
        num = -num
        den = -den
    neg = num < 0
    if neg:
        num = -num
    q = num // den
    r2 = 2 * (num - q * den)
    if r2 > den or (r2 == den and q & 1):
        q += 1
    return -q if neg else q


def f32_scaled(buf, off, word_order, scale, div=1):
    """round(float32 * scale / div) of the value at buf[off], integers only;
    None for NaN and infinity (IEEE 754 binary32: 1 sign, 8 exponent, 23 bits).
    Sign, exponent and mantissa are read from the bytes; for meter values
    (div 1, a 2**-1..2**-29 exponent) the product is split at the binary
    point so that every step stays a small int: a poll allocates little on
    32-bit MicroPython."""
    if word_order == HIGH_WORD_FIRST:
        hi = off
        lo = off + 2
    elif word_order == LOW_WORD_FIRST:
        hi = off + 2
        lo = off
    else:
        raise ValueError("word_order must be HIGH_WORD_FIRST or LOW_WORD_FIRST")
    b0 = buf[hi]
    b1 = buf[hi + 1]
    exponent = ((b0 & 0x7F) << 1) | (b1 >> 7)
    if exponent == 0xFF:
        return None
    mantissa = ((b1 & 0x7F) << 16) | (buf[lo] << 8) | buf[lo + 1]
    if exponent:
        mantissa |= 0x800000  # the implicit leading 1 of a normal number
        shift = exponent - 150  # value = mantissa * 2**(exponent - 127 - 23)
    else:
        shift = -149  # subnormal: mantissa * 2**-149
    if div == 1 and -30 < shift < 0:
        s = -shift  # mantissa * scale / 2**s = whole * scale + frac * scale / 2**s
        mask = (1 << s) - 1
        t = (mantissa & mask) * scale
        q = (mantissa >> s) * scale + (t >> s)
        r = t & mask
        half = 1 << (s - 1)
        if r > half or (r == half and q & 1):
            q += 1
    else:
        num = mantissa * scale
        den = div
        if shift >= 0:
            num <<= shift
        else:
            den <<= -shift
        q = div_round(num, den)
    return -q if b0 & 0x80 else q
