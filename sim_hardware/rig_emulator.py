"""python -m sim_hardware.rig_emulator [--seed N] [--cycle-ms MS]

A HIL rig with a charger board in it, emulated (docs/hil.md, "Without hardware"): the rig
controller's own command handler (sim_hardware/rig_firmware/rig.py) on CPython, driving a
rig HAL that acts on the pilot line, the PP contact, the button and the mains of a
sim_hardware Charger (the firmware core on the sim board) stepped in real time, 10 ms per
tick. The rig protocol is served on one pty, the board's gateway link on another; it prints

    rig: /dev/pts/N
    link: /dev/pts/M

and runs until SIGTERM / SIGINT. `python -m conformance --target hil --port RIG --link-port
LINK` then runs the suite's HIL target against it exactly as against a real rig."""

import argparse
import os
import selectors
import signal
import sys
import time
import tty
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT / "firmware"), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from hal.base import PP_OPEN_OHMS  # noqa: E402
from sim_hardware.charger import TICK_MS, Charger  # noqa: E402
from sim_hardware.process import PtyLink  # noqa: E402
from sim_hardware.rig_firmware import rig as rig_fw  # noqa: E402

EV_B_OHMS = 2740  # the EV circuit behind its diode (IEC 61851-1 Annex A)
PARALLEL_OHMS = ((rig_fw.OUT_C, 1300), (rig_fw.OUT_D, 270), (rig_fw.OUT_GAP, 3090))
COMPARATOR_MV = 1000  # the rig's pilot comparator trips at about +1 V
OUTAGE_MS = 10 ** 12  # a cut the rig ends itself (MAINS ON)
MAX_BATCH = 100  # ticks caught up at once after a stall


def _parallel(a, b):
    return (a * b + (a + b) // 2) // (a + b)


class SimRigHal:
    """The rig HAL (rig_firmware/rig.py) on a Charger: each output acts on the sim board as
    its relay acts on a real pilot line; the duty is what the rig's comparator would see."""

    def __init__(self, charger, cycle_ms):
        self.ch = charger
        self.cycle_ms = cycle_ms

    def ticks_ms(self):
        return self.ch.board.now_ms

    def set_outputs(self, bits):
        b = self.ch.board
        if bits & rig_fw.OUT_EV:
            ohms = EV_B_OHMS
            for bit, r in PARALLEL_OHMS:
                if bits & bit:
                    ohms = _parallel(ohms, r)
            b.set_ev_ohms(ohms)
        else:
            b.set_ev_state("A")
        if bits & rig_fw.OUT_DIODE_BYPASS:
            b.remove_diode()
        else:
            b.restore_diode()
        if bits & rig_fw.OUT_CP_SHORT:
            b.short_cp()
        else:
            b.clear_short()
        pp = PP_OPEN_OHMS
        for i in range(len(rig_fw.PP_BITS)):
            if bits & rig_fw.PP_BITS[i]:
                pp = rig_fw.PP_OHMS[i]
        b.set_pp_ohms(pp)
        b.set_button(1 if bits & rig_fw.OUT_BUTTON else 0)
        up = self.ch.mains.up
        if bits & rig_fw.OUT_MAINS and not up:
            self.ch.restore()
        elif not bits & rig_fw.OUT_MAINS and up:
            self.ch.power_cut(OUTAGE_MS)

    def duty_permille(self):
        b = self.ch.board
        high = b.cp_high_mv() > COMPARATOR_MV
        low = b.cp_low_mv() > COMPARATOR_MV
        if high and not low:
            return b.duty_permille  # edges on the line: the PWM the firmware drives
        return 1000 if high else 0  # a steady level

    def cp_high_mv(self):
        return self.ch.board.cp_high_mv()

    def cp_low_mv(self):
        return self.ch.board.cp_low_mv()

    def contactor_closed(self):
        return self.ch.board.contacts_closed()


class RigPort:
    """The rig's USB serial port as a pty: request lines in, reply lines out."""

    def __init__(self, sel, rig):
        self.rig = rig
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        sel.register(self.master, selectors.EVENT_READ, self._read)
        self.sel = sel

    def _read(self):
        try:
            data = os.read(self.master, 4096)
        except (BlockingIOError, OSError):
            return
        for reply in self.rig.feed(data):
            try:
                os.write(self.master, (reply + "\n").encode())
            except (BlockingIOError, OSError):
                pass  # nobody reads: dropped, as on a USB port nobody has open

    def close(self):
        self.sel.unregister(self.master)
        os.close(self.master)
        os.close(self.slave)


class Emulator:
    def __init__(self, seed=1, cycle_ms=200):
        self.charger = Charger(seed=seed, trace=False)
        self.rig = rig_fw.Rig(SimRigHal(self.charger, cycle_ms))
        self.sel = selectors.DefaultSelector()
        self.port = RigPort(self.sel, self.rig)
        self.link = PtyLink(self.sel)
        self.stop = False

    def _tick(self):
        b = self.charger.board
        data = self.link.take()
        if data:
            b.link_inject(data)
        self.charger.tick(TICK_MS)
        out = self.charger.link_take()  # with what went out just before a reset
        if out:
            self.link.write(out)
        self.rig.tick()

    def run(self):
        tick_s = TICK_MS / 1000
        start = time.monotonic()
        done = 0
        while not self.stop:
            due = int((time.monotonic() - start) / tick_s)
            if due - done > MAX_BATCH:  # stalled (a busy machine): carry on from now
                done = due - MAX_BATCH
            while done < due:
                self._tick()
                done += 1
            wait = start + (done + 1) * tick_s - time.monotonic()
            for key, _ in self.sel.select(max(wait, 0)):
                key.data()

    def close(self):
        self.port.close()
        self.link.close()
        self.sel.close()


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m sim_hardware.rig_emulator",
                                description=__doc__.split("\n\n")[1])
    p.add_argument("--seed", type=int, default=1, help="entropy seed of the sim board")
    p.add_argument("--cycle-ms", type=int, default=200,
                   help="mains cut that restarts the emulated board, as the rig's HELLO "
                        "announces it (default 200; a real charger needs seconds)")
    a = p.parse_args(argv)
    if not 1 <= a.cycle_ms <= 60000:
        p.error("--cycle-ms must be 1..60000, got %d" % a.cycle_ms)
    emu = Emulator(a.seed, a.cycle_ms)
    stop = lambda *_: setattr(emu, "stop", True)  # noqa: E731
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("rig_emulator: rig controller %s on the sim board, real time" % rig_fw.VERSION)
    print("rig: " + emu.port.path)
    print("link: " + emu.link.url, flush=True)
    try:
        emu.run()
    finally:
        emu.close()
    print("rig_emulator: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
