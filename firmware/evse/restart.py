# Randomised delay (UK-11: SI 2021/1467 reg 11 and Schedule 1; AG-13: idle
# after power restoration, then a stochastic restart). DESIGN section 5.
#
# The controller decides when to start a delay; the rules it follows:
# - power restoration (boot after a power-on reset): the EVSE stays idle (no
#   PWM offer, contactor open) from the first tick, and the delay runs from
#   boot (CAUSE_RESTORATION);
# - at the start of a charge (CAUSE_CHARGE_START);
# - when a schedule raises or lowers the rate (CAUSE_RATE_CHANGE);
# - never while the owner overrides (AG-12) or while a DSR / load-management
#   limit is being followed (limits.Limits.dno_active): should_delay() says
#   so, and an override or a DSR limit arriving mid-delay cancels it;
# - max is random_delay_max_s: default 600 s, at most 1800 s (start() refuses
#   more with ValueError), 0 = off.
# The delay is a whole number of seconds ("to the nearest second"), drawn
# uniformly from [0, max] by rejection sampling on 32-bit entropy: values of
# the u32 at or above the largest multiple of (max + 1) are drawn again, so
# `r % (max + 1)` has no modulo bias (plain modulo would favour the low
# 2**32 % 601 = 128 outcomes by one part in 7 million for max 600).
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


CAUSE_NONE = const(0)
CAUSE_RESTORATION = const(1)  # AG-13: power back after a network / supply fault
CAUSE_CHARGE_START = const(2)  # UK-11: charging would start
CAUSE_RATE_CHANGE = const(3)  # UK-11: a schedule raises or lowers the rate
CAUSE_NAMES = ("none", "restoration", "charge_start", "rate_change")

DEFAULT_MAX_S = const(600)  # UK-11 default
CEILING_S = const(1800)  # UK-11: configurable up to 30 minutes, refused above
_MAX_DRAWS = const(8)  # a rejection needs p < 1801 / 2**32; 8 in a row = broken entropy
_U32 = 1 << 32  # not a const: > 2**30


def check_max_s(max_s):
    """UK-8 / UK-11: random_delay_max_s must be a whole number 0..1800."""
    if not isinstance(max_s, int) or isinstance(max_s, bool) or not 0 <= max_s <= CEILING_S:
        raise ValueError("random delay max must be 0..%d s, got %r" % (CEILING_S, max_s))
    return max_s


def draw_s(max_s, rand_u32):
    """Uniform whole seconds in [0, max_s] from rand_u32() (a callable giving
    32 random bits, e.g. board.random_u32). Rejection sampling: accept r only
    below limit = the largest multiple of n = max_s + 1 not above 2**32, so
    every outcome has exactly limit / n preimages. After _MAX_DRAWS rejections
    (only a stuck entropy source gets there) the last draw is used modulo n."""
    n = check_max_s(max_s) + 1
    limit = _U32 - _U32 % n
    r = rand_u32() & 0xFFFFFFFF
    draws = 1
    while r >= limit and draws < _MAX_DRAWS:
        r = rand_u32() & 0xFFFFFFFF
        draws += 1
    return r % n


def should_delay(override, dsr_active, max_s):
    """DESIGN section 5: a delay applies unless the owner overrides, a DSR /
    load-management limit is being followed, or the delay is off (max 0)."""
    return max_s > 0 and not override and not dsr_active


class RandomDelay:
    def __init__(self):
        self.cause = CAUSE_NONE  # cause of the last start(), for status and events
        self.delay_s = 0  # the drawn delay
        self.max_s = DEFAULT_MAX_S
        self.ends_at_ms = 0  # deadline of the running delay
        self._running = False
        self.ran_out = False  # set when a delay ends by itself; the controller logs it

    def start(self, now_ms, max_s, rand_u32, cause):
        """Draw a delay and run it from now_ms; replaces a running one.
        Returns the delay in whole seconds. ValueError on max_s > 1800 or an
        unknown cause."""
        if cause not in (CAUSE_RESTORATION, CAUSE_CHARGE_START, CAUSE_RATE_CHANGE):
            raise ValueError("unknown random delay cause %r" % (cause,))
        delay_s = draw_s(max_s, rand_u32)
        self.cause = cause
        self.max_s = max_s
        self.delay_s = delay_s
        self.ends_at_ms = now_ms + delay_s * 1000
        self._running = delay_s > 0
        return delay_s

    def active(self, now_ms):
        """The delay holds the EVSE idle for start <= now_ms < start + delay."""
        if self._running and now_ms >= self.ends_at_ms:
            self._running = False
            self.ran_out = True
        return self._running

    def remaining_s(self, now_ms):
        """Whole seconds left, rounded up (0 once over), for status()."""
        if not self.active(now_ms):
            return 0
        return (self.ends_at_ms - now_ms + 999) // 1000

    def cancel(self):
        """Override or a DSR limit ends the delay at once. Returns whether one
        was running (so the controller logs the cancellation only then)."""
        was = self._running
        self._running = False
        return was
