# Emulated MID meters as Modbus RTU slaves (AG-03, UK-9): every model of
# protocols/meters.py, its function code, word order and scaling taken from
# the same map the firmware reads with, so the two can only disagree where a
# test makes them (fault injection). Sans-IO core, MicroPython subset (the
# portable tests run it on the MicroPython VM): respond(request) -> answer
# bytes or None (silent). Serving it on a pseudo-terminal (PtyMeter) is
# CPython only: its imports happen when it starts.
#
# Values come from the sim board's power side (sim_board.SimBoard): per-phase
# current board.ev_current_ma flows only while board.contacts_closed(); the
# voltage is board.mains_mv, the frequency board.mains_mhz. Power per phase is
# V x I; import / export energy integrate the total power over the board's
# virtual time (at each request, with the power found at the previous one).
# A meter whose quantity is not in its map has it at 0 (e.g. L2/L3 of the
# single-phase Eastrons read as 0 inside a block, as the real ones do).
#
# Fault injection: inject("silence" | "crc" | "exception", count=-1, code=4)
# for the next count requests (-1: until clear()); freeze() / unfreeze()
# (the answers keep the values of that instant); reset_register() (import and
# export back to 0); unit_id (a meter set to another address stays silent, as
# a real RS-485 slave does); swap_words (the other word order than the map's);
# a baud rate or parity different from the board's meter_configure() gives
# garbage, as a real UART would.
from protocols import meters
from protocols import modbus_rtu as rtu
from protocols.crc16 import crc16

_UJ_PER_WH = 3600000000  # energy is kept in mW x ms (uJ): exact integers


def f32_bits(num, den=1):
    """IEEE 754 binary32 bits of num / den, rounded to nearest, ties to even,
    with integers only (the inverse of modbus_rtu.f32_scaled)."""
    if num == 0:
        return 0
    sign = 0
    if (num < 0) != (den < 0):
        sign = 0x80000000
    num = abs(num)
    den = abs(den)
    # scale so that 2**23 <= num * 2**-e / den < 2**24; value = q * 2**e
    e = _bitlen(num) - _bitlen(den) - 24
    while True:
        n, d = (num, den << e) if e >= 0 else (num << -e, den)
        q = n // d
        if q >= 1 << 24:
            e += 1
        elif q < 1 << 23:
            e -= 1
        else:
            break
    r2 = 2 * (n - q * d)
    if r2 > d or (r2 == d and q & 1):
        q += 1
    if q == 1 << 24:
        q >>= 1
        e += 1
    biased = e + 150
    if biased >= 255:
        return sign | 0x7F800000  # infinity
    if biased <= 0:
        return sign  # below the normal range: no meter value is that small
    return sign | (biased << 23) | (q & 0x7FFFFF)


def _bitlen(x):
    n = 0
    while x:
        x >>= 1
        n += 1
    return n


