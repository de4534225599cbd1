# Event log (T7-LOG; DESIGN §4: events delivered at least once, retained in
# flash until the gateway acks them, nothing lost across reboots or link
# drops). A ring of fixed-size records in RAM, mirrored to one file.
#
# Record (little-endian, 26 bytes, "<IIBBiiii"): seq u32, time_s u32, flags
# u8, code u8, a b c d i32. seq numbers increase by one per event and continue
# across reboots (modulo 2**32: every comparison is modular). time_s is unix
# time when the wall clock is synced, else seconds of uptime with FLAG_UPTIME
# set in flags: the caller sets `log.wall_clock = 1` once the gateway synced
# the clock (AG-02) and passes the matching seconds. A separate flags byte
# keeps the full u32 range for unix time (past 2038).
#
# File "events.bin": header "<4sBBHIIHHI" = magic "EVLG", version, record
# size, capacity, next_seq, acked_seq, head slot, count, dropped; then
# capacity records; then CRC-16/MODBUS of everything before, low byte first.
# The board writes it atomically (temp + rename, DESIGN §3.1). A missing file
# is an empty log; an unreadable one (truncated, bad CRC, garbage, unknown
# version) is an empty log whose seq restarts at 1, and `problem` says why:
# the caller then logs EV_LOG_RESET so the gateway knows the numbers restart.
#
# Retention: the ring holds unacked records only; ack() frees them. When the
# ring is full, add() overwrites the OLDEST UNACKED record and counts it in
# `dropped` (sent upstream with the status): a long offline period must never
# block the charger, and the newest events matter most.
#
# Flash wear: with autoflush (the default) every add() and ack() rewrites the
# file (24 + 26 * capacity + 2 bytes, 1690 at 64). On littlefs with wear
# levelling over ~1 MB of 4 KB blocks at 100k erase cycles that is tens of
# millions of writes: decades at one event a minute. Each write also costs a
# CRC over the file and a flash write (milliseconds): a controller that logs
# in bursts sets autoflush = False, and calls flush() (writes only when
# `dirty`) at a rate it chooses, at the price of losing the unflushed events
# on a power cut.
import struct

from protocols.crc16 import crc16

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

FILE = "events.bin"
VERSION = const(1)
_MAGIC = b"EVLG"
_HDR_FMT = "<4sBBHIIHHI"
_HDR_SIZE = const(24)
_REC_FMT = "<IIBBiiii"
REC_SIZE = const(26)
_M32 = const(0xFFFFFFFF)
_HALF = const(0x80000000)
_I32_MAX = const(0x7FFFFFFF)
_I32_MIN = const(-0x80000000)

FLAG_UPTIME = const(1)  # time_s is seconds since boot, the wall clock was not synced

# Field positions in the list get() / oldest_unacked() fill (REC_FIELDS long).
SEQ = const(0)
TIME = const(1)
FLAGS = const(2)
CODE = const(3)
A = const(4)
B = const(5)
C = const(6)
D = const(7)
REC_FIELDS = const(8)

# Event codes are the link's (protocols/link_messages.py EV_* and EVENTS): one
# table for the firmware, the gateway and the tools that read events.bin.


def _u32(buf, off):
    return buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16) | (buf[off + 3] << 24)


def _i32(buf, off):
    v = _u32(buf, off)
    return v - 0x100000000 if v & _HALF else v


def _sat32(v):
    # Arguments saturate rather than raise: logging never stops the charger.
    if v > _I32_MAX:
        return _I32_MAX
    if v < _I32_MIN:
        return _I32_MIN
    return v


