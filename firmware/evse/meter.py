# The MID meter poller (AG-03, AG-08, UK-9): a non-blocking Modbus RTU master
# over a register map of protocols/meters.py, driven by tick(now_ms). Sans-IO:
# bytes go through board.meter_write / meter_read, time arrives as now_ms.
# Safety never depends on it: the controller only lets a meter fault lower
# the offer (setting meter_fault_action, limit source SRC_METER).
#
# One poll cycle every poll_ms: the map's blocks in order, each a request
# sent once the bus was silent for t3.5 (Modbus over serial line 2.5.1.1),
# then its answer awaited for the line time of both frames + t3.5 + the
# meter's turnaround. A cycle's values are committed together, each with the
# time its block was read, only if every block answered; a failed cycle
# leaves the last values in place, stale. Steady ticks without meter bytes
# allocate nothing.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from evse.energy import SessionEnergy
from protocols import link_messages as lm
from protocols import meters
from protocols import modbus_rtu as rtu

# Fault reasons: EV_METER b (a = 0 fault / 1 ok) and status()["meter"]["fault"].
R_OK = const(0)
R_NO_ANSWER = const(1)  # silence: unit id, baud, parity or wiring
R_CRC = const(2)  # answers with a bad CRC: noise, baud / parity mismatch
R_EXCEPTION = const(3)  # exception responses (EV_METER c = the exception code)
R_WRONG_UNIT = const(4)  # CRC-valid answers from another unit id
R_FRAME = const(5)  # short, overlong, wrong length or wrong function
R_IMPLAUSIBLE = const(6)  # start-up: V1 outside 100-300 V or f outside 45-65 Hz
R_WORD_ORDER = const(7)  # start-up: plausible only with the other word order
R_FROZEN = const(8)  # import energy stands still while the measured power says it rises
R_INTERNAL = const(9)  # the poller raised; the control loop went on without it
# Energy anomalies, flagged while the meter works (EV_METER a = 1, c old, d new Wh)
R_ENERGY_BACKWARDS = const(16)
R_ENERGY_JUMP = const(17)
REASONS = {R_OK: "ok", R_NO_ANSWER: "no_answer", R_CRC: "crc", R_EXCEPTION: "exception",
           R_WRONG_UNIT: "wrong_unit", R_FRAME: "frame", R_IMPLAUSIBLE: "implausible",
           R_WORD_ORDER: "word_order", R_FROZEN: "frozen", R_INTERNAL: "internal",
           R_ENERGY_BACKWARDS: "energy_backwards", R_ENERGY_JUMP: "energy_jump"}
# modbus_rtu result code -> reason of the failed cycle
_RESULT_REASON = (R_OK, R_OK, R_EXCEPTION, R_CRC, R_WRONG_UNIT, R_FRAME, R_FRAME, R_FRAME,
                  R_FRAME, R_NO_ANSWER)

MISSED_POLLS_FAULT = const(3)  # consecutive failed cycles before a meter fault
TURNAROUND_MS = const(100)  # time a meter may take to start its answer
_JUMP_MARGIN_W = const(1000)  # energy may rise by (2 x power + this) x time
_SLACK_WH = const(50)  # plus two register steps and this
_IDLE = const(0)
_AWAIT = const(1)
_E = meters.E_IMPORT


def _ceil_ms(us):
    return (us + 999) // 1000


