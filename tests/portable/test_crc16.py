# CRC-16/MODBUS known answers (DESIGN §8: check value 0x4B37 for "123456789").
from protocols.crc16 import crc16


def test_crc16_check_value_123456789():
    assert crc16(b"123456789") == 0x4B37


def test_crc16_empty_is_init():
    assert crc16(b"") == 0xFFFF


def test_crc16_modbus_read_request_known_frame():
    # 01 04 00 00 00 02 -> CRC 71 CB (sent low byte first), from the SDM630 manual's example.
    frame = bytes([0x01, 0x04, 0x00, 0x00, 0x00, 0x02])
    assert crc16(frame) == 0xCB71


def test_crc16_over_a_window_and_in_two_parts():
    data = b"xx123456789yy"
    assert crc16(data, 2, 11) == 0x4B37
    assert crc16(b"56789", crc=crc16(b"1234")) == 0x4B37


def test_crc16_of_frame_with_its_crc_appended_is_zero():
    frame = bytearray(b"\x11\x03\x00\x6b\x00\x03")
    c = crc16(frame)
    frame.append(c & 0xFF)
    frame.append(c >> 8)
    assert crc16(frame) == 0
