# Firmware <-> gateway link (DESIGN §4, protocols/LINK.md): known-answer frames, round trips
# of every message type, resynchronisation and the documented error results.
from mpunit import raises
from protocols import link
from protocols import link_messages as m

# LINK.md §6 worked examples: (message type, fields, tag, payload hex, wire hex)
HEARTBEAT_HEX = "01 02 00 78 56 34 12"
HEARTBEAT_WIRE = "00 03 01 02 07 78 56 34 12 64 5f 00"
LIMIT_FIELDS = {"entity": m.SRC_CSMS, "generation": 42, "limit_ma": 16000, "duration_s": 900}
LIMIT_HEX = "01 20 05 10 2a 00 00 00 80 3e 00 00 84 03 00 00"
LIMIT_WIRE = "00 06 01 20 05 10 2a 01 01 03 80 3e 01 03 84 03 01 03 f2 19 00"
ACK_WIRE = "00 03 01 13 02 07 01 01 03 08 17 00"
HELLO_FIELDS = {
    "major": 1, "minor": 0, "role": m.ROLE_FIRMWARE, "flags": 0, "phases": 3,
    "capabilities": m.CAP_METER | m.CAP_PP | m.CAP_RCD | m.CAP_FW_UPDATE,
    "max_current_ma": 32000, "link_timeout_ms": 30000, "unacked_seq": 1, "sw_version": "0.1.0",
}
HELLO_WIRE = ("00 05 01 01 01 01 01 01 03 03 27 01 01 01 02 7d 01 03 30 75 01 02 01 01 01 08"
              " 30 2e 31 2e 30 e9 b7 00")
SCHEDULE_FIELDS = {
    "entity": m.SRC_CSMS, "generation": 43, "start_unix_s": 1767225600, "duration_s": 0,
    "repeat_s": 86400, "periods": [(0, 32000), (28800, 6000), (39600, m.LIMIT_NONE)],
}
SCHEDULE_HEX = ("01 21 06 10 2b 00 00 00 00 b9 55 69 00 00 00 00 80 51 01 00"
                " 00 00 00 00 00 7d 00 00 80 70 00 00 70 17 00 00 b0 9a 00 00 ff ff ff ff")
SETTING_SET_HEX = ("01 31 09 01 12 72 61 6e 64 6f 6d 5f 64 65 6c 61 79 5f 6d 61 78 5f 73"
                   " 84 03 00 00")

# One valid example of every message type (tails included)
SAMPLES = {
    m.HELLO: HELLO_FIELDS,
    m.HEARTBEAT: {"uptime_s": 0x12345678},
    m.TIME_SYNC: {"unix_ms": 1767225600123, "utc_offset_min": -300},
    m.RESULT: {"request_type": m.LIMIT, "status": m.ST_OK, "value": 16000},
    m.NAK: {"error": m.E_TYPE, "bad_type": 0x7E, "major": 1, "minor": 0},
    m.TELEMETRY: {
        "cp_state": 2, "session": 2, "contactor": 1, "limit_source": m.SRC_HEMS,
        "flags": m.F_TIME_VALID | m.F_DELAY, "duty_permille": 267, "offered_ma": 16000,
        "current_l1_ma": 15890, "current_l2_ma": 15870, "current_l3_ma": -12,
        "voltage_l1_mv": 230100, "voltage_l2_mv": 229800, "voltage_l3_mv": 231000,
        "power_w": -11000, "energy_import_wh": 123456789, "energy_export_wh": 0,
        "frequency_mhz": 49980, "delay_remaining_s": 1800, "soc_percent": m.SOC_UNKNOWN,
        "meter_age_ms": 65535,
    },
    m.EVENT: {"seq": 7, "unix_s": 0, "code": m.EV_LIMIT_APPLIED, "a": m.SRC_CSMS,
              "b": m.R_CAPPED, "c": 32000, "d": -1},
    m.SESSION: {"seq": 8, "session_id": 3, "start_unix_s": 1767225600,
                "stop_unix_s": 1767232800, "charging_s": 5400, "energy_import_wh": 9876,
                "energy_export_wh": 0, "stop_reason": m.STOP_UNPLUG},
    m.EVENT_ACK: {"seq": 0xFFFFFFFF},
    m.LIMIT: LIMIT_FIELDS,
    m.SCHEDULE: SCHEDULE_FIELDS,
    m.SETTING_GET: {"key": "site_limit_ma"},
    m.SETTING_SET: {"key": "no_charge_windows", "value": "[[1,5,480,660]]"},
    m.SETTING_VALUE: {"status": m.ST_UNKNOWN, "key": "nope", "value": None},
    m.COMMAND: {"command": m.CMD_AVAILABILITY, "arg": 0},
    m.FW_BEGIN: {"size": 1 << 20, "sha256": bytes(range(32)), "version": "1.1.0"},
    m.FW_CHUNK: {"offset": 4096, "data": bytes(range(243))},
    m.FW_END: {"action": m.FWE_APPLY},
    m.FW_STATUS: {"status": m.ST_OK, "state": m.FW_RECEIVING, "received": 4339},
    m.LOG_REQUEST: {"log": m.LOG_SECURITY, "offset": 0},
    m.LOG_DATA: {"log": m.LOG_SECURITY, "offset": 0, "total": 2, "data": b"\x00\n"},
}