class Meter:
    """Meter(board, cfg, now_ms, log): cfg is settings["meter"]; log(code, a,
    b, c, d) appends an event. `changed` is set when the fault state changes
    (the controller applies meter_fault_action); `busy` while a cycle runs."""

    def __init__(self, board, cfg, now_ms, log, turnaround_ms=TURNAROUND_MS):
        self.board = board
        self.log = log
        self.turnaround_ms = turnaround_ms
        self.dec = rtu.ResponseDecoder()
        self.req = bytearray(rtu.REQUEST_LENGTH)
        self.rx = bytearray(64)
        self.values = meters.new_values()
        self.read_ms = [0] * meters.N_QUANTITIES
        self._new = meters.new_values()
        self.errors = [0] * len(rtu.RESULT_NAMES)  # failed blocks per modbus_rtu result code
        self.last_exception = 0
        self.stray_bytes = 0  # bytes outside a transaction
        self.polls_ok = 0
        self.energy_flags = 0
        self.error = None  # repr of what the poller raised (R_INTERNAL)
        self.fault = R_OK
        self.energy = SessionEnergy(board, log, now_ms)  # UK-9, evse/energy.py
        self.configure(cfg, now_ms)

    def configure(self, cfg, now_ms):
        """(Re)start polling with settings["meter"]; forgets the values."""
        self.cfg = cfg
        model = cfg["model"]
        self.map = None if model == "none" else meters.get(model)
        self.unit = cfg["unit_id"]
        self.poll_ms = cfg["poll_ms"]
        baud = cfg["baud"]
        parity = cfg["parity"]
        setup = getattr(self.board, "meter_configure", None)  # the boards', not the contract
        if setup is not None and self.map is not None:
            setup(baud, parity)
        t35_us = rtu.t35_us(baud, parity)
        self.t35_ms = _ceil_ms(t35_us)
        self.timeout_ms = []  # per block: both frames' line time + t3.5 + turnaround
        self.block_ms = []  # when each block of the cycle was read
        self._qblock = [-1] * meters.N_QUANTITIES  # quantity -> block holding it
        cycle_ms = 0
        if self.map is not None:
            for i, (address, count) in enumerate(self.map["blocks"]):
                nbytes = rtu.REQUEST_LENGTH + rtu.response_length(count)
                t = _ceil_ms(rtu.frame_time_us(nbytes, baud, parity) + t35_us) + self.turnaround_ms
                self.timeout_ms.append(t)
                self.block_ms.append(0)
                cycle_ms += t + self.t35_ms
                for row in self.map["quantities"]:
                    q = row[0]
                    qa = row[1]
                    if address <= qa and qa + meters.registers(row[2]) <= address + count:
                        self._qblock[q] = i
        self.stale_after_ms = self.poll_ms + cycle_ms  # no good cycle for this long: stale
        for i in range(meters.N_QUANTITIES):
            self.values[i] = None
        self.state = _IDLE
        self.busy = False
        self.block = 0
        self.next_ms = now_ms
        self.cycle_ms = now_ms
        self.sent_ms = now_ms
        self.last_rx_ms = now_ms  # the bus counts as busy until t3.5 after boot
        self.good_ms = -1  # start of the last good cycle, -1 none
        self.good_seq = 0  # counts committed cycles
        self.missed = 0
        self.reason = R_OK  # of the last failed cycle
        self.verified = False  # the start-up plausibility check passed
        self._swapped_ok = False
        self._owed_mwh = 0  # import the measured power implies since the register last rose
        self.changed = self.fault != R_OK
        self.fault = R_OK
        self.energy.meter_changed()
        if self.map is None and self.energy.lost is not None:
            self.energy.end_lost(None, now_ms)

    # --- polling ---------------------------------------------------------------

    def tick(self, now_ms):
        if self.map is None:
            return
        n = self._read(now_ms)
        if self.state == _AWAIT:
            silent = now_ms - self.last_rx_ms >= self.t35_ms
            if n:
                r = self.dec.decode()
            elif silent and (self.dec.fill or now_ms - self.sent_ms >= self.timeout_ms[self.block]):
                r = self.dec.decode(True)
            else:
                return
            if r != rtu.NEED_MORE:
                self._done(r, now_ms)
        elif now_ms >= self.next_ms and now_ms - self.last_rx_ms >= self.t35_ms:
            self._send(now_ms)

    def _read(self, now_ms):
        total = 0
        rx = self.rx
        while True:
            n = self.board.meter_read(rx)
            if n <= 0:
                break
            total += n
            if self.state == _AWAIT:
                self.dec.feed(rx, 0, n)
            else:
                self.stray_bytes += n  # another master, noise, an answer after its timeout
            if n < len(rx):
                break
        if total:
            self.last_rx_ms = now_ms
        return total

    def _send(self, now_ms):
        m = self.map
        if self.block == 0:
            self.cycle_ms = now_ms
        count = m["blocks"][self.block][1]
        meters.block_request(m, self.block, self.unit, self.req)
        self.dec.expect(self.unit, m["function"], count)
        self.board.meter_write(self.req)
        self.sent_ms = now_ms
        self.state = _AWAIT
        self.busy = True

    def _done(self, r, now_ms):
        self.state = _IDLE
        if r != rtu.OK:
            self.errors[r] += 1
            if r == rtu.EXCEPTION:
                self.last_exception = self.dec.exception_code
            return self._failed(_RESULT_REASON[r], now_ms)
        m = self.map
        i = self.block
        meters.decode_block(m, i, self.dec.buf, self.dec.data_offset, self._new)
        self.block_ms[i] = now_ms
        if not self.verified and i == self._qblock[meters.V1]:
            # wrong word order: L1 voltage is plausible only when read the other way
            other = rtu.LOW_WORD_FIRST - m["word_order"]
            v = meters.decode_quantity(m, i, meters.V1, self.dec.buf, self.dec.data_offset, other)
            self._swapped_ok = v is not None and meters.V_MIN_MV <= v <= meters.V_MAX_MV
        self.block = i + 1
        if self.block < len(m["blocks"]):
            self.next_ms = now_ms  # the next block once the bus was silent for t3.5
        else:
            self._cycle_done(now_ms)

    def _failed(self, reason, now_ms):
        self.block = 0
        self.busy = False
        self.state = _IDLE
        self.next_ms = max(self.cycle_ms + self.poll_ms, now_ms)
        self.missed += 1
        self.reason = reason
        if self.missed >= MISSED_POLLS_FAULT and self.fault == R_OK:
            self.fault = reason
            if reason != R_FROZEN:
                self.verified = False  # a meter that comes back is checked again
            self.changed = True
            self.log(lm.EV_METER, 0, reason, self.last_exception if reason == R_EXCEPTION else 0,
                     self.missed)
            if self.energy.lost is not None:
                self.energy.end_lost(None, now_ms)

    def _cycle_done(self, now_ms):
        v = self._new
        if not self.verified:
            if not meters.plausible(v):
                return self._failed(R_WORD_ORDER if self._swapped_ok else R_IMPLAUSIBLE, now_ms)
        elif self._energy_check(v, now_ms):
            self.missed = MISSED_POLLS_FAULT - 1  # the check already spans many polls
            return self._failed(R_FROZEN, now_ms)
        self.verified = True
        for q in range(meters.N_QUANTITIES):
            self.values[q] = v[q]
            b = self._qblock[q]
            self.read_ms[q] = self.block_ms[b] if b >= 0 else 0
        self.good_ms = self.cycle_ms
        self.good_seq += 1
        self.polls_ok += 1
        self.missed = 0
        self.block = 0
        self.busy = False
        self.next_ms = self.cycle_ms + self.poll_ms
        if self.fault != R_OK:
            self.fault = R_OK
            self.changed = True
            self.log(lm.EV_METER, 1, R_OK, 0, 0)
        if v[_E] is not None:
            self.energy.reading(v[_E], now_ms)

    def _energy_check(self, v, now_ms):
        """Energy backwards or beyond what the measured power allows: flagged,
        and the session keeps what it had (the base follows the register).
        -> True when the register stands still while power flows (frozen)."""
        old = self.values[_E]
        e = v[_E]
        if e is None or old is None:
            return False
        m = self.map
        dt_ms = self.block_ms[self._qblock[_E]] - self.read_ms[_E]
        p_old = self.values[meters.P_TOTAL] or 0
        p_new = v[meters.P_TOTAL] or 0
        p_w = max(abs(p_old), abs(p_new))
        step = meters.resolution(m, _E, e)
        allowed_wh = (2 * p_w + _JUMP_MARGIN_W) * dt_ms // 3600000 + 2 * step + _SLACK_WH
        if e < old or e - old > allowed_wh:
            reason = R_ENERGY_BACKWARDS if e < old else R_ENERGY_JUMP
            self.energy_flags += 1
            self.log(lm.EV_METER, 1, reason, old, e)
            self.energy.rebase(e - old, now_ms)
            return False
        if e > old:
            self._owed_mwh = 0
        elif p_new > 0:
            self._owed_mwh += p_new * dt_ms // 3600
            if self._owed_mwh > (2 * step + _SLACK_WH) * 1000:
                return True
        return False

    # --- what the controller and the uplink read ---------------------------------

    def stale(self, now_ms):
        """Values not from a good cycle within poll_ms + a cycle's timeouts, a
        failed last cycle, a fault or no values at all: never shown as fresh."""
        return (self.map is None or self.good_ms < 0 or self.missed > 0 or self.fault != R_OK
                or now_ms - self.good_ms > self.stale_after_ms)

    def age_ms(self, now_ms):
        return -1 if self.good_ms < 0 else now_ms - self.good_ms

    def crashed(self, error, now_ms):
        """The poller raised: record it, fault (R_INTERNAL), start over at the next poll."""
        self.error = repr(error)
        self.missed = MISSED_POLLS_FAULT - 1
        self._failed(R_INTERNAL, now_ms)

    def status(self, now_ms):
        if self.map is None:
            return None
        d = {}
        for q in range(meters.N_QUANTITIES):
            d[meters.QUANTITY_NAMES[q]] = self.values[q]
        d["read_ms"] = [self.read_ms[q] if self.values[q] is not None else -1
                        for q in range(meters.N_QUANTITIES)]
        e = rtu.RESULT_NAMES
        d.update({"model": self.map["name"], "age_ms": self.age_ms(now_ms),
                  "stale": self.stale(now_ms), "fault": self.fault,
                  "reason": REASONS[self.fault], "last_failure": REASONS[self.reason],
                  "session_wh": self.energy.wh, "polls_ok": self.polls_ok,
                  "energy_flags": self.energy_flags, "last_exception": self.last_exception,
                  "stray_bytes": self.stray_bytes, "error": self.error})
        for r in range(2, len(e)):
            d[e[r].lower()] = self.errors[r]
        return d

    def session_start(self, now_ms):
        """A session starts: -> (session_id, import register Wh, -1 without a
        fresh reading: the next good reading is then the base)."""
        e = self.values[_E]
        if self.stale(now_ms):
            e = None
        return self.energy.start(e, now_ms), -1 if e is None else e