class EventLog:
    """EventLog(board, capacity=64, autoflush=True): loads events.bin at
    construction; `problem` is None or why the stored log was discarded."""

    def __init__(self, board, capacity=64, autoflush=True):
        if not 1 <= capacity <= 0xFFFF:
            raise ValueError("capacity %d not 1..65535" % capacity)
        self._board = board
        self.capacity = capacity
        self.autoflush = autoflush
        self.wall_clock = 0
        self._size = _HDR_SIZE + capacity * REC_SIZE + 2
        self._buf = bytearray(self._size)
        self._clear()
        self.problem = self.load()

    def _clear(self):
        self.next_seq = 1
        self.acked_seq = 0
        self.head = 0
        self.count = 0
        self.dropped = 0
        self.dirty = False
        self.stored_next_seq = 1  # records below this seq are in flash: they may be sent

    def load(self):
        """Read events.bin into the ring; -> None, or a problem string after
        which the log is empty and seq restarts at 1."""
        self._clear()
        data = self._board.storage_read(FILE)
        if data is None:
            return None
        problem = self._parse(data)
        if problem is not None:
            self._clear()
            self.dirty = True  # the next flush replaces the unreadable file
            return "%s: %s, log emptied, seq restarts at 1" % (FILE, problem)
        return None

    def _parse(self, data):
        n = len(data)
        if n < _HDR_SIZE + 2:
            return "truncated (%d bytes)" % n
        magic, version, rec_size, cap, next_seq, acked, head, count, dropped = \
            struct.unpack_from(_HDR_FMT, data, 0)
        if magic != _MAGIC:
            return "bad magic"
        if version != VERSION or rec_size != REC_SIZE:
            return "unknown version %d" % version
        if n != _HDR_SIZE + cap * REC_SIZE + 2:
            return "truncated (%d bytes)" % n
        if crc16(data, 0, n - 2) != data[n - 2] | (data[n - 1] << 8):
            return "bad CRC"
        first = (next_seq - count) & _M32
        if cap == 0 or head >= cap or count > cap or (first - 1 - acked) & _M32 >= _HALF:
            return "inconsistent header"  # acked_seq must be older than every record kept
        for i in range(count):
            if _u32(data, _HDR_SIZE + ((head + i) % cap) * REC_SIZE) != (first + i) & _M32:
                return "record sequence broken"
        # Copy the records in order from slot 0; a smaller capacity (after a
        # firmware update) keeps the newest and counts the rest as dropped.
        skip = count - self.capacity if count > self.capacity else 0
        buf = self._buf
        for i in range(skip, count):
            src = _HDR_SIZE + ((head + i) % cap) * REC_SIZE
            dst = _HDR_SIZE + (i - skip) * REC_SIZE
            buf[dst:dst + REC_SIZE] = data[src:src + REC_SIZE]
        self.next_seq = next_seq
        self.stored_next_seq = next_seq
        self.acked_seq = acked
        self.head = 0
        self.count = count - skip
        self.dropped = (dropped + skip) & _M32
        self.dirty = cap != self.capacity
        return None

    def add(self, time_s, code, a=0, b=0, c=0, d=0):
        """Append an event; -> its seq. A full ring overwrites the oldest
        unacked record and counts it in `dropped`."""
        if not 0 <= code <= 255:
            raise ValueError("event code %d not 0..255" % code)
        cap = self.capacity
        slot = (self.head + self.count) % cap
        if self.count == cap:  # full: slot == head, the oldest unacked is lost
            self.head = (self.head + 1) % cap
            self.dropped = (self.dropped + 1) & _M32
        else:
            self.count += 1
        seq = self.next_seq
        self.next_seq = (seq + 1) & _M32
        struct.pack_into(_REC_FMT, self._buf, _HDR_SIZE + slot * REC_SIZE, seq,
                         time_s & _M32, 0 if self.wall_clock else FLAG_UPTIME, code,
                         _sat32(a), _sat32(b), _sat32(c), _sat32(d))
        self.dirty = True
        if self.autoflush:
            self.flush()
        return seq

    def pending_count(self):
        """Events retained and not yet acked."""
        return self.count

    def get(self, seq, out):
        """Fill out[0:REC_FIELDS] with the unacked record seq; -> 1, or 0 if
        it is not retained (acked, dropped or not yet written)."""
        i = (seq - (self.next_seq - self.count)) & _M32
        if i >= self.count:
            return 0
        buf = self._buf
        off = _HDR_SIZE + ((self.head + i) % self.capacity) * REC_SIZE
        out[SEQ] = _u32(buf, off)
        out[TIME] = _u32(buf, off + 4)
        out[FLAGS] = buf[off + 8]
        out[CODE] = buf[off + 9]
        out[A] = _i32(buf, off + 10)
        out[B] = _i32(buf, off + 14)
        out[C] = _i32(buf, off + 18)
        out[D] = _i32(buf, off + 22)
        return 1

    def oldest_unacked(self, out):
        """Fill out with the oldest unacked record; -> 1, or 0 if none."""
        return self.get(self.next_seq - self.count, out)

    def ack(self, upto_seq):
        """The gateway holds every event up to upto_seq: free them. -> how
        many were newly acked (0 when already acked: idempotent), or -1 when
        refused (upto_seq not yet assigned, or not a u32)."""
        if type(upto_seq) is not int or not 0 <= upto_seq <= _M32:
            return -1
        last = (self.next_seq - 1) & _M32
        if (last - upto_seq) & _M32 >= _HALF:
            return -1
        n = 0
        d = (upto_seq - (self.next_seq - self.count)) & _M32
        if d < _HALF:
            n = d + 1 if d < self.count else self.count
            self.head = (self.head + n) % self.capacity
            self.count -= n
        if 0 < (upto_seq - self.acked_seq) & _M32 < _HALF:  # upto_seq is newer
            self.acked_seq = upto_seq
            self.dirty = True
        if self.dirty and self.autoflush:
            self.flush()
        return n

    def flush(self):
        """Write events.bin if dirty; -> 1 written, 0 nothing to write, -1 the
        board failed to write (still dirty, retried by the next flush)."""
        if not self.dirty:
            return 0
        buf = self._buf
        struct.pack_into(_HDR_FMT, buf, 0, _MAGIC, VERSION, REC_SIZE, self.capacity,
                         self.next_seq, self.acked_seq, self.head, self.count, self.dropped)
        end = self._size - 2
        crc = crc16(buf, 0, end)
        buf[end] = crc & 0xFF
        buf[end + 1] = crc >> 8
        try:
            self._board.storage_write(FILE, bytes(buf))
        except OSError:
            return -1
        self.dirty = False
        self.stored_next_seq = self.next_seq
        return 1
