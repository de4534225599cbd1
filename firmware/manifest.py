# Freeze manifest for a production MicroPython image (ports/esp32 or ports/rp2):
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/firmware/manifest.py
# Frozen, the bytecode of the control core, the boards and the codecs stays in
# flash instead of the heap: `make flash` (.mpy files on the filesystem) loads
# it into RAM, about all of the ESP32's ~110 KB heap on MicroPython 1.27
# (bench/p3_p4_firmware_on_vm.py prints the figure; docs/flashing.md), which
# leaves nothing for a charger in the field. main.py stays on the filesystem:
# MicroPython runs it by name.
# micropython-lib packages the firmware needs would be listed here with
# require(): tests/unit/test_board_code.py allows imports of exactly those
# beyond the modules built into the ESP32 and RP2040 ports.
metadata(description="Smart EV charger firmware (IEC 61851 pilot, limits, meter, link)",
         version="0.1.0")

include("$(PORT_DIR)/boards/manifest.py")
package("evse")
package("hal")
package("protocols", base_path="..")
# the update's boot code (docs/firmware_update.md): frozen like the packages, never
# replaced by an update (a bundle holds evse/, hal/, protocols/ only)
module("fwboot.py")
