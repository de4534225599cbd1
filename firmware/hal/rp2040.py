# Board support for a Raspberry Pi Pico (RP2040) charger controller.
# Pin map and analogue front end: docs/hardware.md (keep the two in step).
# The ADC reference (ADC_VREF) is the Pico's 3V3, the same rail that offsets
# the CP divider and feeds the PP pull-up, so both readings are ratiometric.
import time
from array import array

import machine
from machine import ADC, PWM, UART, Pin
from micropython import const

from hal.base import PP_NOT_FITTED, PP_OPEN_OHMS, RESET_POWER_ON, RESET_SOFT, RESET_WATCHDOG
from hal.mcu import McuBoard

# --- pin map (docs/hardware.md, "Raspberry Pi Pico") -------------------------
_CP_PWM_PIN = const(2)  # -> CP driver comparator input (100 k pull-down: F during reset)
_CP_ADC_PIN = const(26)  # ADC0 <- CP sense divider
_PP_ADC_PIN = const(27)  # ADC1 <- PP, 1 k pull-up to 3V3
_CONTACTOR_PIN = const(15)  # -> relay driver (10 k pull-down: open during reset)
_FEEDBACK_PIN = const(14)  # <- auxiliary contact via optocoupler, low = closed
_RCD_PIN = const(13)  # <- RCD / RDC-DD trip output, low = tripped
_DC6_PIN = const(12)  # <- 6 mA DC module trip output, low = tripped
_BUTTON_PIN = const(11)  # <- override button to GND (internal pull-up)
_TAMPER_PIN = const(10)  # <- lid microswitch to GND (internal pull-up): high = lid off
_LED_PINS = (18, 19, 20)  # -> red, green, blue LED (high = on)
_SMPS_MODE_PIN = const(23)  # high: the Pico's regulator in PWM mode, less ADC noise
_LINK_UART = const(0)
_LINK_TX_PIN = const(0)
_LINK_RX_PIN = const(1)
_LINK_BAUD = const(115200)
_METER_UART = const(1)
_METER_TX_PIN = const(4)  # -> MAX3485 DI
_METER_RX_PIN = const(5)  # <- MAX3485 RO (10 k pull-up)
_METER_DE_PIN = const(6)  # -> MAX3485 DE and /RE tied
_METER_BAUD = const(9600)  # until main.py applies settings["meter"]

# --- fitted options ---------------------------------------------------------
_PP_FITTED = True  # False for a tethered cable: pp_ohms() returns -1
_FEEDBACK_FITTED = True  # False: contactor_feedback() returns -1
_TAMPER_FITTED = True  # False: no lid switch, tamper() returns -1

# --- calibration (docs/hardware.md, "CP sense" and "Calibration") ------------
# Two points: ADC mV (read_u16() * 3300 >> 16) with the pilot at a measured
# voltage. Defaults are the nominal divider (100 k / 20 k to 3V3 / 13.7 k to
# GND) at +-12.000 V; measure and replace them on each unit.
_ADC_VREF_MV = const(3300)
_CAL_ADC_LO_MV = const(338)
_CAL_PILOT_LO_MV = const(-12000)
_CAL_ADC_HI_MV = const(2143)
_CAL_PILOT_HI_MV = const(12000)
_PP_PULLUP_OHMS = const(1000)
_PP_OPEN_U16 = const(60000)  # at or above: open PP (about 11 kOhm or more)
_PP_SAMPLES = const(4)

# --- sampling (docs/hardware.md, "Sampling the pilot") --------------------------
# read_u16() takes a few microseconds: a burst of up to _CP_SAMPLES raw values.
_CP_SAMPLES = const(512)
_CP_SPLIT_U16 = const(2979)  # 150 mV at the ADC = 2 V on the pilot

# RP2040 datasheet, watchdog: CTRL register, bit 30 ENABLE. The SDK (and so
# machine.WDT) has no call to stop the watchdog; clearing ENABLE pauses it.
# Not const(): both exceed the small-int range of 32-bit ports.
_WATCHDOG_CTRL = 0x40058000
_WATCHDOG_ALL_BUT_ENABLE = 0xBFFFFFFF
_WATCHDOG_SCRATCH4 = 0x4005801C
_WATCHDOG_NON_REBOOT_MAGIC = 0x6AB73121


