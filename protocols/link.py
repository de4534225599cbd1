# Firmware <-> gateway link (DESIGN §4; protocols/LINK.md is the specification).
# Two layers, usable apart:
#  - message codec: payload bytes <-> message, driven by the MESSAGES table of
#    protocols.link_messages. The payload is what travels over MQTT as is.
#  - serial framing: 0x00 + COBS(payload + CRC-16/MODBUS little-endian) + 0x00, at most
#    FRAME_MAX bytes, decoded by FrameDecoder with a preallocated buffer.
# Encoders raise ValueError on bad arguments; decoders return result codes, never raise.
import struct

from protocols import link_messages as _lm
from protocols.crc16 import crc16

# ---- message codec -------------------------------------------------------------------
_RANGES = {
    "B": (0, 0xFF), "b": (-0x80, 0x7F), "H": (0, 0xFFFF), "h": (-0x8000, 0x7FFF),
    "I": (0, 0xFFFFFFFF), "i": (-0x80000000, 0x7FFFFFFF),
    "Q": (0, 0xFFFFFFFFFFFFFFFF), "q": (-0x8000000000000000, 0x7FFFFFFFFFFFFFFF),
}
_U8, _U32, _I32 = _RANGES["B"], _RANGES["I"], _RANGES["i"]
_INTS = (int, bool)  # MicroPython's bool is no int subclass; a literal tuple would allocate
_FIXED_BYTES = (bytes, bytearray)  # what struct's "32s" takes on CPython
_BYTES = (bytes, bytearray, memoryview)


def _check(msg, field, rng, v):
    # rng: (lo, hi) of an int code, or the length of a bytes code such as "32s" (sha256).
    # The ValueError names message and field; nothing is allocated unless it raises.
    if isinstance(rng, int):
        if not isinstance(v, _FIXED_BYTES) or len(v) != rng:
            raise ValueError("%s.%s must be %d bytes" % (msg, field, rng))
        return
    if not isinstance(v, _INTS):
        raise ValueError("%s.%s must be an int" % (msg, field))
    if v < rng[0] or v > rng[1]:
        raise ValueError("%s.%s=%d out of range %d..%d" % (msg, field, v, rng[0], rng[1]))


def _text(msg, field, v, bound):
    if not isinstance(v, str):
        raise ValueError("%s.%s must be a str" % (msg, field))
    b = v.encode()
    if len(b) > bound:
        raise ValueError("%s.%s is %d bytes, at most %d fit" % (msg, field, len(b), bound))
    return b


def _put(buf, pos, lim, data, msg):
    end = pos + len(data)
    if end > lim:
        raise ValueError("%s: over %d bytes or the buffer" % (msg, _lm.MAX_PAYLOAD))
    buf[pos:end] = data
    return end


# Variable parts (LINK.md §4): encoders take the tail's values from vals[i:],
# decoders store into out and return OK or an E_* code.
def _enc_str(buf, pos, lim, vals, i, tail, msg):
    return _put(buf, pos, lim, _text(msg, tail[1][0], vals[i], tail[2]), msg)


def _enc_bytes(buf, pos, lim, vals, i, tail, msg):
    v = vals[i]
    if not isinstance(v, _BYTES) or len(v) > tail[2]:
        raise ValueError("%s.%s must be bytes, at most %d" % (msg, tail[1][0], tail[2]))
    return _put(buf, pos, lim, v, msg)


def _enc_periods(buf, pos, lim, vals, i, tail, msg):
    periods = vals[i]
    if not isinstance(periods, (list, tuple)) or len(periods) > tail[2]:
        raise ValueError("%s.periods must be a list of at most %d" % (msg, tail[2]))
    prev = -1
    for p in periods:
        if len(p) != 2:
            raise ValueError("%s.periods: (start_offset_s, limit_ma) pairs" % msg)
        _check(msg, "periods.start_offset_s", _U32, p[0])
        _check(msg, "periods.limit_ma", _U32, p[1])
        if p[0] <= prev or (prev < 0 and p[0] != 0):  # OCPP: the first startPeriod is 0
            raise ValueError("%s.periods: offsets must start at 0 and increase" % msg)
        prev = p[0]
        if pos + _lm.PERIOD_LEN > lim:
            raise ValueError("%s: buffer too small" % msg)
        struct.pack_into("<II", buf, pos, p[0], p[1])
        pos += _lm.PERIOD_LEN
    return pos


