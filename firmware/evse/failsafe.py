# Failsafe on loss of the gateway link (AG-11, UK-7, DESIGN §3.2).
#
# With link_timeout_ms > 0 the failsafe current caps the offer whenever no
# valid gateway message arrived within the last link_timeout_ms, boot
# included; charging goes on at that current (UK-7: charge without a network
# connection). Failsafe ends only when the gateway is heard again AND has
# re-sent its limits (a LIMIT or SCHEDULE frame after the silence): a gateway
# that only heartbeats has not yet said what the site may take.
# link_timeout_ms == 0: standalone until a gateway says HELLO; then the gateway's own
# link_timeout_ms (its HELLO) is the timeout, so a charger behind a gateway always has a
# failsafe (Controller.failsafe_timeout_ms). Never a gateway: never in failsafe.


class Failsafe:
    def __init__(self, timeout_ms):
        self.timeout_ms = timeout_ms
        self.last_heard_ms = 0
        self.heard_once = False
        self.limits_since_silence = False
        self.active = timeout_ms > 0  # boot counts as silence

    def heard(self, now_ms):
        """A valid frame from the gateway arrived (CRC and decoding passed)."""
        self.last_heard_ms = now_ms
        self.heard_once = True

    def limits_received(self, now_ms):
        """The gateway sent a LIMIT or SCHEDULE frame."""
        self.heard(now_ms)
        self.limits_since_silence = True

    def update(self, now_ms):
        """Returns 1 when failsafe was entered this call, -1 when left, else 0."""
        if self.timeout_ms <= 0:  # standalone (also when set so at run time)
            if self.active:
                self.active = False
                return -1
            return 0
        silent = not self.heard_once or now_ms - self.last_heard_ms >= self.timeout_ms
        if silent:
            self.limits_since_silence = False
            if not self.active:
                self.active = True
                return 1
            return 0
        if self.active and self.limits_since_silence:
            self.active = False
            return -1
        return 0