def h(text):
    return bytes.fromhex(text.replace(" ", ""))


def feed_all(dec, data):
    """Every payload the decoder yields for data, as bytes."""
    out = []
    pos = 0
    while pos < len(data):
        pos += dec.feed(data, pos)
        if dec.length:
            out.append(bytes(dec.payload()))
    return out


def test_link_md_heartbeat_known_frame():
    """LINK.md §2: 0x00 + COBS(payload + CRC-16/MODBUS low byte first) + 0x00."""
    payload = link.encode(m.HEARTBEAT, {"uptime_s": 0x12345678})
    assert payload == h(HEARTBEAT_HEX)
    assert link.frame(payload) == h(HEARTBEAT_WIRE)


def test_link_md_limit_known_frame():
    payload = link.encode(m.LIMIT, LIMIT_FIELDS, tag=5)
    assert payload == h(LIMIT_HEX)
    assert link.encode_frame(m.LIMIT, LIMIT_FIELDS, 5) == h(LIMIT_WIRE)


def test_link_md_event_ack_hello_schedule_setting_known_bytes():
    assert link.encode_frame(m.EVENT_ACK, {"seq": 7}) == h(ACK_WIRE)
    assert link.encode_frame(m.HELLO, HELLO_FIELDS, 1) == h(HELLO_WIRE)
    assert link.encode(m.SCHEDULE, SCHEDULE_FIELDS, 6) == h(SCHEDULE_HEX)
    set_fields = {"key": "random_delay_max_s", "value": 900}
    assert link.encode(m.SETTING_SET, set_fields, 9) == h(SETTING_SET_HEX)


def test_header_is_major_type_tag():
    """LINK.md §3: version u8 (the protocol major), type u8, tag u8."""
    payload = link.encode(m.COMMAND, {"command": m.CMD_RESET, "arg": 1}, tag=200)
    assert payload[:3] == bytes((m.PROTOCOL_MAJOR, m.COMMAND, 200))
    assert len(payload) == m.HEADER_LEN + 5


def test_every_message_type_round_trips():
    assert sorted(SAMPLES) == sorted(m.MESSAGES)
    for mtype in SAMPLES:
        fields = SAMPLES[mtype]
        payload = link.encode(mtype, fields, tag=mtype)
        status, got_type, tag, got = link.decode(payload)
        assert (status, got_type, tag) == (m.OK, mtype, mtype), link.message_name(mtype)
        assert got == fields, link.message_name(mtype)
        dec = link.FrameDecoder()
        assert feed_all(dec, link.frame(payload)) == [payload]


def test_pack_into_writes_the_same_payload_into_a_reused_buffer():
    """Firmware path: values in field_names() order into a preallocated buffer."""
    fields = SAMPLES[m.TELEMETRY]
    values = [fields[k] for k in link.field_names(m.TELEMETRY)]
    buf = bytearray(m.MAX_PAYLOAD + 4)
    n = link.pack_into(buf, m.TELEMETRY, 0, values, 4)
    assert bytes(buf[4 : 4 + n]) == link.encode(m.TELEMETRY, fields)
    out = bytearray(m.FRAME_MAX)
    w = link.frame_into(out, memoryview(buf)[4:], n)
    assert bytes(out[:w]) == link.frame(link.encode(m.TELEMETRY, fields))
    values[6] = 6000
    n2 = link.pack_into(buf, m.TELEMETRY, 0, values)
    assert link.decode(memoryview(buf)[:n2])[3]["offered_ma"] == 6000