class MeterEmulator:
    """MeterEmulator(model, unit_id=1, board=None, import_wh=0, export_wh=0):
    a meter of protocols/meters.METERS[model]. Without a board it has its own
    power side: attributes mains_mv, mains_mhz, current_ma and now_ms."""

    def __init__(self, model, unit_id=1, board=None, import_wh=0, export_wh=0):
        self.map = meters.get(model)
        self.model = model
        self.unit_id = unit_id
        self.board = board
        self.baud = self.map["baud"]  # the meter's own serial format
        self.parity = self.map["parity"]
        self.mains_mv = [230000, 230000, 230000]
        self.mains_mhz = 50000
        self.current_ma = [0, 0, 0]
        self.now_ms = 0
        self.import_uj = import_wh * _UJ_PER_WH
        self.export_uj = export_wh * _UJ_PER_WH
        self._last_ms = self._now()
        self._p_mw = 0  # total power at the last update
        self.swap_words = False
        self.frozen = None  # the values answered while frozen
        self.fault = None
        self.fault_count = 0
        self.exception_code = rtu.EXC_DEVICE_FAILURE
        self.requests = 0  # frames addressed to this meter
        self.answers = 0
        self.ignored = 0  # frames not for us or with a bad CRC
        lo = 0xFFFF
        hi = 0
        for q in self.map["quantities"]:
            lo = min(lo, q[1])
            hi = max(hi, q[1] + meters.registers(q[2]))
        self.first_register = lo  # served: first_register .. end_register - 1
        self.end_register = hi

    # --- the world -------------------------------------------------------------

    def _now(self):
        return self.board.now_ms if self.board is not None else self.now_ms

    def _side(self):
        b = self.board
        if b is None:
            return self.mains_mv, self.current_ma, self.mains_mhz
        if b.contacts_closed():
            return b.mains_mv, b.ev_current_ma, b.mains_mhz
        return b.mains_mv, (0, 0, 0), b.mains_mhz

    def update(self):
        """Integrate the energy up to now; -> the values (meters quantity order)."""
        now = self._now()
        dt = now - self._last_ms
        if dt > 0:
            if self._p_mw >= 0:
                self.import_uj += self._p_mw * dt
            else:
                self.export_uj -= self._p_mw * dt
            self._last_ms = now
        mv, ma, mhz = self._side()
        phases = self.map["phases"]
        v = meters.new_values()
        total_mw = 0
        for k in range(3):
            if k < phases:
                p_mw = mv[k] * ma[k] // 1000
                v[meters.V1 + k] = mv[k]
                v[meters.I1 + k] = ma[k]
                v[meters.P1 + k] = p_mw
                total_mw += p_mw
            else:
                v[meters.V1 + k] = v[meters.I1 + k] = v[meters.P1 + k] = 0
        self._p_mw = total_mw
        v[meters.P_TOTAL] = total_mw  # powers in mW here, W in the registers
        v[meters.FREQ] = mhz
        v[meters.E_IMPORT] = self.import_uj  # uJ here, Wh in the registers
        v[meters.E_EXPORT] = self.export_uj
        return v

    def supply_lost(self):
        """Mains gone (a power cut): energy counted up to now, and nothing more
        until the next request finds the power again."""
        self.update()
        self._p_mw = 0

    def energy_wh(self):
        """(import, export) in whole Wh as the registers' resolution allows at best."""
        self.update()
        return self.import_uj // _UJ_PER_WH, self.export_uj // _UJ_PER_WH

    # --- fault injection ----------------------------------------------------------

    def inject(self, kind, count=-1, code=rtu.EXC_DEVICE_FAILURE):
        if kind not in ("silence", "crc", "exception"):
            raise ValueError("fault kind: silence, crc or exception")
        self.fault = kind
        self.fault_count = count
        self.exception_code = code

    def clear(self):
        self.fault = None
        self.frozen = None
        self.swap_words = False

    def freeze(self):
        self.frozen = self.update()

    def unfreeze(self):
        self.frozen = None

    def reset_register(self):
        self.update()
        self.import_uj = 0
        self.export_uj = 0

    # --- Modbus RTU slave ------------------------------------------------------------

    def respond(self, request):
        """The answer to one request frame, or None: silent for a bad CRC, another
        unit id, a broadcast, and while "silence" is injected (Modbus over serial
        line 2.4.1: a slave answers only unicast requests it received intact)."""
        n = len(request)
        if n < 4 or crc16(request, 0, n) != 0 or request[0] != self.unit_id:
            self.ignored += 1
            return None
        self.requests += 1
        values = self.update()
        fault = self.fault
        if fault is not None:
            if self.fault_count > 0:
                self.fault_count -= 1
                if self.fault_count == 0:
                    self.fault = None
            if fault == "silence":
                return None
        b = self.board
        if b is not None and (getattr(b, "meter_baud", self.baud) != self.baud
                              or getattr(b, "meter_parity", self.parity) != self.parity):
            return self._garbage(request)
        if fault == "exception":
            out = self._exception(request[1], self.exception_code)
        else:
            out = self._answer(request, self.frozen or values)
        if fault == "crc":
            out[-1] ^= 0x5A
        self.answers += 1
        return bytes(out)

    def _exception(self, function, code):
        out = bytearray((self.unit_id, function | 0x80, code, 0, 0))
        crc = crc16(out, 0, 3)
        out[3] = crc & 0xFF
        out[4] = crc >> 8
        return out

    def _answer(self, req, values):
        function = req[1]
        m = self.map
        if len(req) != rtu.REQUEST_LENGTH or function not in self._functions():
            return self._exception(function, rtu.EXC_ILLEGAL_FUNCTION)
        address = (req[2] << 8) | req[3]
        count = (req[4] << 8) | req[5]
        if not 1 <= count <= m["max_registers"]:
            return self._exception(function, rtu.EXC_ILLEGAL_VALUE)
        if address < self.first_register or address + count > self.end_register:
            return self._exception(function, rtu.EXC_ILLEGAL_ADDRESS)
        out = bytearray(5 + 2 * count)
        out[0] = self.unit_id
        out[1] = function
        out[2] = 2 * count
        order = m["word_order"]
        if self.swap_words:
            order = rtu.LOW_WORD_FIRST - order
        for q, qa, value_type, mul, div in m["quantities"]:
            width = meters.registers(value_type)
            if qa >= address and qa + width <= address + count:
                self._put(out, 3 + 2 * (qa - address), q, values[q], value_type, mul, div, order)
        crc = crc16(out, 0, len(out) - 2)
        out[-2] = crc & 0xFF
        out[-1] = crc >> 8
        return out

    def _functions(self):
        if self.map["name"] == "EM340":
            return (rtu.FUNC_READ_HOLDING, rtu.FUNC_READ_INPUT)  # both read the same values
        return (self.map["function"],)

    def _put(self, out, off, quantity, x, value_type, mul, div, order):
        # x in project units (powers in mW, energies in uJ); raw = x * div / mul
        if quantity == meters.E_IMPORT or quantity == meters.E_EXPORT:
            num, den = x * div, _UJ_PER_WH * mul  # counters show completed units
        elif quantity >= meters.P1 and quantity <= meters.P_TOTAL:
            num, den = x * div, 1000 * mul
        else:
            num, den = x * div, mul
        width = meters.registers(value_type)
        if value_type == meters.F32:
            raw = f32_bits(num, den)
        elif quantity == meters.E_IMPORT or quantity == meters.E_EXPORT:
            raw = num // den
        else:
            raw = rtu.div_round(num, den)
        if raw < 0:
            raw += 1 << (16 * width)
        words = [(raw >> (16 * (width - 1 - k))) & 0xFFFF for k in range(width)]  # high first
        if order == rtu.LOW_WORD_FIRST:
            words.reverse()
        for k in range(width):
            out[off + 2 * k] = words[k] >> 8
            out[off + 2 * k + 1] = words[k] & 0xFF

    def _garbage(self, request):
        # a UART at the wrong rate or parity: framing errors, nothing of ours
        x = (len(request) * 0x9E37 + request[-1]) & 0xFFFF
        out = bytearray(7)
        for i in range(7):
            x = (x * 75 + 74) % 65537
            out[i] = x & 0xFF
        return bytes(out)

    def served(self):
        """The values (protocols.meters quantity order, project units) a correct
        master reads from this meter now: its own answers, decoded with the map."""
        m = self.map
        out = meters.new_values()
        dec = rtu.ResponseDecoder()
        req = bytearray(rtu.REQUEST_LENGTH)
        values = self.frozen or self.update()
        for i in range(len(m["blocks"])):
            meters.block_request(m, i, self.unit_id, req)
            dec.expect(self.unit_id, m["function"], m["blocks"][i][1])
            dec.feed(self._answer(req, values))
            if dec.decode() == rtu.OK:
                meters.decode_block(m, i, dec.buf, dec.data_offset, out)
        return out


