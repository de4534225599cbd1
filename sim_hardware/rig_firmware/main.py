# The HIL rig controller's entry (docs/hil.md): MicroPython runs this file at
# boot on the rig's Raspberry Pi Pico. The rig protocol's lines arrive on the
# USB serial port (the REPL's stdin) and the replies go back on it; between
# them the EV's state machine and the timed outputs run every millisecond.
# Ctrl-C (0x03, never part of a rig line) still stops the program for mpremote.
import select
import sys

from hal_rp2040 import RigHal
from rig import Rig


def main():
    hal = RigHal()
    rig = Rig(hal)
    stdin = sys.stdin.buffer
    poll = select.poll()
    poll.register(sys.stdin, select.POLLIN)
    while True:
        if poll.poll(1):
            for reply in rig.feed(stdin.read(1)):
                sys.stdout.write(reply + "\n")
        hal.poll()
        rig.tick()


main()