def _enc_kv(buf, pos, lim, vals, i, tail, msg):
    key = _text(msg, "key", vals[i], _lm.KEY_MAX)
    if not key:
        raise ValueError("%s.key must not be empty" % msg)
    v = vals[i + 1]
    if v is None:
        kind, val = _lm.KV_NONE, b""
    elif isinstance(v, str):
        kind, val = _lm.KV_STR, _text(msg, "value", v, tail[2])
    else:
        _check(msg, "value", _I32, v)
        kind, val = _lm.KV_INT, struct.pack("<i", v)
    pos = _put(buf, pos, lim, bytes((kind, len(key))), msg)
    return _put(buf, _put(buf, pos, lim, key, msg), lim, val, msg)


def _dec_str(mv, pos, end, tail, out, k=0):
    if end - pos > tail[2]:
        return _lm.E_LENGTH
    try:
        out[tail[1][k]] = bytes(mv[pos:end]).decode()
    except ValueError:  # UnicodeError, on both interpreters
        return _lm.E_VALUE
    return _lm.OK


def _dec_bytes(mv, pos, end, tail, out):
    if end - pos > tail[2]:
        return _lm.E_LENGTH
    out[tail[1][0]] = bytes(mv[pos:end])
    return _lm.OK


def _dec_periods(mv, pos, end, tail, out):
    n = end - pos
    if n % _lm.PERIOD_LEN or n // _lm.PERIOD_LEN > tail[2]:
        return _lm.E_LENGTH
    periods = []
    prev = -1
    for p in range(pos, end, _lm.PERIOD_LEN):
        period = struct.unpack_from("<II", mv, p)
        if period[0] <= prev or (prev < 0 and period[0] != 0):
            return _lm.E_VALUE
        prev = period[0]
        periods.append(period)
    out["periods"] = periods
    return _lm.OK


_KEY_TAIL = (_lm.T_STR, ("key",), _lm.KEY_MAX)


def _dec_kv(mv, pos, end, tail, out):
    if end - pos < 2:
        return _lm.E_LENGTH
    kind, klen = mv[pos], mv[pos + 1]
    pos += 2
    if klen < 1 or klen > _lm.KEY_MAX or pos + klen > end:
        return _lm.E_VALUE
    if _dec_str(mv, pos, pos + klen, _KEY_TAIL, out):
        return _lm.E_VALUE
    pos += klen
    if kind == _lm.KV_STR:
        return _dec_str(mv, pos, end, tail, out, 1)
    if kind == _lm.KV_INT and end - pos == 4:
        out["value"] = struct.unpack_from("<i", mv, pos)[0]
    elif kind == _lm.KV_NONE and end == pos:
        out["value"] = None
    else:
        return _lm.E_LENGTH if kind <= _lm.KV_STR else _lm.E_VALUE
    return _lm.OK


_TAILS = {
    _lm.T_STR: (_enc_str, _dec_str),
    _lm.T_BYTES: (_enc_bytes, _dec_bytes),
    _lm.T_PERIODS: (_enc_periods, _dec_periods),
    _lm.T_KV: (_enc_kv, _dec_kv),
}


def _compile():
    # type -> (name, struct format, checks, fixed names, fixed size, tail, all names)
    table = {}
    for mtype, (name, spec, names, tail) in _lm.MESSAGES.items():
        codes = spec.split()
        fmt = "<" + "".join(codes)
        every = names + tail[1] if tail else names
        checks = tuple(_RANGES[c] if c in _RANGES else int(c[:-1]) for c in codes)
        table[mtype] = (name, fmt, checks, names, struct.calcsize(fmt), tail, every)
    return table


_TABLE = _compile()


def message_name(mtype):
    """'LIMIT' for LIMIT; None for an unknown type."""
    m = _TABLE.get(mtype)
    return m[0] if m else None


