"""P7: the Modbus poll cycle of one meter at 9600 baud against the line time of
its frames (target <= 1.2 x), and the measured update interval of telemetry.

What is measured, in virtual time on the sim board (DESIGN §7: bench/, never
timing tests): the firmware's controller with its meter poller, unchanged,
driven exactly as firmware/main.py drives it on a board (a control tick every
10 ms, and while a Modbus transaction is under way the wait between ticks
spent in 1 ms steps that call Controller.meter_service()). The emulated meter
sits behind sim_hardware.meter_emulator.TimedLine, which models the line:
the request occupies the line for its line time at 9600 baud, the meter
starts answering t3.5 after it (the least Modbus allows, so the meter adds
nothing) and the answer's bytes arrive one character time apart. The cycle is
from the first request leaving to the moment the master may send again (its
last answer decoded + t3.5), the same span as the line time it is compared
with: the sum over the map's blocks of request + t3.5 + answer + t3.5
(protocols.modbus_rtu.poll_line_time_us). So the ratio is the master's own
overhead: its waits, its millisecond clock and the 1 ms service steps. The
same with the control tick alone (no service between ticks) is shown too.

Telemetry: a charge with the meter polled every second, the EV's current
changing by 4 A every 20 s; the gaps between TELEMETRY messages on the link,
the age of the meter values they carry (meter_age_ms) and how long a change of
current takes to reach the link, for telemetry_interval_s 1, 10 and 60 s.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "firmware"), str(ROOT / "tests" / "portable")]

from evse_rig import charging_rig  # noqa: E402

from evse.controller import Controller  # noqa: E402
from protocols import link_messages as lm  # noqa: E402
from protocols import meters  # noqa: E402
from protocols import modbus_rtu as rtu  # noqa: E402
from sim_hardware.meter_emulator import MeterEmulator, TimedLine  # noqa: E402
from sim_hardware.sim_board import SimBoard  # noqa: E402

TARGET = 1.2
BAUD = 9600
TICK_MS = 10
CYCLES = 20


def poll_cycles(model, parity, service):
    """Measured poll cycles (ms) of one meter under the controller."""
    board = SimBoard(seed=3, logs=False)
    board.ev_current_ma = [16000, 16000, 16000]
    emu = MeterEmulator(model, 1, board)
    emu.baud, emu.parity = BAUD, parity
    TimedLine(board, emu.respond)
    ctl = Controller(board, {"random_delay_max_s": 0, "meter": {
        "model": model, "unit_id": 1, "baud": BAUD, "parity": parity, "poll_ms": 1000}})
    m = ctl.meter
    cycles = []
    seq = m.good_seq
    t = 0
    while len(cycles) < CYCLES and t < 60000:
        board.advance(1)
        t += 1
        if t % TICK_MS == 0:
            ctl.tick()
        elif service and m.busy:
            ctl.meter_service()  # main.py: 1 ms steps while a transaction runs
        if m.good_seq != seq:
            seq = m.good_seq
            cycles.append(board.ticks_ms() - m.cycle_ms + m.t35_ms)
    assert m.fault == 0 and sum(m.errors) == 0, m.status(board.ticks_ms())
    return cycles


def line_time_ms(model, parity):
    blocks = meters.get(model)["blocks"]
    return sum(rtu.poll_line_time_us(count, BAUD, parity) for _, count in blocks) / 1000


def telemetry(interval_s, seconds=120):
    """-> gaps between TELEMETRY messages, the meter_age_ms they carried, and
    the delay from each change of the EV's current to the first TELEMETRY
    showing it."""
    rig = charging_rig({"random_delay_max_s": 0, "telemetry_interval_s": interval_s})
    rig.board.ev_current_ma = [16000, 16000, 16000]
    rig.run(2000)
    times, ages, delays = [], [], []
    changed_ms = None
    for i in range(seconds * 1000 // TICK_MS):
        if i % 2000 == (1234 + 17 * (i // 2000)) % 2000:  # every ~20 s, at another phase
            a = rig.board.ev_current_ma[0]
            rig.board.ev_current_ma = [a - 4000 if a > 12000 else a + 4000] * 3
            changed_ms = rig.now_ms
        n = len(rig.up)
        rig.tick()
        for t, _, f in rig.up[n:]:
            if t == lm.TELEMETRY:
                times.append(rig.now_ms)
                ages.append(f["meter_age_ms"])
                if changed_ms is not None and f["current_l1_ma"] == rig.board.ev_current_ma[0]:
                    delays.append(rig.now_ms - changed_ms)
                    changed_ms = None
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return gaps, ages, delays


def main():
    print("P7 Modbus poll cycle at %d baud vs the line time of its frames (target <= %.1f x)"
          % (BAUD, TARGET))
    print("  virtual time; the emulated meter answers t3.5 after the request at line rate")
    worst = 0.0
    for model in sorted(meters.METERS):
        parity = meters.get(model)["parity"]
        line = line_time_ms(model, parity)
        fw = poll_cycles(model, parity, service=True)
        tick = poll_cycles(model, parity, service=False)
        r_fw = max(fw) / line
        r_tick = max(tick) / line
        if model == "SDM630":
            worst = r_fw
        print("  %-9s 8%s1 %d blocks: line time %6.1f ms | as main.py runs it: cycle %d ms,"
              " ratio %.3f %s | control tick alone: cycle %d ms, ratio %.3f"
              % (model, parity, len(meters.get(model)["blocks"]), line, max(fw), r_fw,
                 "ok" if r_fw <= TARGET else "OVER", max(tick), r_tick))
    print("  P7 (SDM630, one meter, 9600 baud): %.3f x the line time -> %s"
          % (worst, "met" if worst <= TARGET else "NOT met"))
    print("P7 telemetry update interval on the link (virtual time, meter polled every 1 s,"
          " EV current steps of 4 A every 20 s)")
    for interval_s in (1, 10, 60):
        gaps, ages, delays = telemetry(interval_s)
        print("  telemetry_interval_s %3d: %3d messages in 120 s, gap mean %5.0f ms, max %5d ms"
              " (max/setting %.2f); meter_age_ms mean %.0f, max %d; a current change on the"
              " link after mean %.0f ms, max %d ms (%d changes)"
              % (interval_s, len(gaps) + 1, sum(gaps) / len(gaps), max(gaps),
                 max(gaps) / (interval_s * 1000), sum(ages) / len(ages), max(ages),
                 sum(delays) / len(delays), max(delays), len(delays)))


if __name__ == "__main__":
    main()