def bus(*devices):
    """Several slaves on one RS-485 bus: a request reaches each, the one whose
    unit id it names answers (a respond function for SimBoard.meter_device)."""

    def respond(request):
        answer = None
        for d in devices:
            a = d.respond(request)
            if a is not None:
                answer = a if answer is None else answer + a  # two slaves, one id: collision
        return answer

    return respond


class TimedLine:
    """Line time in virtual time (DESIGN section 9: where timing matters) between
    a SimBoard and a slave: the request occupies the line for its line time at
    the board's meter_baud / parity, the slave starts its answer turnaround_us
    after it (default t3.5, the least Modbus allows) and the answer's bytes
    arrive one character time apart. Installs itself as board.meter_device and
    wraps board.meter_read. frames: (request start us, answer end us or -1)."""

    def __init__(self, board, respond, turnaround_us=-1):
        self.board = board
        self.respond = respond
        self.turnaround_us = turnaround_us
        self.pending = b""
        self.first_us = 0  # the line time of pending[0] starts here
        self.frames = []
        board.meter_device = self._device
        self._read = board.meter_read
        board.meter_read = self.read

    def _format(self):
        return self.board.meter_baud, self.board.meter_parity

    def _device(self, frame):
        baud, parity = self._format()
        start_us = self.board.now_ms * 1000
        end_us = start_us + rtu.frame_time_us(len(frame), baud, parity)
        answer = self.respond(frame)
        if answer:
            gap = self.turnaround_us if self.turnaround_us >= 0 else rtu.t35_us(baud, parity)
            self.pending = answer
            self.first_us = end_us + gap
            self.frames.append((start_us, self.first_us + rtu.frame_time_us(len(answer), baud,
                                                                            parity)))
        else:
            self.frames.append((start_us, -1))
        return None

    def read(self, buf):
        if self.pending:
            baud, parity = self._format()
            now_us = self.board.now_ms * 1000
            n = 0
            while (n < len(self.pending)
                   and self.first_us + rtu.frame_time_us(n + 1, baud, parity) <= now_us):
                n += 1
            if n:
                self.board.meter_inject(self.pending[:n])
                self.first_us += rtu.frame_time_us(n, baud, parity)
                self.pending = self.pending[n:]
        return self._read(buf)