def test_pack_into_handles_tails_and_checks_the_count():
    buf = bytearray(m.MAX_PAYLOAD)
    n = link.pack_into(buf, m.FW_CHUNK, 3, [512, b"\x00\x01"])
    assert link.decode(buf[:n]) == (m.OK, m.FW_CHUNK, 3, {"offset": 512, "data": b"\x00\x01"})
    with raises(ValueError):
        link.pack_into(buf, m.FW_CHUNK, 3, [512])
    with raises(ValueError):
        link.pack_into(bytearray(10), m.TELEMETRY, 0, [0] * 20)


def test_every_variable_part_at_its_bound_fits_one_frame():
    """DESIGN §4: 256 bytes on the wire; LINK.md §4 bounds: 28 periods, 243 bytes of
    firmware, 238 of log, setting value 212, key 32, version 32."""
    big = {
        m.SCHEDULE: dict(SCHEDULE_FIELDS, periods=[(i * 60, 6000) for i in range(28)]),
        m.FW_CHUNK: {"offset": 0, "data": b"\x00" * 243},
        m.LOG_DATA: {"log": 0, "offset": 0, "total": 238, "data": b"\xff" * 238},
        m.SETTING_VALUE: {"status": 0, "key": "k" * 32, "value": "v" * 212},
        m.SETTING_SET: {"key": "k" * 32, "value": "v" * 212},
        m.HELLO: dict(HELLO_FIELDS, sw_version="x" * 32),
        m.FW_BEGIN: dict(SAMPLES[m.FW_BEGIN], version="y" * 32),
    }
    for mtype in big:
        payload = link.encode(mtype, big[mtype])
        wire = link.frame(payload)
        assert len(payload) <= m.MAX_PAYLOAD and len(wire) <= m.FRAME_MAX - 1
        assert link.decode(payload)[3] == big[mtype]
    with raises(ValueError):
        link.encode(m.FW_CHUNK, {"offset": 0, "data": bytes(244)})
    with raises(ValueError):
        link.encode(m.SCHEDULE, dict(SCHEDULE_FIELDS, periods=[(i, 0) for i in range(29)]))


def test_encoder_value_errors_for_out_of_range_fields():
    """Encoders raise ValueError with the message and field named, never truncate."""
    bad = [
        (m.LIMIT, dict(LIMIT_FIELDS, limit_ma=-1)),
        (m.LIMIT, dict(LIMIT_FIELDS, entity=256)),
        (m.LIMIT, dict(LIMIT_FIELDS, generation=1 << 32)),
        (m.RESULT, {"request_type": 1, "status": 0, "value": 1 << 31}),
        (m.TIME_SYNC, {"unix_ms": -1, "utc_offset_min": 0}),
        (m.TIME_SYNC, {"unix_ms": 0, "utc_offset_min": 40000}),
        (m.HEARTBEAT, {"uptime_s": "1"}),
        (m.HEARTBEAT, {}),
        (m.HEARTBEAT, {"uptime_s": 1, "extra": 2}),
        (m.FW_BEGIN, dict(SAMPLES[m.FW_BEGIN], sha256=bytes(31))),
        (m.FW_BEGIN, dict(SAMPLES[m.FW_BEGIN], version="z" * 33)),
        (m.FW_CHUNK, {"offset": 0, "data": "text"}),
        (m.SETTING_GET, {"key": "k" * 33}),
        (m.SETTING_SET, {"key": "", "value": 1}),
        (m.SETTING_SET, {"key": "a", "value": 1 << 31}),
        (m.SETTING_SET, {"key": "a", "value": "v" * 213}),
        (m.SCHEDULE, dict(SCHEDULE_FIELDS, periods=[(60, 6000)])),
        (m.SCHEDULE, dict(SCHEDULE_FIELDS, periods=[(0, 6000), (0, 7000)])),
        (m.SCHEDULE, dict(SCHEDULE_FIELDS, periods=[(0, 6000, 1)])),
        (m.SCHEDULE, dict(SCHEDULE_FIELDS, periods=[(0, -6000)])),
        (0x7E, {}),
    ]
    for mtype, fields in bad:
        with raises(ValueError):
            link.encode(mtype, fields)
    with raises(ValueError):
        link.encode(m.EVENT_ACK, {"seq": 1}, tag=256)
    with raises(ValueError) as e:
        link.encode(m.LIMIT, dict(LIMIT_FIELDS, limit_ma=-1))
    assert "LIMIT.limit_ma" in str(e.value)