def field_names(mtype):
    """Every field of a message in pack_into order: the fixed ones, then the tail's."""
    m = _TABLE.get(mtype)
    if m is None:
        raise ValueError("unknown message type %r" % (mtype,))
    return m[6]


def pack_into(buf, mtype, tag, values, offset=0):
    """Write one payload (header + body) into buf at offset from values in field_names()
    order; returns its length. The firmware path: values can be a list reused each time."""
    m = _TABLE.get(mtype)
    if m is None:
        raise ValueError("unknown message type %r" % (mtype,))
    name, fmt, checks, names, size, tail, every = m
    if len(values) != len(every):
        raise ValueError("%s takes %d values %s" % (name, len(every), every))
    _check(name, "tag", _U8, tag)
    for i in range(len(checks)):
        _check(name, names[i], checks[i], values[i])
    lim = min(len(buf), offset + _lm.MAX_PAYLOAD)
    pos = offset + _lm.HEADER_LEN + size
    if pos > lim:
        raise ValueError("%s: buffer too small" % name)
    buf[offset] = _lm.PROTOCOL_MAJOR
    buf[offset + 1] = mtype
    buf[offset + 2] = tag
    if tail is None:
        struct.pack_into(fmt, buf, offset + _lm.HEADER_LEN, *values)
        return pos - offset
    if size:
        struct.pack_into(fmt, buf, offset + _lm.HEADER_LEN, *values[: len(checks)])
    return _TAILS[tail[0]][0](buf, pos, lim, values, len(checks), tail, name) - offset


def encode(mtype, fields=None, tag=0):
    """Payload bytes from a dict of every field (the gateway and MQTT path)."""
    m = _TABLE.get(mtype)
    if m is None:
        raise ValueError("unknown message type %r" % (mtype,))
    fields = fields or {}
    for k in fields:
        if k not in m[6]:
            raise ValueError("%s has no field %s" % (m[0], k))
    values = []
    for k in m[6]:
        if k not in fields:
            raise ValueError("%s: missing field %s" % (m[0], k))
        values.append(fields[k])
    buf = bytearray(_lm.MAX_PAYLOAD)
    return bytes(buf[: pack_into(buf, mtype, tag, values)])


def decode(payload):
    """payload (bytes, bytearray or memoryview: header + body) -> (status, type, tag, fields).
    OK: fields is a dict; E_VERSION: fields = {"major": theirs}; other E_* codes: None."""
    n = len(payload)
    if n < _lm.HEADER_LEN:
        return _lm.E_SHORT, 0, 0, None
    major, mtype, tag = payload[0], payload[1], payload[2]
    if major != _lm.PROTOCOL_MAJOR:
        return _lm.E_VERSION, mtype, tag, {"major": major}
    m = _TABLE.get(mtype)
    if m is None:
        return _lm.E_TYPE, mtype, tag, None
    name, fmt, checks, names, size, tail, every = m
    body = n - _lm.HEADER_LEN
    if body < size or (tail is None and body != size):
        return _lm.E_LENGTH, mtype, tag, None
    fields = {}
    if size:
        vals = struct.unpack_from(fmt, payload, _lm.HEADER_LEN)
        for i in range(len(names)):
            fields[names[i]] = vals[i]
    if tail is not None:
        status = _TAILS[tail[0]][1](memoryview(payload), _lm.HEADER_LEN + size, n, tail, fields)
        if status != _lm.OK:
            return status, mtype, tag, None
    return _lm.OK, mtype, tag, fields