class PtyMeter:
    """A slave served on a pseudo-terminal (CPython only): start() returns the
    path a master opens with pyserial. Requests are framed by their 8-byte
    length (CRC-checked) or by t3.5 of silence (anything else). A pty moves
    bytes at once, so with line_time the answer is written when a real line
    would have delivered its last byte: request line time + t3.5 + answer
    line time after the request's first byte arrived."""

    def __init__(self, respond, baud=9600, parity="N", line_time=False):
        self.respond = respond
        self.baud = baud
        self.parity = parity
        self.line_time = line_time
        self.frames = []  # every request framed, in order
        self.path = None
        self._thread = None
        self._running = False

    def start(self):
        import os
        import threading
        import tty

        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._running = True
        self._thread = threading.Thread(target=self._run, name="pty-meter", daemon=True)
        self._thread.start()
        return self.path

    def stop(self):
        import os

        self._running = False
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
            os.close(self._master)
            os.close(self._slave)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def _run(self):
        import os
        import select
        import time

        silence_s = rtu.t35_us(self.baud, self.parity) / 1e6
        buf = bytearray()
        first = last = 0.0
        while self._running:
            ready = select.select([self._master], [], [], 0.002)[0]
            now = time.monotonic()
            if ready:
                try:
                    data = os.read(self._master, 512)
                except OSError:  # no master side open yet / it closed: wait
                    time.sleep(0.01)
                    continue
                if not buf:
                    first = now
                buf += data
                last = now
            while len(buf) >= rtu.REQUEST_LENGTH and crc16(buf, 0, rtu.REQUEST_LENGTH) == 0:
                frame = bytes(buf[:rtu.REQUEST_LENGTH])
                del buf[:rtu.REQUEST_LENGTH]
                self._handle(frame, first)
                first = now
            if buf and now - last >= silence_s:
                self._handle(bytes(buf), first)
                buf = bytearray()

    def _handle(self, frame, first):
        import os
        import time

        self.frames.append(frame)
        answer = self.respond(frame)
        if not answer:
            return
        if self.line_time:
            us = (rtu.frame_time_us(len(frame), self.baud, self.parity)
                  + rtu.t35_us(self.baud, self.parity)
                  + rtu.frame_time_us(len(answer), self.baud, self.parity))
            wait = first + us / 1e6 - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        os.write(self._master, answer)