class Rp2040Board(McuBoard):
    def __init__(self):
        cp_pin = Pin(_CP_PWM_PIN, Pin.OUT, value=0)  # low first: the driver shows F
        Pin(_SMPS_MODE_PIN, Pin.OUT, value=1)
        link = UART(_LINK_UART, baudrate=_LINK_BAUD, tx=Pin(_LINK_TX_PIN),
                    rx=Pin(_LINK_RX_PIN), rxbuf=1024, txbuf=1024, timeout=0)
        meter = UART(_METER_UART, baudrate=_METER_BAUD, tx=Pin(_METER_TX_PIN),
                     rx=Pin(_METER_RX_PIN), rxbuf=512, txbuf=256, timeout=0)
        self._cp_adc = ADC(Pin(_CP_ADC_PIN))
        self._pp_adc = ADC(Pin(_PP_ADC_PIN))
        McuBoard.__init__(
            self,
            pwm=PWM(cp_pin, freq=1000, duty_u16=0),
            contactor=Pin(_CONTACTOR_PIN, Pin.OUT, value=0),
            feedback=Pin(_FEEDBACK_PIN, Pin.IN, Pin.PULL_UP) if _FEEDBACK_FITTED else None,
            rcd=Pin(_RCD_PIN, Pin.IN, Pin.PULL_UP),
            dc6=Pin(_DC6_PIN, Pin.IN, Pin.PULL_UP),
            button=Pin(_BUTTON_PIN, Pin.IN, Pin.PULL_UP),
            leds=[Pin(p, Pin.OUT, value=0) for p in _LED_PINS],
            link=link,
            meter=meter,
            meter_de=Pin(_METER_DE_PIN, Pin.OUT, value=0),
            cal=(_CAL_ADC_LO_MV, _CAL_PILOT_LO_MV, _CAL_ADC_HI_MV, _CAL_PILOT_HI_MV),
            cp_buf=array("H", bytes(2 * _CP_SAMPLES)),
            cp_split=_CP_SPLIT_U16,
            # MicroPython tells only PWRON_RESET from WDT_RESET; see below.
            tamper=Pin(_TAMPER_PIN, Pin.IN, Pin.PULL_UP) if _TAMPER_FITTED else None,
            causes=(("PWRON_RESET", RESET_POWER_ON), ("WDT_RESET", RESET_WATCHDOG)),
        )
        # machine.reset() reboots through the watchdog too. The pico-sdk's
        # watchdog_enable() (machine.WDT) leaves a magic in SCRATCH4 that
        # watchdog_reboot() (machine.reset) clears: without it, the reboot was
        # asked for (pico-sdk watchdog_enable_caused_reboot()).
        if (self._cause == RESET_WATCHDOG
                and machine.mem32[_WATCHDOG_SCRATCH4] != _WATCHDOG_NON_REBOOT_MAGIC):
            self._cause = RESET_SOFT

    def _sample_cp(self, buf, window_us):
        adc = self._cp_adc
        n = 0
        t0 = time.ticks_us()
        while n < _CP_SAMPLES:
            buf[n] = adc.read_u16()
            n += 1
            if time.ticks_diff(time.ticks_us(), t0) >= window_us:
                break
        return n

    def _adc_mv(self, sample):
        return sample * _ADC_VREF_MV >> 16

    def pp_ohms(self):
        if not _PP_FITTED:
            return PP_NOT_FITTED
        adc = self._pp_adc
        raw = 0
        for _ in range(_PP_SAMPLES):
            raw += adc.read_u16()
        raw //= _PP_SAMPLES
        if raw >= _PP_OPEN_U16:
            return PP_OPEN_OHMS
        # PP to GND through Rc, 1 k to 3V3 = ADC_VREF: Rc = Rpu * raw / (full - raw)
        return _PP_PULLUP_OHMS * raw // (65535 - raw)

    def _stop_watchdog(self):
        machine.mem32[_WATCHDOG_CTRL] &= _WATCHDOG_ALL_BUT_ENABLE
