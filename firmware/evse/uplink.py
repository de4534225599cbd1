# The firmware's side of the link (protocols/LINK.md): frames in from
# board.link_read, requests handed to the controller, telemetry, events (at
# least once, go-back-N), heartbeats and HELLO out through board.link_write.
# Steady ticks with nothing to send or receive allocate nothing; decoding a
# received message builds a dict (the link codec's gateway-friendly form).
try:
    from micropython import const
except ImportError:

    def const(x):
        return x



from evse import downlink
from evse import events as ev
from evse import limits as lim
from protocols import iec61851, link, meters
from protocols import link_messages as lm

_RX_CHUNK = const(256)  # a whole frame per tick: 115200 baud brings ~115 bytes in 10 ms
_EVENT_WINDOW = const(8)  # LINK.md 5.1: at most 8 records unacknowledged ahead
_EVENT_RETRY_MS = const(5000)  # no ack progress for 5 s: send again from the oldest
_HELLO_RETRY_MS = const(2000)  # until the gateway's HELLO is heard
_SW_VERSION = "0.1.0"
_CAPS = (lm.CAP_PP | lm.CAP_RCD | lm.CAP_CONTACTOR_FEEDBACK | lm.CAP_OVERRIDE_BUTTON
         | lm.CAP_SCHEDULE | lm.CAP_LOGS | lm.CAP_FW_UPDATE)
_U16_MAX = const(65535)
_U32_MAX = const(0xFFFFFFFF)
_I32_MIN = const(-0x80000000)
_I32_MAX = const(0x7FFFFFFF)
# TELEMETRY field index <- meter quantity, clamped to the field's type (AG-03, AG-08, T7-PQ)
_METER_FIELDS = ((7, meters.I1, _I32_MIN, _I32_MAX), (8, meters.I2, _I32_MIN, _I32_MAX),
                 (9, meters.I3, _I32_MIN, _I32_MAX), (10, meters.V1, 0, _U32_MAX),
                 (11, meters.V2, 0, _U32_MAX), (12, meters.V3, 0, _U32_MAX),
                 (13, meters.P_TOTAL, _I32_MIN, _I32_MAX), (14, meters.E_IMPORT, 0, _U32_MAX),
                 (15, meters.E_EXPORT, 0, _U32_MAX), (16, meters.FREQ, 0, _U16_MAX))
_CHANGE_MA = const(1000)  # AG-08 "on change": a phase current moved by 1 A since the last telemetry


# evse.limits source index -> the link's SRC_*
WIRE_SOURCE = (lm.SRC_HARDWARE, lm.SRC_CABLE, lm.SRC_SITE, lm.SRC_SCHEDULE, lm.SRC_CSMS,
               lm.SRC_HEMS, lm.SRC_DNO, lm.SRC_FAILSAFE, lm.SRC_WINDOW, lm.SRC_METER,
               lm.SRC_POWER_QUALITY)
# evse.limits reason (< 16) -> the link's R_*; R_CAPPED_BY + source -> R_CAPPED
_WIRE_REASON = (lm.R_APPLIED, lm.R_STEP, lm.R_PAUSED, lm.R_OVERRIDE, lm.R_NOT_IN_FORCE,
                lm.R_REMOVED, lm.R_INVALID, lm.R_INVALID, lm.R_STALE)


def wire_reason(reason):
    if reason >= lim.R_CAPPED_BY:
        return lm.R_CAPPED | (WIRE_SOURCE[reason - lim.R_CAPPED_BY] << 8)
    return _WIRE_REASON[reason]