def test_decode_results_short_version_type_length():
    """LINK.md §3: documented results, never an exception."""
    assert link.decode(b"\x01\x02") == (m.E_SHORT, 0, 0, None)
    assert link.decode(b"\x02\x01\x07anything") == (m.E_VERSION, 1, 7, {"major": 2})
    assert link.decode(b"\x01\x7e\x00") == (m.E_TYPE, 0x7E, 0, None)
    ack = link.encode(m.EVENT_ACK, {"seq": 1})
    assert link.decode(ack[:-1])[0] == m.E_LENGTH
    assert link.decode(ack + b"\x00")[0] == m.E_LENGTH
    assert link.decode(b"\x01\x21\x00\x10")[0] == m.E_LENGTH  # under SCHEDULE's fixed part


def test_decode_rejects_bad_variable_parts():
    sched = link.encode(m.SCHEDULE, SCHEDULE_FIELDS)
    assert link.decode(sched[:-1])[0] == m.E_LENGTH  # not whole periods
    swapped = sched[:20] + sched[28:36] + sched[20:28] + sched[36:]
    assert link.decode(swapped)[0] == m.E_VALUE  # offsets must start at 0 and increase
    too_many = link.encode(m.SCHEDULE, dict(SCHEDULE_FIELDS, periods=[])) + bytes(29 * 8)
    assert link.decode(too_many)[0] == m.E_LENGTH
    assert link.decode(b"\x01\x30\x00\xff\xfe")[0] == m.E_VALUE  # key is not UTF-8
    assert link.decode(b"\x01\x31\x00\x01")[0] == m.E_LENGTH  # KV under 2 bytes
    assert link.decode(b"\x01\x31\x00\x01\x00")[0] == m.E_VALUE  # empty key
    assert link.decode(b"\x01\x31\x00\x01\x05ab")[0] == m.E_VALUE  # key runs past the end
    assert link.decode(b"\x01\x31\x00\x01\x01a\x01\x02")[0] == m.E_LENGTH  # i32 of 2 bytes
    assert link.decode(b"\x01\x31\x00\x00\x01a\x01")[0] == m.E_LENGTH  # no-value with data
    assert link.decode(b"\x01\x31\x00\x09\x01a")[0] == m.E_VALUE  # unknown value kind
    assert link.decode(b"\x01\x61\x00" + bytes(9) + bytes(239))[0] == m.E_LENGTH
    assert link.decode(b"\x01\x31\x00\x02\x01a") == (m.OK, m.SETTING_SET, 0,
                                                     {"key": "a", "value": ""})


def test_decode_accepts_the_decoder_memoryview():
    dec = link.FrameDecoder()
    dec.feed(h(LIMIT_WIRE))
    assert link.decode(dec.payload()) == (m.OK, m.LIMIT, 5, LIMIT_FIELDS)


def test_decoder_resyncs_after_garbage():
    """DESIGN §4: resynchronisation after garbage; the bad bytes are counted, not raised."""
    dec = link.FrameDecoder()
    garbage = b"\x13\x37\xff\x00\x42\x42\x42"
    assert feed_all(dec, garbage + h(LIMIT_WIRE)) == [h(LIMIT_HEX)]
    assert dec.frames == 1 and dec.cobs_errors + dec.crc_errors + dec.short_frames == 2


def test_decoder_counts_and_skips_a_crc_error():
    wire = bytearray(h(LIMIT_WIRE))
    wire[5] ^= 0x40  # a data byte inside the first COBS block, still non-zero
    dec = link.FrameDecoder()
    assert feed_all(dec, bytes(wire) + h(HEARTBEAT_WIRE)) == [h(HEARTBEAT_HEX)]
    assert (dec.crc_errors, dec.frames, dec.cobs_errors) == (1, 1, 0)


