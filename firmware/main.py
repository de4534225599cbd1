# Board entry: MicroPython runs this file at boot. It picks the board support
# for the chip, runs the update's boot code (fwboot.py: installs a staged
# bundle, trial boot and rollback, docs/firmware_update.md), applies the meter
# port's serial format from the stored settings, then runs the controller of
# the active slot every 10 ms and feeds the watchdog.
# While a Modbus poll is under way the wait between ticks is spent in 1 ms
# steps that move the meter's transaction on (P7: the poll cycle follows the
# line time, not the 10 ms tick).
# Safety first: whatever goes wrong, the contactor opens and the pilot goes
# to state F (-12 V) before anything else happens.
import gc
import json
import sys
import time

import machine
from micropython import const

from hal.base import IND_FAULT

_TICK_MS = const(10)
FW_ROOT = "/fw"  # the update slots /fw/a and /fw/b (fwboot.py, docs/firmware_update.md)
_FAULT_HOLD_MS = const(1000)  # F for at least 300 ms after a fault (Annex A), then reset


def make_board():
    if sys.platform == "esp32":
        from hal.esp32 import Esp32Board

        return Esp32Board()
    if sys.platform == "rp2":
        from hal.rp2040 import Rp2040Board

        return Rp2040Board()
    raise OSError("no board support for platform " + sys.platform)


def apply_meter_format(board):
    """settings["meter"] baud / parity for the RS-485 port; the defaults
    (9600 8N1) stay when the file or the values are missing or invalid."""
    try:
        meter = json.loads(board.storage_read("settings.json"))["meter"]
        board.meter_configure(meter["baud"], meter["parity"])
    except Exception:  # the controller reports a bad settings file itself
        pass


def stop_safely(board):
    board.set_contactor(0)
    board.set_pwm(0)
    board.set_indicator(IND_FAULT)


def reset_board(board, hard):
    """1 hard: the chip resets (as at power-on, the randomised delay applies, AG-13);
    0 soft: the Python VM restarts and runs main.py again."""
    board.set_pwm(1000)  # x1 while the board restarts: no offer, the EV sees none
    if hard:
        machine.reset()
    machine.soft_reset()


def run(board, root=FW_ROOT):
    import fwboot

    ctl, info = fwboot.start_controller(board, root, apply_meter_format)
    trial = info["trial"]
    if not trial:  # the boot code is done: its heap back for the charger (P3)
        del sys.modules["fwboot"]
    fwboot = info = None
    ticks = 0
    gc.collect()
    next_ms = time.ticks_ms()
    while True:
        ctl.tick()
        if trial:  # a new bundle's first boots: confirmed once it runs healthy
            ticks += 1
            if _healthy(ctl, ticks):
                trial = False
        if ctl.reset_now >= 0:  # CMD_RESET (OCPP Reset): contactor open, events flushed
            reset_board(board, ctl.reset_now)
        board.wdt_feed()
        next_ms = time.ticks_add(next_ms, _TICK_MS)
        wait_ms = time.ticks_diff(next_ms, time.ticks_ms())
        while wait_ms > 0 and ctl.meter.busy:
            time.sleep_ms(1)
            ctl.meter_service()
            wait_ms = time.ticks_diff(next_ms, time.ticks_ms())
        if wait_ms > 0:
            time.sleep_ms(wait_ms)
        elif wait_ms < -_TICK_MS:
            next_ms = time.ticks_ms()  # overran by more than a tick: no burst to catch up


def _healthy(ctl, ticks):
    import fwboot

    if fwboot.healthy(ctl, ticks):
        fwboot.confirm_and_report(ctl, ctl.board)
        return True
    return False


def main():
    board = make_board()
    try:
        run(board)
    except KeyboardInterrupt:
        # Ctrl-C at the REPL (mpremote, tools/flash.py): stay at the REPL in
        # a safe state, the watchdog put aside so the session is not reset.
        board.service_mode()
        raise
    except BaseException as e:  # a bug or a hardware error: safe state, show it, restart
        try:
            stop_safely(board)
        except Exception:
            pass  # the reset below drops the pins to their pulled-down, safe levels
        sys.print_exception(e)
        try:
            time.sleep_ms(_FAULT_HOLD_MS)  # holds F; shorter than the 2 s watchdog
        except KeyboardInterrupt:
            board.service_mode()  # a crash at every boot must not lock out the REPL
            raise
        machine.reset()


if __name__ == "__main__":
    main()
