"""AG-13 / UK-11 through the whole controller: 2,000 power restorations of one
charger on the sim board, an EV plugged in and asking (state C) the whole time.

Each restoration is SimBoard.power_cut (the MCU restarts; storage, the EV and the
cable stay) and a new Controller on the same board. The charger must be idle from
its first instant (x1, contactor open), and the delay it then runs must be
uniform on [0, 600] whole seconds: Pearson's chi-square over the 601 seconds and
the Kolmogorov-Smirnov distance to the discrete uniform, both at alpha = 0.001
(tests/unit/uniformity.py; the board's xorshift32 entropy is seeded, so the run is
repeatable). A sample of restorations is followed in virtual time to check that
the offer appears when, and only when, the drawn delay has run out.
"""

import json

from evse.controller import Controller
from sim_hardware.sim_board import SimBoard
from uniformity import ALPHA_SEEDED, assert_uniform

MAX_S = 600
RESTORATIONS = 2000
TICK_MS = 10


def _board():
    board = SimBoard(seed=2026, logs=False)
    board.storage["settings.json"] = json.dumps({"random_delay_max_s": MAX_S}).encode()
    board.plug("C", 220)
    return board


def _restore(board):
    board.power_cut(5000)
    ctl = Controller(board)
    # idle from the first instant: the constructor drives x1 and opens the contactor
    assert board.duty_permille == 1000 and board.contactor_cmd == 0
    board.advance(TICK_MS)
    ctl.tick()
    assert board.duty_permille == 1000 and board.contactor_cmd == 0
    for _ in range(2):  # a 0 s draw may offer as soon as the pilot is read
        board.advance(TICK_MS)
        ctl.tick()
        assert ctl.delay.delay_s == 0 or (board.duty_permille == 1000
                                          and board.contactor_cmd == 0)
    return ctl


def test_ag13_uk11_delay_over_2000_restorations_is_uniform_and_idle_first():
    board = _board()
    counts = [0] * (MAX_S + 1)
    for _ in range(RESTORATIONS):
        ctl = _restore(board)
        counts[ctl.delay.delay_s] += 1
    chi2, d = assert_uniform(counts, ALPHA_SEEDED)
    assert counts[0] > 0 and counts[MAX_S] > 0
    print("restorations %d: chi-square %.1f (df %d), KS D %.4f" % (
        RESTORATIONS, chi2, MAX_S, d))


def test_ag13_offer_starts_when_the_drawn_delay_ends():
    board = _board()
    for _ in range(12):
        ctl = _restore(board)
        delay_ms = ctl.delay.delay_s * 1000
        booted = board.now_ms - 3 * TICK_MS
        # jump to just before the end of the delay: still idle
        board.advance(max(0, booted + delay_ms - TICK_MS - board.now_ms))
        ctl.tick()
        if delay_ms > 2 * TICK_MS:
            assert board.duty_permille == 1000 and board.contactor_cmd == 0
        for _ in range(300):  # then PWM within a few ticks and charging within 3 s
            board.advance(TICK_MS)
            ctl.tick()
            if board.contactor_cmd:
                break
        assert 0 < board.duty_permille < 1000 and board.contactor_cmd == 1
