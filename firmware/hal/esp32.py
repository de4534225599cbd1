# Board support for an ESP32-DevKitC-32E (ESP32-WROOM-32E) charger controller.
# Pin map and analogue front end: docs/hardware.md (keep the two in step).
# ADC1 only: ADC2 cannot be read while Wi-Fi is on. GPIO34-39 are inputs
# without internal pull-ups: the feedback and RCD lines have external ones.
import time
from array import array

from machine import ADC, PWM, UART, WDT, Pin
from micropython import const

from hal.base import PP_NOT_FITTED, PP_OPEN_OHMS, RESET_POWER_ON, RESET_SOFT, RESET_WATCHDOG
from hal.mcu import McuBoard

# --- pin map (docs/hardware.md, "ESP32-DevKitC-32E") -------------------------
_CP_PWM_PIN = const(26)  # -> CP driver comparator input (100 k pull-down: F during reset)
_CP_ADC_PIN = const(36)  # SENSOR_VP, ADC1_CH0 <- CP sense divider
_PP_ADC_PIN = const(39)  # SENSOR_VN, ADC1_CH3 <- PP, 1 k pull-up to 3V3
_CONTACTOR_PIN = const(27)  # -> relay driver (10 k pull-down: open during reset)
_FEEDBACK_PIN = const(35)  # <- auxiliary contact via optocoupler, low = closed
_RCD_PIN = const(34)  # <- RCD / RDC-DD trip output, low = tripped
_DC6_PIN = const(33)  # <- 6 mA DC module trip output, low = tripped
_BUTTON_PIN = const(32)  # <- override button to GND (internal pull-up)
_TAMPER_PIN = const(25)  # <- lid microswitch to GND (internal pull-up): high = lid off
_LED_PINS = (18, 19, 4)  # -> red, green, blue LED (high = on)
_LINK_UART = const(2)
_LINK_TX_PIN = const(17)
_LINK_RX_PIN = const(16)
_LINK_BAUD = const(115200)
_METER_UART = const(1)
_METER_TX_PIN = const(22)  # -> MAX3485 DI
_METER_RX_PIN = const(21)  # <- MAX3485 RO (10 k pull-up)
_METER_DE_PIN = const(23)  # -> MAX3485 DE and /RE tied
_METER_BAUD = const(9600)  # until main.py applies settings["meter"]

# --- fitted options ---------------------------------------------------------
_PP_FITTED = True  # False for a tethered cable: pp_ohms() returns -1
_FEEDBACK_FITTED = True  # False: contactor_feedback() returns -1
_TAMPER_FITTED = True  # False: no lid switch, tamper() returns -1

# --- calibration (docs/hardware.md, "CP sense" and "Calibration") ------------
# Two points: ADC mV (read_uv() // 1000) with the pilot at a measured voltage.
# Defaults are the nominal divider (100 k / 20 k to 3V3 / 13.7 k to GND) at
# +-12.000 V; measure and replace them on each unit.
_CAL_ADC_LO_MV = const(338)
_CAL_PILOT_LO_MV = const(-12000)
_CAL_ADC_HI_MV = const(2143)
_CAL_PILOT_HI_MV = const(12000)
_PP_PULLUP_OHMS = const(1000)
_PP_SUPPLY_MV = const(3300)  # the 3V3 rail feeding the PP pull-up, as measured
_PP_OPEN_MV = const(2900)  # at or above: open PP (about 7 kOhm or more)
_PP_SAMPLES = const(4)

# --- sampling (docs/hardware.md, "Sampling the pilot") --------------------------
# read_uv() takes tens of microseconds: a burst of up to _CP_SAMPLES in
# microvolts (256 x 3.3 V stays a small int when summed).
_CP_SAMPLES = const(256)
_CP_SPLIT_UV = const(150000)  # 150 mV at the ADC = 2 V on the pilot

_WDT_SERVICE_MS = const(3600000)  # the ESP32 task watchdog can only be stretched


class Esp32Board(McuBoard):
    def __init__(self):
        cp_pin = Pin(_CP_PWM_PIN, Pin.OUT, value=0)  # low first: the driver shows F
        link = UART(_LINK_UART, baudrate=_LINK_BAUD, tx=_LINK_TX_PIN, rx=_LINK_RX_PIN,
                    rxbuf=1024, txbuf=1024, timeout=0)
        meter = UART(_METER_UART, baudrate=_METER_BAUD, tx=_METER_TX_PIN, rx=_METER_RX_PIN,
                     rxbuf=512, txbuf=256, timeout=0)
        self._cp_adc = ADC(Pin(_CP_ADC_PIN), atten=ADC.ATTN_11DB)
        self._pp_adc = ADC(Pin(_PP_ADC_PIN), atten=ADC.ATTN_11DB)
        McuBoard.__init__(
            self,
            pwm=PWM(cp_pin, freq=1000, duty_u16=0),
            contactor=Pin(_CONTACTOR_PIN, Pin.OUT, value=0),
            feedback=Pin(_FEEDBACK_PIN, Pin.IN) if _FEEDBACK_FITTED else None,
            rcd=Pin(_RCD_PIN, Pin.IN),
            dc6=Pin(_DC6_PIN, Pin.IN, Pin.PULL_UP),
            button=Pin(_BUTTON_PIN, Pin.IN, Pin.PULL_UP),
            leds=[Pin(p, Pin.OUT, value=0) for p in _LED_PINS],
            link=link,
            meter=meter,
            meter_de=Pin(_METER_DE_PIN, Pin.OUT, value=0),
            cal=(_CAL_ADC_LO_MV, _CAL_PILOT_LO_MV, _CAL_ADC_HI_MV, _CAL_PILOT_HI_MV),
            cp_buf=array("i", bytes(4 * _CP_SAMPLES)),
            cp_split=_CP_SPLIT_UV,
            # MicroPython 1.27 (ports/esp32/modmachine.c): power-on and
            # brown-out -> PWRON_RESET; the watchdogs -> WDT_RESET;
            # machine.reset() and panics -> HARD_RESET; Ctrl-D -> SOFT_RESET.
            tamper=Pin(_TAMPER_PIN, Pin.IN, Pin.PULL_UP) if _TAMPER_FITTED else None,
            causes=(("PWRON_RESET", RESET_POWER_ON), ("WDT_RESET", RESET_WATCHDOG),
                    ("HARD_RESET", RESET_SOFT), ("SOFT_RESET", RESET_SOFT)),
        )

    def _sample_cp(self, buf, window_us):
        adc = self._cp_adc
        n = 0
        t0 = time.ticks_us()
        while n < _CP_SAMPLES:
            buf[n] = adc.read_uv()  # calibrated from the chip's eFuse values
            n += 1
            if time.ticks_diff(time.ticks_us(), t0) >= window_us:
                break
        return n

    def _adc_mv(self, sample):
        return sample // 1000

    def pp_ohms(self):
        if not _PP_FITTED:
            return PP_NOT_FITTED
        adc = self._pp_adc
        uv = 0
        for _ in range(_PP_SAMPLES):
            uv += adc.read_uv()
        mv = uv // (1000 * _PP_SAMPLES)
        if mv >= _PP_OPEN_MV:
            return PP_OPEN_OHMS
        # PP to GND through Rc, 1 k to 3V3: Rc = Rpu * V / (Vsupply - V)
        return _PP_PULLUP_OHMS * mv // (_PP_SUPPLY_MV - mv)

    def _stop_watchdog(self):
        # Re-creating the WDT reconfigures the task watchdog's timeout.
        WDT(timeout=_WDT_SERVICE_MS).feed()
