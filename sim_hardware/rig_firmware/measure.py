# The rig's pilot measurements as arithmetic (docs/hil.md, "Measuring the
# pilot"), apart from the RP2040 HAL that gathers the raw values, so they are
# tested on CPython and the MicroPython VM. Integers only.
#
# Duty: a comparator turns the pilot into a logic level (high while CP is
#   above about +1 V); a PIO program counts the cycles of each positive and
#   negative half-period (hal_rp2040.py). duty = high / (high + low), rounded.
# Plateaus: a burst of ADC samples of the CP sense divider; the samples in the
#   top (bottom) quarter of the burst's range are the positive (negative)
#   plateau, averaged; those caught on an edge fall in between and are
#   dropped. A burst with a spread under `split` is one steady level.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


# IEC 61851-1 Annex A: 1 kHz +-2 %; a period outside 0.9..1.1 ms is no PWM
# period (a level that stood still, a count cut short by the FIFO)
PERIOD_MIN_US = const(900)
PERIOD_MAX_US = const(1100)
NO_DUTY = const(-1)


def duty_from_counts(high, low, freq_hz, trim=0):
    """Cycle counts of one positive and the following negative half-period
    at freq_hz -> duty in permille (rounded), or NO_DUTY when they do not
    make a 1 kHz period. trim: cycles the comparator adds to the positive half
    (its rise and fall delays differ; docs/hil.md, calibration)."""
    high -= trim
    low += trim
    period = high + low
    if high < 0 or low < 0 or period <= 0:
        return NO_DUTY
    period_us = period * 1000000 // freq_hz
    if period_us < PERIOD_MIN_US or period_us > PERIOD_MAX_US:
        return NO_DUTY
    return (high * 1000 + period // 2) // period


def plateaus(buf, n, split):
    """buf[0:n] raw ADC samples -> (high, low) raw plateau values."""
    hi = lo = buf[0]
    for i in range(1, n):
        v = buf[i]
        if v > hi:
            hi = v
        elif v < lo:
            lo = v
    if hi - lo < split:
        total = 0
        for i in range(n):
            total += buf[i]
        return total // n, total // n
    top = hi - ((hi - lo) >> 2)
    bottom = lo + ((hi - lo) >> 2)
    sum_hi = n_hi = sum_lo = n_lo = 0
    for i in range(n):
        v = buf[i]
        if v >= top:
            sum_hi += v
            n_hi += 1
        elif v <= bottom:
            sum_lo += v
            n_lo += 1
    return sum_hi // n_hi, sum_lo // n_lo  # the max and the min are in their bands


def pilot_mv(adc_mv, cal):
    """mV at the ADC pin -> mV on the pilot, by the straight line through the
    two calibration points cal = (adc_lo_mv, pilot_lo_mv, adc_hi_mv, pilot_hi_mv)."""
    a_lo, p_lo, a_hi, p_hi = cal
    return p_lo + (adc_mv - a_lo) * (p_hi - p_lo) // (a_hi - a_lo)
