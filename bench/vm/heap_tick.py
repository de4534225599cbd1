# Runs on the MicroPython 1.27 VM (bench/p3_p4_firmware_on_vm.py starts it): heap in use
# after boot and bytes allocated per control tick (P3), tick cost (P4).
import gc
import json
import time

gc.collect()
base = gc.mem_alloc()
from sim_hardware.sim_board import SimBoard  # noqa: E402

gc.collect()
after_sim_import = gc.mem_alloc()
from evse.controller import Controller  # noqa: E402

gc.collect()
after_fw_import = gc.mem_alloc()
board = SimBoard(seed=7, logs=False)
gc.collect()
after_board = gc.mem_alloc()
ctl = Controller(board, {"random_delay_max_s": 0})
gc.collect()
after_boot = gc.mem_alloc()


def ticks(n):
    for _ in range(n):
        board.advance(10)
        ctl.tick()


def measure(n):
    """Per-tick allocation over n ticks with the collector off; a tick counts as
    I/O when the board saw link bytes go out (telemetry, heartbeat, events)."""
    per_io = []
    per_quiet = []
    gc.collect()
    gc.disable()
    for _ in range(n):
        board.advance(10)
        out_before = len(board._link.tx)
        a = gc.mem_alloc()
        ctl.tick()
        d = gc.mem_alloc() - a
        if len(board._link.tx) != out_before:
            per_io.append(d)
        else:
            per_quiet.append(d)
        if gc.mem_free() < 200000:
            gc.enable()
            gc.collect()
            gc.disable()
        board.link_take()
    gc.enable()
    return per_quiet, per_io


ticks(50)  # boot, settle
board.plug("B", 220)
ticks(100)
board.set_ev_state("C")
ticks(300)  # charging, steady
quiet, io = measure(3000)
t0 = time.ticks_us()
ticks(2000)
tick_us = time.ticks_diff(time.ticks_us(), t0) / 2000
# the same with a synced wall clock: TIME_SYNC's unix ms (> 2**30) become wall
# ms at the edge, as the uplink does; the controller keeps small-int wall seconds
from evse.windows import EPOCH_UNIX_S  # noqa: E402

ctl.set_wall_clock(1767225600000 - EPOCH_UNIX_S * 1000, board.ticks_ms())
ticks(200)
quiet_clock, io_clock = measure(3000)
print("@@bench " + json.dumps({
    "vm": __import__("sys").version,
    "heap_sim_import": after_sim_import - base,
    "heap_fw_import": after_fw_import - after_sim_import,
    "heap_board": after_board - after_fw_import,
    "heap_controller": after_boot - after_board,
    "state": ctl.status()["session"],
    "quiet_ticks": len(quiet), "quiet_alloc_ticks": len([d for d in quiet if d]),
    "quiet_bytes_max": max(quiet) if quiet else 0, "quiet_bytes_sum": sum(quiet),
    "io_ticks": len(io), "io_bytes_max": max(io) if io else 0,
    "clock_quiet_ticks": len(quiet_clock),
    "clock_quiet_alloc_ticks": len([d for d in quiet_clock if d]),
    "clock_quiet_bytes_max": max(quiet_clock) if quiet_clock else 0,
    "tick_us_vm": tick_us,
}))
