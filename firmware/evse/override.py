# Manual override by the owner (AG-12) from the button; the same requests
# arrive as link commands. A short press (50 ms..2 s) asks "charge now" for
# this session: smart limits and the randomised delay are lifted (never the
# hardware, cable or site limit or a fault, DESIGN §5). A long press (>= 2 s,
# taken while still held) toggles an owner pause. A button already down at
# boot is ignored until released (a stuck or held button must not start an
# override after a power cut).
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


DEBOUNCE_MS = const(50)
LONG_PRESS_MS = const(2000)

PRESS_NONE = const(0)
PRESS_SHORT = const(1)
PRESS_LONG = const(2)


class Button:
    def __init__(self, level):
        self.armed = not level  # held through boot: wait for a release first
        self.down = False
        self.down_since_ms = 0
        self.long_sent = False
        self._raw = level
        self._raw_since_ms = 0

    def update(self, now_ms, level):
        """Feed the raw level every tick; returns PRESS_NONE/SHORT/LONG."""
        if level != self._raw:
            self._raw = level
            self._raw_since_ms = now_ms
            return PRESS_NONE
        if now_ms - self._raw_since_ms < DEBOUNCE_MS:
            return PRESS_NONE
        if not self.armed:
            if not level:
                self.armed = True
            return PRESS_NONE
        if level and not self.down:
            self.down = True
            self.down_since_ms = self._raw_since_ms
            self.long_sent = False
            return PRESS_NONE
        if level and self.down:
            if not self.long_sent and now_ms - self.down_since_ms >= LONG_PRESS_MS:
                self.long_sent = True
                return PRESS_LONG
            return PRESS_NONE
        if not level and self.down:
            self.down = False
            if not self.long_sent:
                return PRESS_SHORT
        return PRESS_NONE
