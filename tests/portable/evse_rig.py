# A charger on the bench for portable tests: the sim board, the controller on
# it, and a scripted gateway on the other end of the link. Virtual time only:
# run(600000) is ten minutes of ticks and takes milliseconds.
import json

from evse.controller import Controller
from protocols import link
from protocols import link_messages as lm
from sim_hardware.meter_emulator import MeterEmulator
from sim_hardware.sim_board import SimBoard

TICK_MS = 10


class Rig:
    """meter: the model of the emulated MID meter on the RS-485 bus ("auto":
    the one the settings name, SDM630 by default; None: no meter on the bus).
    It is wired as the settings say (unit id, baud, parity)."""

    def __init__(self, settings=None, seed=1, meter="auto", **board_kw):
        self.board = SimBoard(seed=seed, **board_kw)
        if settings:
            # through the file, as on a charger: the load path is tested too
            self.board.storage["settings.json"] = json.dumps(settings).encode()
        cfg = (settings or {}).get("meter") or {}
        if meter == "auto":
            meter = cfg.get("model", "SDM630")
        self.meter = None
        if meter is not None and meter != "none":
            self.meter = MeterEmulator(meter, cfg.get("unit_id", 1), self.board)
            self.meter.baud = cfg.get("baud", 9600)
            self.meter.parity = cfg.get("parity", "N")
            self.board.meter_device = self.meter.respond
        self.up = []  # (mtype, tag, fields) from the firmware, oldest first
        self._dec = link.FrameDecoder()
        self.ctl = None
        self.auto_ack = False  # True: the gateway acks every EVENT as it arrives (LINK.md 5.1)
        self.boot()

    def boot(self):
        self.ctl = Controller(self.board)
        self._collect()
        return self.ctl

    def power_cut(self, off_ms=1000):
        if self.meter is not None:
            self.meter.supply_lost()  # no current flows while the mains is gone
        self.board.power_cut(off_ms)
        return self.boot()

    @property
    def now_ms(self):
        return self.board.now_ms

    def status(self):
        return self.ctl.status()

    def tick(self):
        self.board.advance(TICK_MS)
        self.ctl.tick()
        self._collect()

    def run(self, ms):
        for _ in range(ms // TICK_MS):
            self.tick()

    def skip(self, ms):
        """Jump ms of virtual time in one tick (same end time as run(ms)). Only
        while nothing is expected to change within the jump: long delays and
        schedule periods without 60,000 ticks on the MicroPython VM."""
        if ms > TICK_MS:
            self.board.advance(ms - TICK_MS)
        self.tick()

    def script_random(self, values):
        """The next draws of board.random_u32 return these values, then the
        board's own generator: a chosen random delay (e.g. [600] = 600 s)."""
        queue = list(values)
        own = self.board.random_u32

        def draw():
            if queue:
                return queue.pop(0)
            return own()

        self.board.random_u32 = draw

    def run_until(self, pred, max_ms):
        """Ticks until pred(rig) holds; returns the virtual ms it took, -1 if never."""
        start = self.board.now_ms
        while self.board.now_ms - start < max_ms:
            self.tick()
            if pred(self):
                return self.board.now_ms - start
        return -1

    # --- the gateway side of the link ---------------------------------------

    def send(self, mtype, fields, tag=0):
        self.board.link_inject(link.encode_frame(mtype, fields, tag))

    def send_raw(self, data):
        self.board.link_inject(data)

    def hello(self, link_timeout_ms=0, tag=0):
        self.send(lm.HELLO, {"major": lm.PROTOCOL_MAJOR, "minor": lm.PROTOCOL_MINOR,
                             "role": lm.ROLE_GATEWAY, "flags": 0, "phases": 0,
                             "capabilities": 0, "max_current_ma": 0,
                             "link_timeout_ms": link_timeout_ms, "unacked_seq": 0,
                             "sw_version": "rig"}, tag)

    def limit(self, entity, limit_ma, generation, duration_s=0, tag=0):
        self.send(lm.LIMIT, {"entity": entity, "generation": generation,
                             "limit_ma": limit_ma, "duration_s": duration_s}, tag)

    def command(self, command, arg=0, tag=0):
        self.send(lm.COMMAND, {"command": command, "arg": arg}, tag)

    def heartbeat(self, uptime_s=0):
        self.send(lm.HEARTBEAT, {"uptime_s": uptime_s})

    def time_sync(self, unix_s, tag=0):
        self.send(lm.TIME_SYNC, {"unix_ms": unix_s * 1000, "utc_offset_min": 0}, tag)

    def schedule(self, entity, generation, start_unix_s, periods, duration_s=0, tag=0,
                 repeat_s=0):
        self.send(lm.SCHEDULE, {"entity": entity, "generation": generation,
                                "start_unix_s": start_unix_s, "duration_s": duration_s,
                                "repeat_s": repeat_s, "periods": periods}, tag)

    def setting_set(self, key, value, tag=0):
        self.send(lm.SETTING_SET, {"key": key, "value": value}, tag)

    def setting_values(self, tag):
        return [f for t, g, f in self.up if t == lm.SETTING_VALUE and g == tag]

    def _collect(self):
        data = self.board.link_take()
        i = 0
        while i < len(data):
            i += self._dec.feed(data, i)
            if self._dec.length:
                status, mtype, tag, fields = link.decode(bytes(self._dec.payload()))
                assert status == lm.OK, "firmware sent a frame that does not decode"
                self.up.append((mtype, tag, fields))
                if self.auto_ack and mtype == lm.EVENT:
                    self.send(lm.EVENT_ACK, {"seq": fields["seq"]})

    def messages(self, mtype):
        return [f for t, _, f in self.up if t == mtype]

    def results(self, tag):
        return [f for t, g, f in self.up if t == lm.RESULT and g == tag]

    def events(self, code=None):
        """EVENT fields sent upstream (each seq once), optionally of one code."""
        seen = {}
        for f in self.messages(lm.EVENT):
            seen[f["seq"]] = f
        out = [seen[s] for s in sorted(seen)]
        return [f for f in out if code is None or f["code"] == code]

    def ack_all(self):
        evs = self.messages(lm.EVENT)
        if evs:
            self.send(lm.EVENT_ACK, {"seq": max(f["seq"] for f in evs)})

    def naks(self):
        return self.messages(lm.NAK)

    def telemetry(self):
        t = self.messages(lm.TELEMETRY)
        return t[-1] if t else None


def charging_rig(settings=None, pp_ohms=220, seed=1, auto_ack=False):
    """A rig whose EV is charging (C2, contactor closed) after plug-in."""
    rig = Rig(settings, seed=seed)
    if auto_ack:  # a gateway that said HELLO (no events before it) and acks them
        rig.auto_ack = True
        rig.hello()
    rig.run(100)
    rig.board.plug("B", pp_ohms)
    rig.run(100)
    rig.board.set_ev_state("C")
    assert rig.run_until(lambda r: r.board.contacts_closed(), 3000) >= 0, "did not charge"
    return rig
