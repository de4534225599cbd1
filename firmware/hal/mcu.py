# Board support shared by the ESP32 and RP2040 boards: what is the same
# `machine` API on both. esp32.py / rp2040.py build the pins, UARTs and ADCs
# from their pin maps and hand them in (micropython-lib style: the caller owns
# the hardware), then add what differs: CP / PP sampling and conversion, the
# reset-cause table and how the watchdog is put aside for service.
# The analogue front end and the wiring are in docs/hardware.md.
import os
import time

import machine
from micropython import const

from hal.base import (
    FEEDBACK_CLOSED,
    FEEDBACK_NOT_FITTED,
    FEEDBACK_OPEN,
    IND_COUNT,
    IND_FAULT,
    RESET_OTHER,
    TAMPER_CLOSED,
    TAMPER_NOT_FITTED,
    TAMPER_OPEN,
    Board,
)

DATA_DIR = "/data"  # storage_read/write files live here, apart from the code
_WDT_TIMEOUT_MS = const(2000)  # 200 ticks of 10 ms
_ACTIVE_LOW = const(0)  # feedback, RCD, 6 mA DC and button inputs pull to GND when active
_RGB_RED = const(4)
_RGB_GREEN = const(2)
_RGB_BLUE = const(1)
# IND_* code -> RGB bits, read by index without allocating (hal/base.py lists the colours)
_RGB = b"\x00\x02\x03\x01\x06\x05\x07\x04"
_PARITY = {"N": None, "E": 0, "O": 1}  # Modbus settings letter -> machine.UART parity
# CP sampling windows: two PWM periods; four when a plateau is under 100 us
# (duty < 10 % or > 90 %); a steady level needs only a few samples.
_CP_PWM_WINDOW_US = const(2100)
_CP_SHORT_PLATEAU_WINDOW_US = const(4100)
_CP_STEADY_WINDOW_US = const(200)