def heartbeat_interval_ms(link_timeout_ms):
    """LINK.md §5.3: send something at least this often so that the peer's link_timeout_ms
    (DESIGN §3.2) never runs out on a healthy link: a third of it, within 100 ms..5 s."""
    if link_timeout_ms <= 0:
        return 5000
    return max(100, min(5000, link_timeout_ms // 3))


# ---- serial framing (LINK.md §2) ---------------------------------------------------------
def frame_into(out, payload, n=-1):
    """Write 0x00 + COBS(payload[:n] + CRC16 little-endian) + 0x00 into out and return the
    wire length, n + 5 <= 255. No allocation; out must hold n + 5 bytes."""
    if n < 0:
        n = len(payload)
    if n < 1 or n > _lm.MAX_PAYLOAD:
        raise ValueError("payload length %d not in 1..%d" % (n, _lm.MAX_PAYLOAD))
    if len(out) < n + 5:
        raise ValueError("frame buffer needs %d bytes" % (n + 5))
    crc = crc16(payload, 0, n)
    out[0] = 0
    code_at = 1  # where the current block's code byte goes
    w = 2
    for i in range(n + 2):
        b = payload[i] if i < n else (crc & 0xFF if i == n else crc >> 8)
        if b:
            out[w] = b
        else:  # a block ends; n + 2 <= 252 keeps every block below the 254-byte COBS maximum
            out[code_at] = w - code_at
            code_at = w
        w += 1
    out[code_at] = w - code_at
    out[w] = 0
    return w + 1


def frame(payload):
    """Wire bytes of one payload (allocates: the gateway path)."""
    out = bytearray(len(payload) + 5)
    return bytes(out[: frame_into(out, payload)])


def encode_frame(mtype, fields=None, tag=0):
    """frame(encode(mtype, fields, tag))."""
    return frame(encode(mtype, fields, tag))


class FrameDecoder:
    """Streaming decoder of the framing. Resynchronises at every 0x00; drops and counts
    frames with a COBS error, a bad CRC, under 3 bytes, or over MAX_PAYLOAD + 2 decoded
    bytes. Its one FRAME_MAX buffer is allocated here; feed() allocates nothing per byte.

        used = dec.feed(data, start, end)      # stops after the first good frame
        if dec.length: handle(dec.payload())   # valid until the next feed()
    """

    def __init__(self):
        self.buf = bytearray(_lm.FRAME_MAX)
        self._mv = memoryview(self.buf)
        self._cap = _lm.MAX_PAYLOAD + 2  # payload + CRC once COBS is undone
        self.frames = 0
        self.crc_errors = 0
        self.cobs_errors = 0
        self.oversize = 0
        self.short_frames = 0
        self.length = 0  # payload length of the frame just completed; 0 = none
        self.reset()

    def reset(self):
        """Forget a partial frame (e.g. after reopening the port); counters stay."""
        self._n = 0  # decoded bytes of the frame in progress
        self._left = 0  # data bytes left in the current COBS block; 0: a code byte is next
        self._zero = False  # the block before ended with an implied 0x00
        self._seen = False  # a byte arrived since the last delimiter
        self._drop = False  # over the bound: skip to the next delimiter

    def payload(self):
        """memoryview of the frame just completed: header + body, CRC stripped."""
        return self._mv[: self.length]

    def feed(self, data, start=0, end=-1):
        """Consume data[start:end] up to and including the delimiter that ends the next
        good frame; returns the number of bytes used. Bad bytes are counted, never raised."""
        if end < 0:
            end = len(data)
        self.length = 0
        buf, cap = self.buf, self._cap
        n, left, zero = self._n, self._left, self._zero
        seen, drop = self._seen, self._drop
        i = start
        while i < end:
            b = data[i]
            i += 1
            if b == 0:  # delimiter: end of a frame, or resynchronisation after garbage
                if seen and self._finish(n, left, drop):
                    self.reset()
                    return i - start
                n = left = 0
                zero = seen = drop = False
                continue
            seen = True
            if drop:
                continue
            if left:
                left -= 1
            else:  # a code byte: b - 1 data bytes follow, after the previous block's 0x00
                left = b - 1
                implied = zero
                zero = b != 0xFF
                if not implied:
                    continue
                b = 0
            if n < cap:
                buf[n] = b
                n += 1
            else:
                drop = True
        self._n, self._left, self._zero = n, left, zero
        self._seen, self._drop = seen, drop
        return end - start

    def _finish(self, n, left, drop):
        if drop:
            self.oversize += 1
        elif left:
            self.cobs_errors += 1
        elif n < 3:
            self.short_frames += 1
        elif crc16(self.buf, 0, n):
            self.crc_errors += 1
        else:
            self.frames += 1
            self.length = n - 2
            return True
        return False
