# The rig HAL on a Raspberry Pi Pico (RP2040): what rig.py drives and reads.
# Pin map, front end and calibration: docs/hil.md (keep the two in step).
#
# Outputs: one GPIO per rig.OUT_* bit, through ULN2803A drivers to the relays
#   (the driver's inputs pull down: every relay drops while the Pico resets,
#   which disconnects the EV and cuts the charger's mains; see docs/hil.md).
# Duty: the pilot comparator's output into a PIO state machine that counts
#   the system clock through each positive and negative half-period.
# Plateaus: ADC bursts on the CP sense divider (measure.plateaus).
# Contactor: the charger contactor's spare auxiliary contact to GND.
import time
from array import array

import machine
import measure
import rp2
from machine import ADC, Pin
from micropython import const
from pio_timer import half_periods

# --- pin map (docs/hil.md, "Wiring") --------------------------------------------
_OUT_PINS = (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)  # rig.OUT_* bit 0..12
_AUX_PIN = const(15)  # <- contactor auxiliary contact to GND, low = closed
_CMP_PIN = const(16)  # <- pilot comparator, high = CP above about +1 V
_CP_ADC_PIN = const(26)  # ADC0 <- CP sense divider

# --- the charger under test -----------------------------------------------------
CYCLE_MS = 3000  # a mains cut this long restarts the charger (its supply's hold-up)

# --- calibration (docs/hil.md, "Calibration") -------------------------------------
# The CP sense divider as on the charger (100 k / 20 k to 3V3 / 13.7 k to GND):
# ADC mV at -12 V and +12 V on the pilot. Measure and replace on each rig.
_CAL = (338, -12000, 2143, 12000)
_ADC_VREF_MV = const(3300)
_SPLIT_U16 = const(2979)  # 150 mV at the ADC = 2 V on the pilot: one steady level
_SAMPLES = const(512)
_BURST_US = const(4100)  # four PWM periods: a few samples on a 30 us plateau
_TRIM_CYCLES = const(0)  # comparator rise minus fall delay, in system clock cycles
_STEADY_MS = const(5)  # no PWM period for this long: the level stands still


class RigHal:
    cycle_ms = CYCLE_MS

    def __init__(self):
        self._outs = [Pin(p, Pin.OUT, value=0) for p in _OUT_PINS]
        self._aux = Pin(_AUX_PIN, Pin.IN, Pin.PULL_UP)
        self._cmp = Pin(_CMP_PIN, Pin.IN)
        self._adc = ADC(Pin(_CP_ADC_PIN))
        self._buf = array("H", bytes(2 * _SAMPLES))
        self._freq_hz = machine.freq()
        self._sm = rp2.StateMachine(0, half_periods, freq=self._freq_hz, in_base=self._cmp,
                                    jmp_pin=self._cmp)
        self._sm.active(1)
        self._words = 0  # words read from the FIFO: even = the next is a high count
        self._high = 0
        self._duty = 0
        self._duty_ms = -10000
        self._hi_mv = 0
        self._lo_mv = 0
        self._raw_ms = time.ticks_ms()
        self._ms = 0

    def ticks_ms(self):
        raw = time.ticks_ms()
        self._ms += time.ticks_diff(raw, self._raw_ms)
        self._raw_ms = raw
        return self._ms

    def set_outputs(self, bits):
        outs = self._outs
        for i in range(len(outs)):
            outs[i].value((bits >> i) & 1)

    def poll(self):
        """Drain the PIO FIFO (main.py calls this every loop, so the counts
        are at most a few ms old); the last whole period gives the duty."""
        sm = self._sm
        while sm.rx_fifo():
            count = sm.get() * 2  # two cycles per loop
            if self._words & 1 == 0:
                self._high = count
            else:
                d = measure.duty_from_counts(self._high, count, self._freq_hz, _TRIM_CYCLES)
                if d != measure.NO_DUTY:
                    self._duty = d
                    self._duty_ms = self.ticks_ms()
            self._words += 1

    def duty_permille(self):
        self.poll()
        if self.ticks_ms() - self._duty_ms <= _STEADY_MS:
            return self._duty
        return 1000 if self._cmp.value() else 0  # no PWM: x1 (+12 V) or F / E

    def cp_high_mv(self):
        buf = self._buf
        adc = self._adc
        n = 0
        t0 = time.ticks_us()
        while n < _SAMPLES:
            buf[n] = adc.read_u16()
            n += 1
            if time.ticks_diff(time.ticks_us(), t0) >= _BURST_US:
                break
        hi, lo = measure.plateaus(buf, n, _SPLIT_U16)
        self._hi_mv = measure.pilot_mv(hi * _ADC_VREF_MV >> 16, _CAL)
        self._lo_mv = measure.pilot_mv(lo * _ADC_VREF_MV >> 16, _CAL)
        return self._hi_mv

    def cp_low_mv(self):
        return self._lo_mv  # from the burst of the cp_high_mv() just before

    def contactor_closed(self):
        return 1 if self._aux.value() == 0 else 0
