# The supply side of the sim board (MicroPython subset, integers only):
# voltage per phase and frequency that scenarios vary (T7-PQ), and outages.
#
# An outage (cut) takes the MCU down at once: its outputs fall to their reset
# levels (contactor released, CP driver pulled down to F) and the board's
# mains_mv / mains_mhz read 0, so no current flows. restore() is a power-on
# reset of the same board (SimBoard.power_cut(0)): storage, the EV and the
# cable stay; whoever owns the controller builds a new one on the board
# (the charger does, through on_restore), and the firmware then runs its
# restoration delay (AG-13). Time goes on through the outage: the EV still
# steps and sees the line at F.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


NOMINAL_MV = const(230000)
NOMINAL_MHZ = const(50000)
MAX_MV = const(500000)
MIN_MHZ = const(40000)
MAX_MHZ = const(70000)


class Mains:
    def __init__(self, board, voltage_mv=NOMINAL_MV, frequency_mhz=NOMINAL_MHZ):
        self.board = board
        self.voltage_mv = [voltage_mv, voltage_mv, voltage_mv]
        self.frequency_mhz = frequency_mhz
        self.up = True
        self.outages = 0
        self.on_restore = None  # called with no argument after each restoration
        self._apply()

    def _apply(self):
        b = self.board
        for i in range(3):
            b.mains_mv[i] = self.voltage_mv[i] if self.up else 0
        b.mains_mhz = self.frequency_mhz if self.up else 0

    def set_voltage_mv(self, voltage_mv, phase=0):
        """phase 1..3, or 0 for all three (T7-PQ: sags, swells, imbalance)."""
        if type(voltage_mv) is not int or not 0 <= voltage_mv <= MAX_MV:
            raise ValueError("mains voltage must be 0..%d mV, got %r" % (MAX_MV, voltage_mv))
        if phase not in (0, 1, 2, 3):
            raise ValueError("phase must be 1, 2, 3 or 0 (all), got %r" % (phase,))
        for i in range(3):
            if phase == 0 or phase == i + 1:
                self.voltage_mv[i] = voltage_mv
        self._apply()

    def set_frequency_mhz(self, frequency_mhz):
        if type(frequency_mhz) is not int or not MIN_MHZ <= frequency_mhz <= MAX_MHZ:
            raise ValueError("mains frequency must be %d..%d mHz, got %r"
                             % (MIN_MHZ, MAX_MHZ, frequency_mhz))
        self.frequency_mhz = frequency_mhz
        self._apply()

    def cut(self):
        """The supply is lost: the MCU stops with its outputs at reset levels."""
        if not self.up:
            return
        self.up = False
        self.outages += 1
        b = self.board
        b.set_contactor(0)
        b.set_pwm(0)
        b.set_indicator(0)
        self._apply()

    def restore(self):
        """The supply is back: a power-on reset of the board (AG-13)."""
        if self.up:
            return
        self.up = True
        self.board.power_cut(0)
        self._apply()
        if self.on_restore is not None:
            self.on_restore()

    def describe(self):
        return {"up": self.up, "voltage_mv": list(self.voltage_mv),
                "frequency_mhz": self.frequency_mhz, "outages": self.outages}
