"""firmware/main.py's loop on CPython with a fake `machine` and `time`: the controller on
the sim board, ticked every 10 ms; a CMD_RESET from the gateway (OCPP Reset) resets the
board once the contactor is open: machine.reset() for hard, machine.soft_reset() for soft,
with the pilot at x1 (no offer) while it restarts."""

import importlib.util
import sys
import types
from pathlib import Path

import pytest

from protocols import link
from protocols import link_messages as lm
from sim_hardware.sim_board import SimBoard

MAIN = Path(__file__).resolve().parents[2] / "firmware" / "main.py"


class Reset(Exception):
    pass


def _load_main(monkeypatch, board):
    machine = types.ModuleType("machine")

    def reset():
        raise Reset("hard")

    def soft_reset():
        raise Reset("soft")

    machine.reset, machine.soft_reset = reset, soft_reset
    fake_time = types.ModuleType("time")
    fake_time.ticks_ms = lambda: board.now_ms
    fake_time.ticks_add = lambda a, b: a + b
    fake_time.ticks_diff = lambda a, b: a - b
    def sleep_ms(ms):
        if board.now_ms > 10000:
            raise AssertionError("no reset within 10 s of the command")
        board.advance(ms)

    fake_time.sleep_ms = sleep_ms
    upy = types.ModuleType("micropython")
    upy.const = lambda x: x
    monkeypatch.setitem(sys.modules, "machine", machine)
    monkeypatch.setitem(sys.modules, "micropython", upy)
    monkeypatch.setitem(sys.modules, "time", fake_time)
    spec = importlib.util.spec_from_file_location("board_main", MAIN)
    main = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(main)
    return main


@pytest.mark.parametrize(("arg", "kind"), [(1, "hard"), (0, "soft")])
def test_cmd_reset_resets_the_board(monkeypatch, arg, kind):
    board = SimBoard(seed=1, logs=False)
    main = _load_main(monkeypatch, board)
    board.link_inject(link.encode_frame(lm.HELLO, {
        "major": lm.PROTOCOL_MAJOR, "minor": lm.PROTOCOL_MINOR, "role": lm.ROLE_GATEWAY,
        "flags": 0, "phases": 0, "capabilities": 0, "max_current_ma": 0,
        "link_timeout_ms": 0, "unacked_seq": 0, "sw_version": "test"}))
    board.link_inject(link.encode_frame(lm.COMMAND, {"command": lm.CMD_RESET, "arg": arg},
                                        tag=7))
    with pytest.raises(Reset) as e:
        main.run(board)
    assert str(e.value) == kind
    assert board.duty_permille == 1000 and not board.contacts_closed()
    assert board.now_ms < 2000  # at once, not after a timeout
