"""P3 (firmware heap after boot, bytes allocated per steady tick) and P4 (cost
of one control tick), measured on the MicroPython 1.27 VM (node + the official
WebAssembly port, 32-bit like the boards).

Two layouts: the sources as they are (the VM compiles them at import) and the
.mpy tree `make flash` copies to a board (tools/flash.py --build-only). A
firmware frozen into the image keeps its bytecode in flash and needs less RAM
than either; the VM cannot show that. The steady tick is a charging session at
32 A with no link traffic due and the charger's emulated SDM630 on the RS-485
port; ticks that write to the link or move meter bytes are counted apart.
P4's bytecode-level cost is the number of CPython bytecode instructions one
steady tick executes (sys.settrace with opcode events), a proxy independent of
the machine; the µs figure is the VM's on this machine, not an ESP32's.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "firmware"), str(ROOT / "tools")]

HEAP_TARGET_B = 48 * 1024
HEAP_BOARD_B = 110 * 1024  # ESP32 generic heap, DESIGN §7
TICK_PERIOD_US = 10_000


def on_vm(board_dir=None):
    cmd = ["node", str(ROOT / "tests" / "mpvm" / "run.mjs")]
    if board_dir:
        cmd += ["--board-dir", str(board_dir)]
    cmd += ["--script", str(ROOT / "bench" / "vm" / "heap_tick.py")]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    for line in out.stdout.splitlines():
        if line.startswith("@@bench "):
            return json.loads(line[8:])
    raise SystemExit("the VM run failed:\n" + out.stdout + out.stderr)


def cpython_opcodes_per_tick(n=200):
    from evse.controller import Controller
    from sim_hardware.meter_emulator import MeterEmulator
    from sim_hardware.sim_board import SimBoard

    board = SimBoard(seed=7, logs=False)
    board.meter_device = MeterEmulator("SDM630", 1, board).respond
    ctl = Controller(board, {"random_delay_max_s": 0})

    def run(ticks):
        for _ in range(ticks):
            board.advance(10)
            ctl.tick()

    run(50)
    board.plug("B", 220)
    run(100)
    board.set_ev_state("C")
    run(300)
    count = [0]

    def tracer(frame, event, arg):
        frame.f_trace_opcodes = True
        if event == "opcode":
            count[0] += 1
        return tracer

    sim_files = ("sim_board.py", "base.py", "meter_emulator.py")
    firmware_only = [0]

    def fw_tracer(frame, event, arg):
        frame.f_trace_opcodes = True
        if event == "opcode" and not frame.f_code.co_filename.endswith(sim_files):
            firmware_only[0] += 1
        return fw_tracer

    sys.settrace(fw_tracer)
    for _ in range(n):
        board.advance(10)
        ctl.tick()
    sys.settrace(None)
    return firmware_only[0] / n


def report(label, r):
    heap = r["heap_fw_import"] + r["heap_controller"]
    print("  %s" % label)
    print("    heap after boot: %.1f KB (imports %.1f KB + controller objects %.1f KB)"
          " = %.2f x the 48 KB target, %.0f %% of a 110 KB ESP32 heap"
          % (heap / 1024, r["heap_fw_import"] / 1024, r["heap_controller"] / 1024,
             heap / HEAP_TARGET_B, 100 * heap / HEAP_BOARD_B))
    print("    steady ticks without link or meter I/O: %d, of which allocating: %d (max %d B) -> %s"
          % (r["quiet_ticks"], r["quiet_alloc_ticks"], r["quiet_bytes_max"],
             "0 bytes per tick" if not r["quiet_alloc_ticks"] else "ALLOCATES"))
    print("    same with the wall clock synced (TIME_SYNC): %d of %d ticks allocate (max %d B)"
          % (r["clock_quiet_alloc_ticks"], r["clock_quiet_ticks"], r["clock_quiet_bytes_max"]))
    print("    ticks with link or meter I/O: %d, max %d B each (meter: %d good polls, fault %d)"
          % (r["io_ticks"], r["io_bytes_max"], r["meter_polls_ok"], r["meter_fault"]))
    print("    P4 tick cost on the VM: %.1f us = %.4f of the 10 ms tick period"
          % (r["tick_us_vm"], r["tick_us_vm"] / TICK_PERIOD_US))


def main():
    from flash import compile_tree

    print("P3/P4 firmware on the MicroPython VM")
    src = on_vm()
    print("  VM: %s, state during the steady ticks: %s" % (src["vm"], src["state"]))
    report("sources (compiled at import)", src)
    with tempfile.TemporaryDirectory() as tmp:
        compile_tree("rp2040", tmp)
        report(".mpy tree as `make flash` copies it", on_vm(tmp))
    ops = cpython_opcodes_per_tick()
    print("  P4 bytecode-level cost: %.0f CPython bytecode instructions per steady tick"
          " (firmware code only, sim board excluded)" % ops)


if __name__ == "__main__":
    main()