class McuBoard(Board):
    """Board on a MicroPython MCU. Arguments are machine objects:
    pwm: machine.PWM at 1 kHz on the CP driver input, duty 0 (state F);
    contactor: output Pin, 1 = energise; feedback: input Pin or None (not
    fitted); rcd, dc6: input Pins of the RCD trip and the 6 mA DC module;
    button: input Pin; leds: (red, green, blue) output Pins; link, meter:
    machine.UART objects with timeout 0; meter_de: output Pin driving the
    RS-485 transceiver's DE and /RE; cal: (adc_mv_lo, pilot_mv_lo, adc_mv_hi,
    pilot_mv_hi) two-point calibration of the CP sense front end; cp_buf: a
    preallocated array for one burst of CP samples; cp_split: the spread, in
    the ADC's unit, below which a burst is one steady level; causes:
    (machine reset-cause name, RESET_*) pairs; tamper: input Pin with pull-up
    of the lid microswitch (its contact to GND made while the lid is on:
    high = lid off or wire cut) or None (not fitted)."""

    def __init__(self, pwm, contactor, feedback, rcd, dc6, button, leds, link, meter,
                 meter_de, cal, cp_buf, cp_split, causes, tamper=None):
        contactor.value(0)
        meter_de.value(0)
        self._pwm = pwm
        self._duty = 0
        pwm.duty_u16(0)
        self._contactor = contactor
        self._closed = 0
        self._feedback = feedback
        self._rcd = rcd
        self._dc6 = dc6
        self._button = button
        self._tamper = tamper
        self._led_r = leds[0]
        self._led_g = leds[1]
        self._led_b = leds[2]
        self._ind = -1
        self._link = link
        self._meter = meter
        self._meter_de = meter_de
        self._cal_adc_lo = cal[0]
        self._cal_pilot_lo = cal[1]
        self._cal_adc_span = cal[2] - cal[0]
        self._cal_pilot_span = cal[3] - cal[1]
        self._cp_buf = cp_buf
        self._cp_split = cp_split
        self._cp_hi_mv = 0
        self._cp_lo_mv = 0
        self._hi_fresh = False
        self._lo_fresh = False
        self._wdt = None
        self._raw_ms = time.ticks_ms()
        self._ms = self._raw_ms
        cause = machine.reset_cause()
        self._cause = RESET_OTHER
        for name, code in causes:
            if getattr(machine, name, None) == cause:
                self._cause = code
        try:
            os.mkdir(DATA_DIR)
        except OSError:
            pass  # exists
        self.set_indicator(0)

    # -- time and entropy -------------------------------------------------
    def ticks_ms(self):
        raw = time.ticks_ms()
        self._ms += time.ticks_diff(raw, self._raw_ms)
        self._raw_ms = raw
        return self._ms

    def random_u32(self):
        return int.from_bytes(os.urandom(4), "little")

    # -- control pilot ----------------------------------------------------
    def set_pwm(self, duty_permille):
        if duty_permille == self._duty:
            return
        if duty_permille < 0 or duty_permille > 1000:
            raise ValueError("duty_permille must be 0..1000")
        self._duty = duty_permille
        # 0 -> steady low (driver -12 V), 65535 -> steady high (+12 V) on both ports
        self._pwm.duty_u16(duty_permille * 65535 // 1000)

    def cp_high_mv(self):
        if not self._hi_fresh:
            self._measure_cp()
        self._hi_fresh = False
        return self._cp_hi_mv

    def cp_low_mv(self):
        if not self._lo_fresh:
            self._measure_cp()
        self._lo_fresh = False
        return self._cp_lo_mv

    def _cp_window_us(self):
        """How long to sample: long enough for a few samples on the shorter
        plateau (docs/hardware.md, "Sampling the pilot")."""
        d = self._duty
        if d == 0 or d == 1000:
            return _CP_STEADY_WINDOW_US
        if d < 100 or d > 900:
            return _CP_SHORT_PLATEAU_WINDOW_US
        return _CP_PWM_WINDOW_US

    def _measure_cp(self):
        """One burst of ADC samples -> both plateaus. Samples within the top
        (bottom) quarter of the burst's range are the positive (negative)
        plateau and are averaged, which rejects samples caught on an edge and
        evens out ADC noise; a burst whose range is under cp_split holds one
        steady level (x1, F or E), reported for both plateaus."""
        buf = self._cp_buf
        n = self._sample_cp(buf, self._cp_window_us())
        hi = lo = buf[0]
        for i in range(1, n):
            v = buf[i]
            if v > hi:
                hi = v
            elif v < lo:
                lo = v
        if hi - lo < self._cp_split:
            total = 0
            for i in range(n):
                total += buf[i]
            hi = lo = total // n
        else:
            top = hi - ((hi - lo) >> 2)
            bottom = lo + ((hi - lo) >> 2)
            sum_hi = n_hi = sum_lo = n_lo = 0
            for i in range(n):
                v = buf[i]
                if v >= top:
                    sum_hi += v
                    n_hi += 1
                elif v <= bottom:
                    sum_lo += v
                    n_lo += 1
            hi = sum_hi // n_hi  # n_hi, n_lo >= 1: the max and the min are in their bands
            lo = sum_lo // n_lo
        self._store_cp(self._adc_mv(hi), self._adc_mv(lo))

    def _sample_cp(self, buf, window_us):
        """Fill buf with CP ADC samples for window_us (or until full); return
        how many (at least 1). The board file reads its ADC."""
        raise NotImplementedError("_sample_cp")

    def _adc_mv(self, sample):
        """A sample in the board's ADC unit -> mV at the ADC pin."""
        raise NotImplementedError("_adc_mv")

    def _store_cp(self, adc_hi_mv, adc_lo_mv):
        """ADC millivolts of both plateaus -> pilot-line millivolts by the
        two-point calibration (docs/hardware.md, "CP sense"); integer only."""
        span = self._cal_adc_span
        self._cp_hi_mv = (self._cal_pilot_lo
                          + (adc_hi_mv - self._cal_adc_lo) * self._cal_pilot_span // span)
        self._cp_lo_mv = (self._cal_pilot_lo
                          + (adc_lo_mv - self._cal_adc_lo) * self._cal_pilot_span // span)
        self._hi_fresh = True
        self._lo_fresh = True

    # -- contactor, RCD, button, LED ---------------------------------------
    def set_contactor(self, closed):
        c = 1 if closed else 0
        if c != self._closed:
            self._closed = c
            self._contactor.value(c)

    def contactor_feedback(self):
        if self._feedback is None:
            return FEEDBACK_NOT_FITTED
        return FEEDBACK_CLOSED if self._feedback.value() == _ACTIVE_LOW else FEEDBACK_OPEN

    def rcd_fault(self):
        if self._rcd.value() == _ACTIVE_LOW or self._dc6.value() == _ACTIVE_LOW:
            return 1
        return 0

    def button_pressed(self):
        return 1 if self._button.value() == _ACTIVE_LOW else 0

    def tamper(self):
        # fail-secure: a cut wire reads like an open lid (docs/hardware.md, "Tamper")
        if self._tamper is None:
            return TAMPER_NOT_FITTED
        return TAMPER_OPEN if self._tamper.value() else TAMPER_CLOSED

    def set_indicator(self, code):
        if code == self._ind:
            return
        self._ind = code
        bits = _RGB[code] if 0 <= code < IND_COUNT else _RGB[IND_FAULT]
        self._led_r.value(1 if bits & _RGB_RED else 0)
        self._led_g.value(1 if bits & _RGB_GREEN else 0)
        self._led_b.value(1 if bits & _RGB_BLUE else 0)

    # -- gateway link and RS-485 meter port ----------------------------------
    def link_read(self, buf):
        if not self._link.any():
            return 0
        return self._link.readinto(buf) or 0

    def link_write(self, data):
        return self._link.write(data) or 0

    def meter_read(self, buf):
        if not self._meter.any():
            return 0
        return self._meter.readinto(buf) or 0

    def meter_write(self, data):
        # Half duplex: DE and /RE are tied, so the receiver is off while we
        # drive the bus. flush() returns once the last stop bit has left the
        # UART (a read request of 8 bytes takes 8.3 ms at 9600 baud); only
        # then is the bus released so the meter's reply is not cut.
        de = self._meter_de
        de.value(1)
        try:
            n = self._meter.write(data)
            self._meter.flush()
        finally:
            de.value(0)
        return n or 0

    def meter_configure(self, baud, parity):
        """Serial format of the meter port (settings `meter`: baud 1200..115200,
        parity "N"/"E"/"O"; 8 data bits, 1 stop bit). Not in the Board
        contract: main.py applies it at boot."""
        if not 1200 <= baud <= 115200 or parity not in _PARITY:
            raise ValueError("meter baud 1200..115200, parity N/E/O")
        self._meter.init(baudrate=baud, bits=8, parity=_PARITY[parity], stop=1)

    # -- storage ------------------------------------------------------------
    def storage_read(self, name):
        try:
            with open(_path(name), "rb") as f:
                return f.read()
        except OSError:
            return None

    def storage_write(self, name, data):
        path = _path(name)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        try:
            os.rename(tmp, path)  # littlefs (both ports' default): replaces path atomically
        except OSError:
            os.remove(path)  # FAT refuses to rename over a file
            os.rename(tmp, path)

    # -- watchdog and reset -------------------------------------------------
    def wdt_feed(self):
        wdt = self._wdt
        if wdt is None:
            # Started by the first feed, so a Ctrl-C during boot leaves the
            # REPL usable (machine.WDT cannot be stopped once running).
            wdt = self._wdt = machine.WDT(timeout=_WDT_TIMEOUT_MS)
        wdt.feed()

    def reset_cause(self):
        return self._cause

    def service_mode(self):
        """Ctrl-C at the REPL (mpremote, tools/flash.py): contactor open,
        state F, fault LED, and the watchdog put aside so the REPL stays
        usable until the next reset. Not in the Board contract."""
        self.set_contactor(0)
        self.set_pwm(0)
        self.set_indicator(IND_FAULT)
        if self._wdt is not None:
            self._stop_watchdog()

    def _stop_watchdog(self):
        raise NotImplementedError("_stop_watchdog")


def _path(name):
    if not name or "/" in name:
        raise ValueError("storage name must be a plain file name")
    return DATA_DIR + "/" + name
