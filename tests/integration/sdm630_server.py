"""An emulated Eastron SDM630 served by pymodbus 3.16 over Modbus RTU.

Run as a process: python sdm630_server.py SERIAL_PORT [DEVICE_ID]. It prints
READY once pymodbus listens on the port and serves until it is terminated.
The test imports VALUES and EXPECTED from here, so both sides agree.
"""

import asyncio
import struct
import sys

from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

# Input registers (function 4), float32 high word first, as in the SDM630
# Modbus protocol: PDU address -> value in V, A, W, Hz, kWh.
VALUES = {
    0x00: 230.1,  # phase 1 line to neutral volts
    0x02: 231.4,
    0x04: 229.8,
    0x06: 16.02,  # phase 1 current
    0x08: 15.98,
    0x0A: 0.51,
    0x0C: 3686.2,  # phase 1 power
    0x0E: 3697.8,
    0x10: -12.7,
    0x12: 3700.0,  # phase 1 volt amps (read in the same block, not mapped)
    0x34: 7371.3,  # total system power
    0x46: 49.98,  # frequency
    0x48: 12345.67,  # total import kWh
    0x4A: 123.45,  # total export kWh
}
REGISTER_COUNT = 0x4C  # 0x0000..0x004B are served; anything else is an illegal address

# The same values as the codec must deliver them: mV, mA, W, Wh, mHz.
EXPECTED = {
    "v1_mv": 230100,
    "v2_mv": 231400,
    "v3_mv": 229800,
    "i1_ma": 16020,
    "i2_ma": 15980,
    "i3_ma": 510,
    "p1_w": 3686,
    "p2_w": 3698,
    "p3_w": -13,
    "p_total_w": 7371,
    "freq_mhz": 49980,
    "e_import_wh": 12345670,
    "e_export_wh": 123450,
}


def registers():
    regs = [0] * REGISTER_COUNT
    for address, value in VALUES.items():
        regs[address], regs[address + 1] = struct.unpack(">HH", struct.pack(">f", value))
    return regs


def device(device_id):
    return SimDevice(
        id=device_id,
        simdata=[SimData(0, values=registers(), datatype=DataType.REGISTERS)],
    )


def silent_for_other_ids(device_id):
    """pymodbus 3.16 answers a request for an id it does not serve with exception
    4 (SimCore's device lookup raises KeyError, which the request handler turns
    into DEVICE_FAILURE even with ignore_missing_devices=True). A meter on a real
    RS-485 bus stays silent instead, so the emulator drops those answers."""

    def trace_packet(sending, data):
        if sending and data[:1] != bytes((device_id,)):
            return b""
        return data

    return trace_packet


async def serve(port, device_id):
    server = ModbusSerialServer(
        device(device_id),
        framer=FramerType.RTU,
        port=port,
        baudrate=9600,
        parity="N",
        stopbits=1,
        bytesize=8,
        ignore_missing_devices=True,
        trace_packet=silent_for_other_ids(device_id),
    )
    await server.serve_forever(background=True)
    print("READY", flush=True)
    await server.serving


def main(argv):
    port = argv[1]
    device_id = int(argv[2]) if len(argv) > 2 else 1
    asyncio.run(serve(port, device_id))


if __name__ == "__main__":
    main(sys.argv)
