# Randomised delay (UK-11, SI 2021/1467 reg 11) and the stochastic restart
# after power restoration (AG-13), on virtual time. The distribution itself is
# tested in tests/unit/test_restart_distribution.py.
from evse import restart
from evse.restart import (
    CAUSE_CHARGE_START,
    CAUSE_RATE_CHANGE,
    CAUSE_RESTORATION,
    RandomDelay,
)
from mpunit import raises

_U32_TOP = 0xFFFFFFFF
_LIMIT_601 = 4294967168  # largest multiple of 601 not above 2**32 (2**32 % 601 == 128)


def _rand_from(values):
    """rand_u32 stand-in that returns values in order and counts the draws."""
    state = [0]

    def rand_u32():
        v = values[state[0]]
        state[0] += 1
        return v

    return rand_u32, state


def test_uk11_delay_ceiling_1800_refused():
    """UK-11: the maximum is configurable up to 1800 s and refused above."""
    d = RandomDelay()
    rand, _ = _rand_from([7] * 4)
    for bad in (1801, 3600, -1, "600", None, True):
        with raises(ValueError):
            d.start(0, bad, rand, CAUSE_RESTORATION)
    assert not d.active(0)
    assert d.start(0, 1800, rand, CAUSE_RESTORATION) == 7
    assert restart.check_max_s(1800) == 1800
    with raises(ValueError):
        restart.check_max_s(1801)


def test_uk11_default_max_is_600_and_ceiling_1800():
    assert restart.DEFAULT_MAX_S == 600
    assert restart.CEILING_S == 1800
    assert RandomDelay().max_s == 600


def test_uk11_whole_seconds_both_ends_reachable():
    """[0, max] inclusive, whole seconds: u32 0 -> 0 s, the last accepted u32
    -> max s."""
    assert restart.draw_s(600, _rand_from([0])[0]) == 0
    assert restart.draw_s(600, _rand_from([_LIMIT_601 - 1])[0]) == 600
    assert restart.draw_s(600, _rand_from([601 + 42])[0]) == 42
    assert restart.draw_s(0, _rand_from([_U32_TOP])[0]) == 0
    assert restart.draw_s(1, _rand_from([_U32_TOP])[0]) == 1  # 2**32 % 2 == 0: no rejection


def test_uk11_rejection_sampling_redraws_instead_of_modulo_bias():
    """A u32 at or above the largest multiple of max+1 is drawn again."""
    assert (1 << 32) - (1 << 32) % 601 == _LIMIT_601
    rand, state = _rand_from([_LIMIT_601, _U32_TOP, 5])
    assert restart.draw_s(600, rand) == 5
    assert state[0] == 3
    rand, state = _rand_from([_LIMIT_601 - 1])
    assert restart.draw_s(600, rand) == 600 and state[0] == 1
    # a stuck entropy source does not hang the charger: 8 draws, then modulo
    rand, state = _rand_from([_U32_TOP] * 20)
    assert restart.draw_s(600, rand) == _U32_TOP % 601
    assert state[0] == 8
    # only 32 bits are used
    assert restart.draw_s(600, _rand_from([(1 << 40) + 42])[0]) == 42


def test_ag13_600s_delay_counted_down_in_virtual_time():
    """AG-13: after power restoration the EVSE idles for the random delay;
    virtual time: 600 s of ticks take milliseconds."""
    d = RandomDelay()
    t0 = 12345
    assert d.start(t0, 600, _rand_from([600])[0], CAUSE_RESTORATION) == 600
    assert d.cause == CAUSE_RESTORATION and d.delay_s == 600
    assert d.ends_at_ms == t0 + 600000
    assert d.active(t0) and d.remaining_s(t0) == 600
    assert d.remaining_s(t0 + 1) == 600  # rounded up
    assert d.remaining_s(t0 + 1000) == 599
    now = t0
    ticks = 0
    while d.active(now):  # 10 ms ticks
        now += 10
        ticks += 1
    assert now == t0 + 600000 and ticks == 60000
    assert d.remaining_s(t0 + 599999) == 0  # already over: active() latched off
    d.start(t0, 600, _rand_from([600])[0], CAUSE_RESTORATION)
    assert d.active(t0 + 599999) and d.remaining_s(t0 + 599999) == 1
    assert not d.active(t0 + 600000) and d.remaining_s(t0 + 600000) == 0


def test_uk11_override_or_dsr_cancels_a_running_delay():
    d = RandomDelay()
    d.start(0, 600, _rand_from([300])[0], CAUSE_CHARGE_START)
    assert d.active(1000)
    assert d.cancel()
    assert not d.active(1001) and d.remaining_s(1001) == 0
    assert not d.cancel()


def test_uk11_should_delay_not_during_override_or_dsr():
    """DESIGN section 5: not applied while the owner overrides or while a DSR /
    load-management limit is followed; max 0 turns it off."""
    assert restart.should_delay(False, False, 600)
    assert not restart.should_delay(True, False, 600)
    assert not restart.should_delay(False, True, 600)
    assert not restart.should_delay(False, False, 0)


def test_uk11_causes_charge_start_and_rate_change_and_unknown_refused():
    d = RandomDelay()
    for cause in (CAUSE_CHARGE_START, CAUSE_RATE_CHANGE, CAUSE_RESTORATION):
        d.start(0, 600, _rand_from([10])[0], cause)
        assert d.cause == cause and d.active(9999) and not d.active(10000)
    for bad in (restart.CAUSE_NONE, 4, "boot"):
        with raises(ValueError):
            d.start(0, 600, _rand_from([10])[0], bad)
    assert len(restart.CAUSE_NAMES) == 4


def test_uk11_start_replaces_a_running_delay_and_zero_is_no_delay():
    d = RandomDelay()
    d.start(0, 600, _rand_from([500])[0], CAUSE_CHARGE_START)
    d.start(100000, 600, _rand_from([20])[0], CAUSE_RATE_CHANGE)
    assert d.active(119999) and not d.active(120000)
    assert d.start(200000, 600, _rand_from([0])[0], CAUSE_RATE_CHANGE) == 0
    assert not d.active(200000)
    assert d.start(300000, 0, _rand_from([123456])[0], CAUSE_RESTORATION) == 0
    assert not d.active(300000)
