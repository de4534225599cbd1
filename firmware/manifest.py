# Freeze manifest for a custom MicroPython image (ports/esp32 or ports/rp2):
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/firmware/manifest.py
# The board filesystem root is firmware/ plus protocols/ (DESIGN §2); both are
# frozen as they are. micropython-lib packages the firmware needs are listed
# here with require(): tests/unit/test_board_code.py allows imports of exactly
# these beyond the modules built into the ESP32 and RP2040 ports.
metadata(description="Smart EV charger firmware (IEC 61851 pilot, limits, meter, link)",
         version="0.1.0")

include("$(PORT_DIR)/boards/manifest.py")
package("protocols", base_path="..")
