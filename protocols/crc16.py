# CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF), shared by the Modbus RTU
# codec and the firmware <-> gateway link. Check value of b"123456789": 0x4B37.
# Table-driven: 512 bytes of RAM for the table, no allocation per call.
from array import array


def _make_table():
    table = array("H", bytes(512))
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table[i] = crc
    return table


_TABLE = _make_table()


def crc16(data, start=0, end=-1, crc=0xFFFF):
    """CRC of data[start:end] (end -1 = len(data)) without slicing; pass the
    previous result as crc to continue over several buffers."""
    if end < 0:
        end = len(data)
    table = _TABLE
    for i in range(start, end):
        crc = (crc >> 8) ^ table[(crc ^ data[i]) & 0xFF]
    return crc
