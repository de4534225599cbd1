# Tamper detection (UK Schedule 1 para 8, UK-S8): the enclosure's lid switch,
# debounced like the button. Each settled change is one EV_SECURITY event
# (SEC_TAMPER_OPEN / SEC_TAMPER_CLOSED). By default detection and logging
# only: an open lid does not stop a charge (docs/hardware.md, "Tamper"), so a
# loose switch cannot become a way to cut someone's charge; the setting
# tamper_action "stop" makes the controller hold the offer while it is open.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from protocols import link_messages as lm

DEBOUNCE_MS = const(100)  # a lid does not bounce for long; a knock must not log


class Tamper:
    def __init__(self, level, now_ms):
        # The lid counts as closed until read otherwise: a lid already off at
        # boot is reported once the level has settled.
        self.open = 0
        self.fitted = level >= 0
        self._raw = 1 if level > 0 else 0
        self._raw_since_ms = now_ms

    def update(self, now_ms, level):
        """Feed hal tamper() every tick; returns SEC_TAMPER_OPEN or
        SEC_TAMPER_CLOSED when the settled level changed, else 0. A board
        without the switch (-1) never reports."""
        if level < 0:
            return 0
        self.fitted = True
        if level > 0:
            level = 1
        if level != self._raw:
            self._raw = level
            self._raw_since_ms = now_ms
            return 0
        if level == self.open or now_ms - self._raw_since_ms < DEBOUNCE_MS:
            return 0
        self.open = level
        return lm.SEC_TAMPER_OPEN if level else lm.SEC_TAMPER_CLOSED

    def state(self):
        """1 lid open, 0 closed, -1 no switch fitted (status())."""
        return self.open if self.fitted else -1
