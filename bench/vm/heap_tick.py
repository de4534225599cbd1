# Runs on the MicroPython 1.27 VM (bench/p3_p4_firmware_on_vm.py starts it): heap in use
# after boot and bytes allocated per control tick (P3), tick cost (P4).
import gc
import json
import time

gc.collect()
base = gc.mem_alloc()
from sim_hardware.meter_emulator import MeterEmulator  # noqa: E402
from sim_hardware.sim_board import SimBoard  # noqa: E402

gc.collect()
after_sim_import = gc.mem_alloc()
from evse.controller import Controller  # noqa: E402

gc.collect()
after_fw_import = gc.mem_alloc()
board = SimBoard(seed=7, logs=False)
# the charger's MID meter (default settings: an SDM630 at unit 1, 9600 8N1) on
# the RS-485 port, as on a real charger; its answers are meter I/O
board.ev_current_ma = [32000, 32000, 32000]
emulator = MeterEmulator("SDM630", 1, board)
sim_alloc = [0]  # bytes the emulated meter allocates answering: not the firmware's


def _meter_answer(frame):
    a = gc.mem_alloc()
    out = emulator.respond(frame)
    sim_alloc[0] += gc.mem_alloc() - a
    return out


board.meter_device = _meter_answer
meter_in = [0]
_own_meter_read = board.meter_read


def _counting_meter_read(buf):
    n = _own_meter_read(buf)
    meter_in[0] += n
    return n


board.meter_read = _counting_meter_read
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
    I/O when the board saw link bytes go out (telemetry, heartbeat, events) or
    meter bytes move either way (a Modbus request or answer)."""
    per_io = []
    per_quiet = []
    gc.collect()
    gc.disable()
    for _ in range(n):
        board.advance(10)
        out_before = len(board._link.tx)
        meter_before = len(board._meter.tx) + meter_in[0]
        sim_alloc[0] = 0
        a = gc.mem_alloc()
        ctl.tick()
        d = gc.mem_alloc() - a - sim_alloc[0]
        if (len(board._link.tx) != out_before
                or len(board._meter.tx) + meter_in[0] != meter_before):
            per_io.append(d)
        else:
            per_quiet.append(d)
        if gc.mem_free() < 200000:
            gc.enable()
            gc.collect()
            gc.disable()
        board.link_take()
        board.meter_take()
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
    "meter_polls_ok": ctl.meter.polls_ok, "meter_fault": ctl.meter.fault,
    "quiet_ticks": len(quiet), "quiet_alloc_ticks": len([d for d in quiet if d]),
    "quiet_bytes_max": max(quiet) if quiet else 0, "quiet_bytes_sum": sum(quiet),
    "io_ticks": len(io), "io_bytes_max": max(io) if io else 0,
    "clock_quiet_ticks": len(quiet_clock),
    "clock_quiet_alloc_ticks": len([d for d in quiet_clock if d]),
    "clock_quiet_bytes_max": max(quiet_clock) if quiet_clock else 0,
    "tick_us_vm": tick_us,
}))