class Uplink:
    def __init__(self, ctl, board, now_ms):
        self.ctl = ctl
        self.board = board
        self.rx = bytearray(_RX_CHUNK)
        self.dec = link.FrameDecoder()
        self.payload = bytearray(lm.MAX_PAYLOAD)
        self.wire = bytearray(lm.FRAME_MAX)
        self.wire_mv = memoryview(self.wire)
        self.tel = [0] * len(link.field_names(lm.TELEMETRY))
        self.evv = [0] * len(link.field_names(lm.EVENT))
        self.rec = [0] * ev.REC_FIELDS
        self.changed = True  # telemetry due at once (state, contactor, duty changed)
        self.sent_flags = -1
        self.sent_current_ma = [0, 0, 0]  # phase currents in the last telemetry
        self.meter_seq = -1  # meter cycle last looked at for a change
        self.peer_timeout_ms = 0
        self.gateway_hello = False
        self.last_tx_ms = now_ms
        self.next_telemetry_ms = now_ms
        self.next_hello_ms = now_ms
        self.event_next_seq = 0  # 0: start from the oldest unacked
        self.event_progress_ms = now_ms
        self.generations = {}  # (kind << 8 | entity) -> last applied generation
        self.sched_counter = 0  # monotonic generation handed to evse.limits
        self.last_cmd_tag = 0
        self.last_cmd_status = 0
        self.last_cmd_value = 0
        self.rx_bad = 0  # messages that did not decode OK (NAKed)
        self.tx_short = 0  # board.link_write took fewer bytes than the frame
        self.sw_version = _SW_VERSION  # the boot code sets the installed bundle's (fwboot)

    # --- out --------------------------------------------------------------------

    def _write(self, n, now_ms):
        m = link.frame_into(self.wire, self.payload, n)
        if self.board.link_write(self.wire_mv[:m]) != m:
            self.tx_short += 1
        self.last_tx_ms = now_ms

    def send_values(self, mtype, tag, values, now_ms):
        self._write(link.pack_into(self.payload, mtype, tag, values), now_ms)

    def send(self, mtype, tag, fields, now_ms):
        data = link.encode(mtype, fields, tag)
        self.payload[: len(data)] = data
        self._write(len(data), now_ms)

    def send_hello(self, flags, tag, now_ms):
        s = self.ctl.settings
        pending = self.ctl.events.pending_count()
        self.send(lm.HELLO, tag, {
            "major": lm.PROTOCOL_MAJOR, "minor": lm.PROTOCOL_MINOR,
            "role": lm.ROLE_FIRMWARE, "flags": flags, "phases": s["phases"],
            "capabilities": (_CAPS | (lm.CAP_VENTILATION if s["allow_ventilation"] else 0)
                             | (lm.CAP_METER if self.ctl.meter.map is not None else 0)),
            "max_current_ma": s["max_current_ma"], "link_timeout_ms": s["link_timeout_ms"],
            "unacked_seq": self._oldest_seq() if pending else self.ctl.events.next_seq,
            "sw_version": self.sw_version}, now_ms)

    def _oldest_seq(self):
        return self.rec[ev.SEQ] if self.ctl.events.oldest_unacked(self.rec) else 0

    def flags(self, now_ms):
        c = self.ctl
        f = 0
        if c.failsafe.active:
            f |= lm.F_FAILSAFE
        if c.override:
            f |= lm.F_OVERRIDE
        if c.meter.stale(now_ms):  # stale values are never reported as fresh
            f |= lm.F_METER_STALE
        if c.delay.active(now_ms):
            f |= lm.F_DELAY
        if c.window_blocked:
            f |= lm.F_NO_CHARGE_WINDOW
        if c.clock_synced:
            f |= lm.F_TIME_VALID
        if not c.available:
            f |= lm.F_UNAVAILABLE
        if c.limits.target_ma == 0:
            f |= lm.F_LOW_LIMIT_PAUSE
        if c.session.fault:
            f |= lm.F_FAULT
        if c.pq.state:  # T7-PQ: a response in force (or waiting out its delay)
            f |= lm.F_POWER_QUALITY
        if c.fw is not None and c.fw.busy():  # receiving or applying an update
            f |= lm.F_FW_UPDATE
        return f

    def _telemetry(self, flags, now_ms):
        c = self.ctl
        t = self.tel
        cp = c.pilot.state
        t[0] = cp - iec61851.STATE_A if iec61851.STATE_A <= cp <= iec61851.STATE_F else 255
        t[1] = c.wire_session()
        t[2] = c.contactor
        t[3] = lm.SRC_DELAY if flags & lm.F_DELAY else WIRE_SOURCE[c.limits.binding_source]
        t[4] = flags
        t[5] = c.duty_permille
        t[6] = c.limits.applied_ma if 0 < c.duty_permille < 1000 else 0
        v = c.meter.values  # 7..16: the last values, with their age and F_METER_STALE
        for i, q, lo, hi in _METER_FIELDS:
            x = v[q]
            t[i] = 0 if x is None else lo if x < lo else hi if x > hi else x
        for k in range(3):
            self.sent_current_ma[k] = t[7 + k]
        t[17] = min(c.delay.remaining_s(now_ms), _U16_MAX)
        t[18] = lm.SOC_UNKNOWN
        age = c.meter.age_ms(now_ms)
        t[19] = _U16_MAX if age < 0 or age > _U16_MAX else age
        self.send_values(lm.TELEMETRY, 0, t, now_ms)

    def _current_moved(self):
        m = self.ctl.meter
        if m.good_seq == self.meter_seq:
            return False
        self.meter_seq = m.good_seq
        for k in range(3):
            x = m.values[meters.I1 + k]
            if x is not None and abs(x - self.sent_current_ma[k]) >= _CHANGE_MA:
                return True
        return False

    def _send_event(self, now_ms):
        # Small-int arithmetic only: a 2**32 sequence wrap is 136 years at one
        # event a second, and masking with 0xFFFFFFFF would allocate every tick.
        log = self.ctl.events
        count = log.count
        if not count or not self.gateway_hello:  # the gateway ignores records before HELLO
            self.event_next_seq = 0
            return
        oldest = log.next_seq - count
        seq = self.event_next_seq
        if seq < oldest or now_ms - self.event_progress_ms >= _EVENT_RETRY_MS:
            seq = oldest  # start, or go back N after 5 s without ack progress
            self.event_progress_ms = now_ms
        # LINK.md 5.1: a record goes out only once it is in flash (the controller
        # flushes at most once a second), so a power cut never reuses a sent seq.
        if (seq - oldest >= _EVENT_WINDOW or seq >= log.stored_next_seq
                or not log.get(seq, self.rec)):
            self.event_next_seq = seq
            return
        r = self.rec
        v = self.evv
        v[0] = seq
        v[1] = 0 if r[ev.FLAGS] & ev.FLAG_UPTIME else r[ev.TIME]
        v[2] = r[ev.CODE]
        v[3] = r[ev.A] & 0xFF
        v[4] = r[ev.B] & 0xFFFF
        v[5] = r[ev.C]
        v[6] = r[ev.D]
        self.send_values(lm.EVENT, 0, v, now_ms)
        self.event_next_seq = seq + 1

    def transmit(self, now_ms):
        if not self.gateway_hello and now_ms >= self.next_hello_ms:
            self.send_hello(0, 0, now_ms)
            self.next_hello_ms = now_ms + _HELLO_RETRY_MS
        flags = self.flags(now_ms)
        if (self.changed or flags != self.sent_flags or now_ms >= self.next_telemetry_ms
                or self._current_moved()):
            self._telemetry(flags, now_ms)
            self.changed = False
            self.sent_flags = flags
            self.next_telemetry_ms = now_ms + self.ctl.settings["telemetry_interval_s"] * 1000
        self._send_event(now_ms)
        if now_ms - self.last_tx_ms >= link.heartbeat_interval_ms(self.peer_timeout_ms):
            self.send_values(lm.HEARTBEAT, 0, ((now_ms - self.ctl.boot_ms) // 1000,), now_ms)

    # --- in ---------------------------------------------------------------------

    def receive(self, now_ms):
        n = self.board.link_read(self.rx)
        i = 0
        while i < n:
            i += self.dec.feed(self.rx, i, n)
            if self.dec.length:
                self._dispatch(self.dec.payload(), now_ms)

    def _dispatch(self, payload, now_ms):
        status, mtype, tag, fields = link.decode(payload)
        if status != lm.OK:
            self.rx_bad += 1
            if mtype != lm.NAK:
                self.send_values(lm.NAK, tag, (status, mtype, lm.PROTOCOL_MAJOR,
                                               lm.PROTOCOL_MINOR), now_ms)
            return
        self.ctl.failsafe.heard(now_ms)
        handler = downlink.HANDLERS.get(mtype)
        if handler is not None:
            handler(self, fields, tag, now_ms)
        elif tag and mtype != lm.NAK:  # one the firmware is never sent; never NAK a NAK
            self.send_values(lm.NAK, tag, (lm.E_TYPE, mtype, lm.PROTOCOL_MAJOR,
                                           lm.PROTOCOL_MINOR), now_ms)
