# Session energy from the MID meter's import register (UK-9: the charger
# measures the energy of each charge; AG-03). The register lives in the meter
# and survives power cuts, so persisting the register value at session start
# is enough for a power cut mid-session to lose nothing: after the restart the
# first good reading gives the energy of the session the cut ended
# (EV_SESSION_STOP, reason STOP_POWER_LOSS). "session.json" is written at
# session start and stop, when an energy anomaly moves the base, and at most
# every 15 minutes mid-session (flash wear), never per tick.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


import json

from protocols import link_messages as lm

FILE = "session.json"
_SAVE_MS = const(900000)  # mid-session energy to flash at most every 15 min


class SessionEnergy:
    """SessionEnergy(board, log, now_ms); log(code, a, b, c, d) appends an event.
    Session ids continue across boots (the last one is in the file)."""

    def __init__(self, board, log, now_ms):
        self.board = board
        self.log = log
        self.session_id = 0
        self.on = False
        self.base_wh = None  # import register at the start; None: take the next reading
        self.wh = 0  # energy of the session (or of the last one)
        self._carry_wh = 0  # counted before the base had to be taken again
        self._saved_ms = now_ms
        self.lost = None  # (id, base_wh, wh) of a session a power cut ended
        try:
            d = json.loads(self.board.storage_read(FILE))
            self.session_id = d["id"]
            lost = d.get("lost")
            if lost:
                self.lost = (lost[0], lost[1], lost[2])
            elif d["on"]:
                self.lost = (d["id"], d["base"], d["wh"])
        except Exception:  # no file yet, or unreadable: ids start at 1 again
            pass

    def start(self, register_wh, now_ms):
        """A session starts (plug-in); register_wh is the import register now,
        None without a fresh reading (the next reading is the base). -> its id."""
        self.session_id += 1
        self.on = True
        self.base_wh = register_wh
        self.wh = 0
        self._carry_wh = 0
        self._save(now_ms)
        return self.session_id

    def stop(self, now_ms):
        """-> the session's energy in Wh (up to the last good reading)."""
        self.on = False
        self._save(now_ms)
        return self.wh

    def reading(self, register_wh, now_ms):
        """A good, checked import reading (every poll cycle)."""
        if self.lost is not None:
            self.end_lost(register_wh, now_ms)
        if self.on:
            if self.base_wh is None:
                self.base_wh = register_wh - self._carry_wh
                self._save(now_ms)
            self.wh = register_wh - self.base_wh
            if now_ms - self._saved_ms >= _SAVE_MS:
                self._save(now_ms)

    def rebase(self, delta_wh, now_ms):
        """The register went backwards or jumped by delta_wh: the session keeps
        what it had counted and goes on from the new register value (the base
        may go below 0)."""
        if self.on and self.base_wh is not None:
            self.base_wh += delta_wh
            self._save(now_ms)

    def meter_changed(self):
        """Another meter (or the same one re-set): the session keeps what it
        counted and takes its base again from the next good reading."""
        if self.on and self.base_wh is not None:
            self._carry_wh = self.wh
            self.base_wh = None

    def end_lost(self, register_wh, now_ms):
        """Report the session a power cut ended: from the register when there
        is a reading (None: the meter is gone), else the last saved energy."""
        sid, base, wh = self.lost
        if register_wh is not None and base is not None and base <= register_wh:
            wh = register_wh - base
        self.lost = None
        self.log(lm.EV_SESSION_STOP, lm.STOP_POWER_LOSS, 0, sid, wh)
        self._save(now_ms)

    def _save(self, now_ms):
        self._saved_ms = now_ms
        d = {"id": self.session_id, "on": int(self.on), "base": self.base_wh, "wh": self.wh}
        if self.lost is not None:
            d["lost"] = list(self.lost)
        self.board.storage_write(FILE, json.dumps(d).encode())
