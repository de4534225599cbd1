"""The gateway's side of the firmware link as a test lab plays it (protocols/LINK.md):
HELLO, heartbeats while connected, EVENT_ACK for every event, LIMIT with a generation per
entity, settings asked and answered, raw bytes; every frame from the firmware kept with the
lab's time. One class for every lab, whatever carries the bytes.

A lab mixes it in and provides:
    now_ms                      its clock
    wait_until(pred, timeout_ms) its way of letting time pass
    _link_write(data)           bytes to the firmware
and calls _link_init() once, _link_feed(data) with the firmware's bytes as they come and
_link_poll() at every step (the heartbeat)."""

from protocols import link
from protocols import link_messages as lm

ANSWER_TIMEOUT_MS = 2000  # LINK.md 5.4: a request unanswered for 2 s is lost


class LinkPeer:
    def _link_init(self):
        self._dec = link.FrameDecoder()
        self._rx = []  # (t_ms, mtype, fields) from the firmware
        self._hb_ms = 0  # heartbeat period while connected, 0: link down
        self._next_hb = 0
        self._gen = {}
        self.last_sent_ms = -1  # when the lab last sent the firmware a frame

    def _link_feed(self, data):
        now = self.now_ms
        pos = 0
        while data and pos < len(data):
            pos += self._dec.feed(data, pos)
            if not self._dec.length:
                continue
            status, mtype, _, fields = link.decode(self._dec.payload())
            if status != lm.OK:
                continue
            self._rx.append((now, mtype, fields))
            if mtype == lm.EVENT and self._hb_ms:  # acked as the gateway does (LINK.md 5.1)
                self.link_send(lm.EVENT_ACK, {"seq": fields["seq"]})

    def _link_poll(self):
        now = self.now_ms
        if self._hb_ms and now >= self._next_hb:
            self._next_hb = now + self._hb_ms
            self.link_send(lm.HEARTBEAT, {"uptime_s": now // 1000})

    def link_send(self, mtype, fields, tag=0):
        self._link_write(link.encode_frame(mtype, fields, tag))
        self.last_sent_ms = self.now_ms

    def link_connect(self, link_timeout_ms=15000):
        self.link_send(lm.HELLO, {"major": lm.PROTOCOL_MAJOR, "minor": lm.PROTOCOL_MINOR,
                                  "role": lm.ROLE_GATEWAY, "flags": 0, "phases": 0,
                                  "capabilities": 0, "max_current_ma": 0,
                                  "link_timeout_ms": link_timeout_ms, "unacked_seq": 0,
                                  "sw_version": "conformance"})
        self._hb_ms = link.heartbeat_interval_ms(link_timeout_ms) if link_timeout_ms else 1000
        self._next_hb = self.now_ms + self._hb_ms

    def link_disconnect(self):
        """The gateway goes silent (a cut cable, a crashed gateway)."""
        self._hb_ms = 0

    def limit(self, entity, limit_ma, duration_s=0):
        g = self._gen.get(entity, 0) + 1
        self._gen[entity] = g
        self.link_send(lm.LIMIT, {"entity": entity, "generation": g, "limit_ma": limit_ma,
                                  "duration_s": duration_s})

    def _ask(self, mtype, fields):
        """Send a request, wait for the SETTING_VALUE that answers it -> (status, value)."""
        n = len(self.received(lm.SETTING_VALUE))
        self.link_send(mtype, fields)
        self.wait_until(lambda: len(self.received(lm.SETTING_VALUE)) > n, ANSWER_TIMEOUT_MS)
        got = self.received(lm.SETTING_VALUE)[n:]
        if not got:
            return None, None
        return got[0][1]["status"], got[0][1]["value"]

    def setting(self, key, value):
        """SETTING_SET over the link -> (status, value or reason) of its SETTING_VALUE."""
        return self._ask(lm.SETTING_SET, {"key": key, "value": value})

    def setting_get(self, key):
        return self._ask(lm.SETTING_GET, {"key": key})

    def link_raw(self, data):
        """Bytes on the link as they are (garbage, corrupted frames)."""
        self._link_write(bytes(data))

    def time_sync(self, unix_ms, utc_offset_min=0):
        self.link_send(lm.TIME_SYNC, {"unix_ms": unix_ms, "utc_offset_min": utc_offset_min})

    def received(self, mtype, since_ms=0):
        return [(t, f) for t, m, f in self._rx if m == mtype and t >= since_ms]

    def events(self, code, since_ms=0):
        return [(t, f) for t, f in self.received(lm.EVENT, since_ms) if f["code"] == code]
