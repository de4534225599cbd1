"""Modules the MicroPython 1.27 firmware images provide, per board.

From `help("modules")` on the ESP32_GENERIC and RPI_PICO builds of v1.27 (C
modules of ports/esp32 and ports/rp2 plus what their boards/manifest.py
freezes). The WebAssembly VM used in tests has more (abc, logging, datetime,
functools, ...): those are NOT on the boards and the firmware must not use them.
"""

COMMON = frozenset({
    "_thread", "array", "asyncio", "binascii", "builtins", "cmath", "collections", "deflate",
    "dht", "ds18x20", "errno", "framebuf", "gc", "hashlib", "heapq", "io", "json", "machine",
    "math", "micropython", "neopixel", "onewire", "os", "platform", "random", "re", "select",
    "struct", "sys", "time", "uctypes", "vfs",
})

ESP32 = COMMON | frozenset({
    "bluetooth", "btree", "cryptolib", "esp", "esp32", "espnow", "mip", "network", "ntptime",
    "requests", "socket", "ssl", "tls", "umqtt", "upysh", "urequests", "webrepl", "websocket",
})

RP2040 = COMMON | frozenset({"rp2"})

# Sans-IO code (protocols/, the control core firmware/evse/) takes time, I/O
# and entropy from its caller (STYLE.md): these never appear there even though
# the boards have them.
SANS_IO_FORBIDDEN = frozenset({
    "machine", "time", "random", "asyncio", "socket", "select", "network", "os", "_thread",
})
