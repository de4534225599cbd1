"""The lab on the emulated charger: sim_hardware's Charger (the firmware controller on the
sim board, with an EV, the mains and an emulated MID meter) in virtual time, and this lab
as the gateway on its link. Every observation is one a test lab makes from outside: the
duty and the contacts on the board's pins, the current the EV draws, the link's frames."""

from protocols import link
from protocols import link_messages as lm
from sim_hardware import commands
from sim_hardware.charger import TICK_MS, Charger

SAMPLE_MS = 100  # plot resolution


class SimLab:
    capabilities = frozenset(("pilot", "contactor", "load", "meter", "mains", "button", "link",
                              "restorations"))
    virtual_time = True

    def __init__(self, settings=None, seed=1, meter=None, ev="basic"):
        self.ch = Charger(settings, seed=seed, ev=ev, trace=False, meter=meter)
        self.board = self.ch.board
        self._dec = link.FrameDecoder()
        self._rx = []  # (t_ms, mtype, fields) from the firmware
        self._hb_ms = 0  # heartbeat period while connected, 0: link down
        self._next_hb = 0
        self._gen = {}
        self.last_sent_ms = -1  # when the lab last sent the firmware a frame
        self.samples = []
        self._next_sample = 0

    # --- time ---------------------------------------------------------------------

    @property
    def now_ms(self):
        return self.board.now_ms

    def _tick(self, ms=TICK_MS):
        self.ch.tick(ms)
        now = self.board.now_ms
        self._collect(now)
        if self._hb_ms and now >= self._next_hb:
            self._next_hb = now + self._hb_ms
            self.link_send(lm.HEARTBEAT, {"uptime_s": now // 1000})
        if now >= self._next_sample:
            self._next_sample = now + SAMPLE_MS
            self.samples.append((now, self.duty_permille(), int(self.contactor_closed()),
                                 self.ev_current_ma()))

    def advance(self, ms, step_ms=TICK_MS):
        """ms of the lab's clock; step_ms > 10 samples coarser (long holds, many
        restorations): the charger then sees one tick per step."""
        for _ in range(max(ms // step_ms, 1)):
            self._tick(step_ms)

    def wait_until(self, pred, timeout_ms, step_ms=TICK_MS):
        """-> ms until pred() held (checked after every step), None after timeout_ms."""
        start = self.now_ms
        while not pred():
            if self.now_ms - start >= timeout_ms:
                return None
            self._tick(step_ms)
        return self.now_ms - start

    # --- the world ----------------------------------------------------------------

    def do(self, command, **args):
        reply, _ = commands.run(self.ch, command, args)
        return reply

    def force_cp(self, high_mv, low_mv):
        """The pilot line held at a voltage no EV state gives (a programmable load)."""
        self.board.force_cp(high_mv, low_mv)

    def release_cp(self):
        self.board.release_cp()

    def restore_now(self):
        """Power back at once after a power_cut (the cut's own timer otherwise)."""
        self.ch.restore()

    # --- what is measured -------------------------------------------------------

    def duty_permille(self):
        return self.board.duty_permille

    def contactor_closed(self):
        return bool(self.board.contacts_closed())

    def ev_current_ma(self):
        return self.board.ev_current_ma[0]

    def cp_high_mv(self):
        return self.board.cp_high_mv()

    def meter_truth_wh(self):
        return self.ch.meter.energy_wh()[0]

    # --- the link, as the gateway ------------------------------------------------

    def _collect(self, now):
        out = self.board.link_take()
        pos = 0
        while out and pos < len(out):
            pos += self._dec.feed(out, pos)
            if not self._dec.length:
                continue
            status, mtype, _, fields = link.decode(self._dec.payload())
            if status != lm.OK:
                continue
            self._rx.append((now, mtype, fields))
            if mtype == lm.EVENT and self._hb_ms:  # acked as the gateway does (LINK.md 5.1)
                self.link_send(lm.EVENT_ACK, {"seq": fields["seq"]})

    def link_send(self, mtype, fields):
        self.board.link_inject(link.encode_frame(mtype, fields))
        self.last_sent_ms = self.board.now_ms

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
        self.wait_until(lambda: len(self.received(lm.SETTING_VALUE)) > n, 2000)
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
        self.board.link_inject(bytes(data))

    def time_sync(self, unix_ms, utc_offset_min=0):
        self.link_send(lm.TIME_SYNC, {"unix_ms": unix_ms, "utc_offset_min": utc_offset_min})

    def received(self, mtype, since_ms=0):
        return [(t, f) for t, m, f in self._rx if m == mtype and t >= since_ms]

    def events(self, code, since_ms=0):
        return [(t, f) for t, f in self.received(lm.EVENT, since_ms) if f["code"] == code]