def test_decoder_drops_and_counts_an_oversize_frame():
    """LINK.md §2: more than MAX_PAYLOAD + 2 decoded bytes is dropped, the buffer stays 256."""
    dec = link.FrameDecoder()
    flood = b"\x00" + b"\xff" + b"\x01" * 254 + b"\x20" * 300
    assert feed_all(dec, flood + h(ACK_WIRE)) == [link.encode(m.EVENT_ACK, {"seq": 7})]
    assert dec.oversize == 1 and len(dec.buf) == m.FRAME_MAX


def test_decoder_counts_cobs_and_short_frames_and_ignores_empty_ones():
    dec = link.FrameDecoder()
    assert feed_all(dec, b"\x00\x00\x00\x05\x01\x02\x00\x02\x01\x00") == []
    assert (dec.cobs_errors, dec.short_frames, dec.crc_errors, dec.oversize) == (1, 1, 0, 0)


def test_decoder_frame_split_across_many_feed_calls():
    wire = h(HELLO_WIRE)
    dec = link.FrameDecoder()
    got = []
    for i in range(len(wire)):
        assert dec.feed(wire, i, i + 1) == 1
        if dec.length:
            got.append(bytes(dec.payload()))
    assert got == [link.encode(m.HELLO, HELLO_FIELDS, 1)]


def test_decoder_two_frames_in_one_feed_stop_after_the_first():
    data = h(LIMIT_WIRE) + h(HEARTBEAT_WIRE)
    dec = link.FrameDecoder()
    used = dec.feed(data)
    assert used == len(h(LIMIT_WIRE)) and bytes(dec.payload()) == h(LIMIT_HEX)
    assert dec.feed(data, used) == len(data) - used
    assert bytes(dec.payload()) == h(HEARTBEAT_HEX)
    assert dec.feed(data, len(data)) == 0 and dec.length == 0


def test_decoder_reset_forgets_a_partial_frame():
    dec = link.FrameDecoder()
    dec.feed(h(LIMIT_WIRE)[:9])
    dec.reset()
    assert feed_all(dec, h(LIMIT_WIRE)[9:] + h(ACK_WIRE))[-1] == link.encode(
        m.EVENT_ACK, {"seq": 7})


def test_max_payload_of_zeros_and_of_ff_frames_within_bound():
    """COBS worst cases: 250 zero bytes and 250 0xFF bytes both frame to <= 255 bytes."""
    for fill in (0, 0xFF):
        payload = bytes((fill,)) * m.MAX_PAYLOAD
        wire = link.frame(payload)
        assert len(wire) == m.MAX_PAYLOAD + 5
        assert [i for i in range(len(wire)) if wire[i] == 0] == [0, len(wire) - 1]
        dec = link.FrameDecoder()
        assert feed_all(dec, wire) == [payload]
    with raises(ValueError):
        link.frame(bytes(m.MAX_PAYLOAD + 1))
    with raises(ValueError):
        link.frame(b"")
    with raises(ValueError):
        link.frame_into(bytearray(10), b"\x01" * 6)


def test_event_args_name_the_generic_arguments():
    """T7-LOG: a limit request logged with source, asked, applied and reason."""
    name, args = m.event_args(SAMPLES[m.EVENT])
    assert name == "limit_applied"
    assert args == {"source": m.SRC_CSMS, "reason": m.R_CAPPED, "asked_ma": 32000,
                    "applied_ma": -1}
    assert m.event_args({"code": 250, "a": 0, "b": 0, "c": 0, "d": 0}) == (None, {})


def test_heartbeat_interval_follows_link_timeout():
    """DESIGN §3.2 link_timeout_ms: traffic every third of it keeps the failsafe off."""
    assert link.heartbeat_interval_ms(30000) == 5000
    assert link.heartbeat_interval_ms(3000) == 1000
    assert link.heartbeat_interval_ms(150) == 100
    assert link.heartbeat_interval_ms(0) == 5000


def test_message_names_and_fields():
    assert link.message_name(m.FW_CHUNK) == "FW_CHUNK"
    assert link.message_name(0x7E) is None
    assert link.field_names(m.SETTING_VALUE) == ("status", "key", "value")
