"""Property tests of the link codec and framing (issue 2; DESIGN §4; protocols/LINK.md).

- encode/decode round-trips every message type with generated fields;
- the frame decoder fed random bytes never raises, its buffer never grows past FRAME_MAX
  and every result it reports is one of the documented counters;
- decode() of random payloads returns a documented status, never raises;
- garbage followed by a valid frame still yields that frame.
"""

import struct

from hypothesis import given
from hypothesis import strategies as st

from protocols import link
from protocols import link_messages as m

STATUSES = {m.OK, m.E_SHORT, m.E_VERSION, m.E_TYPE, m.E_LENGTH, m.E_VALUE}


def _int_code(code):
    bits = struct.calcsize("<" + code) * 8
    if code.islower():
        return st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    return st.integers(0, (1 << bits) - 1)


def _fixed(code):
    if code.endswith("s"):
        n = int(code[:-1])
        return st.binary(min_size=n, max_size=n)
    return _int_code(code)


def _text(max_bytes, min_bytes=0):
    return st.text(st.characters(codec="utf-8"), max_size=max_bytes).filter(
        lambda s: min_bytes <= len(s.encode()) <= max_bytes
    )


@st.composite
def _periods(draw, bound):
    starts = draw(st.lists(st.integers(1, 0xFFFFFFFF), max_size=bound - 1, unique=True))
    starts = [0] + sorted(starts)
    return [(s, draw(_int_code("I"))) for s in starts] if draw(st.booleans()) else []


def _tail(tail):
    kind, names, bound = tail
    if kind == m.T_STR:
        return st.fixed_dictionaries({names[0]: _text(bound)})
    if kind == m.T_BYTES:
        return st.fixed_dictionaries({names[0]: st.binary(max_size=bound)})
    if kind == m.T_PERIODS:
        return st.fixed_dictionaries({names[0]: _periods(bound)})
    value = st.one_of(st.none(), _int_code("i"), _text(bound))
    return st.fixed_dictionaries({"key": _text(m.KEY_MAX, 1), "value": value})


def _message(mtype):
    name, spec, names, tail = m.MESSAGES[mtype]
    fixed = st.fixed_dictionaries({n: _fixed(c) for n, c in zip(names, spec.split(), strict=True)})
    if tail is None:
        return fixed
    return st.tuples(fixed, _tail(tail)).map(lambda t: {**t[0], **t[1]})


MESSAGE = st.sampled_from(sorted(m.MESSAGES)).flatmap(
    lambda t: st.tuples(st.just(t), _message(t), st.integers(0, 255))
)


def _payloads(dec, data):
    out = []
    pos = 0
    while pos < len(data):
        pos += dec.feed(data, pos)
        assert len(dec.buf) == m.FRAME_MAX
        if dec.length:
            assert 1 <= dec.length <= m.MAX_PAYLOAD
            out.append(bytes(dec.payload()))
    return out


@given(MESSAGE)
def test_every_message_type_round_trips_with_generated_fields(msg):
    mtype, fields, tag = msg
    payload = link.encode(mtype, fields, tag)
    assert len(payload) <= m.MAX_PAYLOAD
    status, got_type, got_tag, got = link.decode(payload)
    assert (status, got_type, got_tag) == (m.OK, mtype, tag)
    if mtype == m.SCHEDULE:
        got = dict(got, periods=[tuple(p) for p in got["periods"]])
    assert got == fields
    values = [fields[k] for k in link.field_names(mtype)]
    buf = bytearray(m.MAX_PAYLOAD)
    assert bytes(buf[: link.pack_into(buf, mtype, tag, values)]) == payload


@given(MESSAGE)
def test_every_frame_decodes_back_to_its_payload(msg):
    payload = link.encode(*msg[:2], tag=msg[2])
    wire = link.frame(payload)
    assert len(wire) <= m.FRAME_MAX
    assert wire[0] == 0 and wire[-1] == 0 and 0 not in wire[1:-1]
    assert _payloads(link.FrameDecoder(), wire) == [payload]


@given(st.lists(st.binary(max_size=300), max_size=8))
def test_decoder_fed_random_bytes_never_raises_nor_grows(chunks):
    dec = link.FrameDecoder()
    for chunk in chunks:
        for payload in _payloads(dec, chunk):
            assert link.decode(payload)[0] in STATUSES
    assert len(dec.buf) == m.FRAME_MAX
    assert min(dec.frames, dec.crc_errors, dec.cobs_errors, dec.oversize, dec.short_frames) >= 0


@given(st.binary(max_size=300))
def test_decode_of_random_payloads_returns_a_documented_status(data):
    status, mtype, tag, fields = link.decode(data)
    assert status in STATUSES
    assert (fields is None) == (status not in (m.OK, m.E_VERSION))


@given(st.sampled_from(sorted(m.MESSAGES)), st.integers(0, 255), st.binary(max_size=260))
def test_decode_of_random_bodies_is_an_error_code_or_canonical(mtype, tag, body):
    """A body the decoder accepts re-encodes to the very same bytes; anything else is
    E_LENGTH or E_VALUE, never an exception."""
    payload = bytes((m.PROTOCOL_MAJOR, mtype, tag)) + body
    status, got_type, got_tag, fields = link.decode(payload)
    assert status in (m.OK, m.E_LENGTH, m.E_VALUE)
    if status == m.OK:
        assert link.encode(got_type, fields, got_tag) == payload


@given(st.binary(max_size=600), MESSAGE, st.integers(1, 7))
def test_garbage_then_a_valid_frame_still_yields_that_frame(garbage, msg, chunk):
    payload = link.encode(*msg[:2], tag=msg[2])
    data = garbage + link.frame(payload)
    dec = link.FrameDecoder()
    got = []
    for i in range(0, len(data), chunk):
        piece = data[i : i + chunk]
        got += _payloads(dec, piece)
    assert got and got[-1] == payload
