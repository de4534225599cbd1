"""Fuzz campaigns (issue 10): the link decoder, the Modbus RTU response decoder, the
firmware's command handling and the gateway's OCPP 1.6 handlers, each fed --inputs hostile
inputs (default 100,000 each: the issue asks for at least 100,000 per decoder).

Generator: a seeded random.Random with mutation of valid inputs, not hypothesis. Each input
starts from a valid frame / response / message / call (made fresh from random field values)
and gets 1-4 mutations (bit flips, byte overwrites with boundary values, inserts, deletes,
truncation, duplication of a slice, garbage around it), and for the CRC-protected formats the
CRC is recomputed on half of them: random bytes almost never pass a CRC, so pure random input
would only exercise the first check of each decoder. A fixed seed (--seed) makes every run
the same inputs; hypothesis stays what tests/unit/test_*_properties.py use for properties.

Per campaign it prints: inputs run, the distinct outcomes (result codes, CallError codes),
exceptions (none is allowed: a decoder answers with a result code, a handler with a result or
a CallError), the slowest single input, memory growth (after a warm-up
tenth of the inputs vs at the end: RSS of the process) and inputs / 100,000.

Run from the repository root: .venv/bin/python bench/fuzz_campaigns.py [--inputs N]
[--seed S] [--only link,modbus,firmware,ocpp]. tests/unit/test_fuzz_campaigns.py runs the
same campaigns with a few thousand inputs each.
"""

import argparse
import asyncio
import gc
import json
import logging
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO, REPO / "firmware", REPO / "tests" / "portable"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from protocols import link, meters  # noqa: E402
from protocols import link_messages as lm  # noqa: E402
from protocols import modbus_rtu as rtu  # noqa: E402
from protocols.crc16 import crc16  # noqa: E402

TARGET = 100_000
LINK_STATUSES = {lm.OK, lm.E_SHORT, lm.E_VERSION, lm.E_TYPE, lm.E_LENGTH, lm.E_VALUE}
BOUNDARY_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF)


def rss_kb():
    """Resident set size now, in kB (Linux /proc; max RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * (resource.getpagesize() // 1024)
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# ---- mutation -------------------------------------------------------------------------


def mutate(rnd, data, max_len=600):
    """1-4 random mutations of data (bytes) -> bytes."""
    b = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(9)
        i = rnd.randrange(len(b) + 1)
        if op == 0 and b:  # bit flip
            j = min(i, len(b) - 1)
            b[j] ^= 1 << rnd.randrange(8)
        elif op == 1 and b:  # boundary byte
            b[min(i, len(b) - 1)] = rnd.choice(BOUNDARY_BYTES)
        elif op == 2:  # insert random bytes
            b[i:i] = rnd.randbytes(rnd.randint(1, 8))
        elif op == 3 and b:  # delete a slice
            del b[i:i + rnd.randint(1, 8)]
        elif op == 4:  # truncate
            del b[i:]
        elif op == 5 and b:  # duplicate a slice
            j = rnd.randrange(len(b))
            b[i:i] = b[j:j + rnd.randint(1, 32)]
        elif op == 6:  # garbage before
            b[0:0] = rnd.randbytes(rnd.randint(1, 40))
        elif op == 7:  # garbage after
            b += rnd.randbytes(rnd.randint(1, 40))
        elif b:  # random byte
            b[min(i, len(b) - 1)] = rnd.randrange(256)
    return bytes(b[:max_len])


def chunks(rnd, data):
    """data cut into 1..len pieces, as a UART or socket hands them over."""
    out, i = [], 0
    while i < len(data):
        n = rnd.choice((1, 2, 7, 64, 300)) if rnd.random() < 0.5 else rnd.randint(1, 80)
        out.append(data[i:i + n])
        i += n
    return out


class Campaign:
    """Counts one campaign: outcomes, exceptions, slowest input, memory."""

    def __init__(self, name, inputs):
        self.name = name
        self.inputs = inputs
        self.done = 0
        self.outcomes = Counter()
        self.exceptions = Counter()  # "Type: message" -> count; must stay empty
        self.examples = {}  # first input of each exception, repr
        self.violations = Counter()  # broken invariants (bounds, safety); must stay empty
        self.max_s = 0.0
        self.t0 = time.perf_counter()
        self.rss_start_kb = rss_kb()
        self.rss_warm_kb = None
        self.rss_end_kb = None
        self.notes = {}

    def timed(self, fn, *args):
        t = time.perf_counter()
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - the campaign's finding, reported
            key = "%s: %s" % (type(e).__name__, str(e)[:120])
            self.exceptions[key] += 1
            self.examples.setdefault(key, repr(args)[:400])
        dt = time.perf_counter() - t
        if dt > self.max_s:
            self.max_s = dt
        self.done += 1
        if self.done == max(1, self.inputs // 10):
            self.rss_warm_kb = rss_kb()

    def violate(self, what):
        self.violations[what] += 1

    def finish(self):
        self.rss_end_kb = rss_kb()
        self.elapsed_s = time.perf_counter() - self.t0
        if self.rss_warm_kb is None:
            self.rss_warm_kb = self.rss_start_kb
        return self

    @property
    def ok(self):
        return not self.exceptions and not self.violations and self.done == self.inputs

    def report(self):
        lines = [
            "-- %s: %s" % (self.name, "PASS" if self.ok else "FAIL"),
            "   inputs %d (%.2f x the 100,000 target) in %.1f s; slowest input %.2f ms"
            % (self.done, self.done / TARGET, self.elapsed_s, self.max_s * 1000),
            "   outcomes (%d distinct): %s" % (len(self.outcomes), ", ".join(
                "%s %d" % kv for kv in sorted(self.outcomes.items(), key=lambda kv: -kv[1]))),
            "   exceptions: %s" % (dict(self.exceptions) or "none"),
            "   invariant violations: %s" % (dict(self.violations) or "none"),
            "   RSS %d kB at start, %d kB after the first tenth, %d kB at the end "
            "(growth after warm-up %+d kB)" % (self.rss_start_kb, self.rss_warm_kb,
                                               self.rss_end_kb,
                                               self.rss_end_kb - self.rss_warm_kb),
        ]
        for k, v in self.notes.items():
            lines.append("   %s: %s" % (k, v))
        for k, v in self.examples.items():
            lines.append("   first input raising %s: %s" % (k, v))
        return "\n".join(lines)


# ---- valid seeds ----------------------------------------------------------------------

_INT_RANGES = {c: (lo, hi) for c, (lo, hi) in link._RANGES.items()}


def _rand_int(rnd, lo, hi):
    r = rnd.random()
    if r < 0.3:
        return rnd.choice((lo, hi, 0 if lo <= 0 <= hi else lo, min(hi, lo + 1), max(lo, hi - 1)))
    if r < 0.5:
        return max(lo, min(hi, rnd.choice((6000, 16000, 32000, 80000, 5999, 60, 3600))))
    return rnd.randint(lo, hi)


def _rand_text(rnd, max_bytes):
    alphabet = "aZ09_.-é€😀 \u0000\ufffd"
    s = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, max_bytes)))
    while len(s.encode()) > max_bytes:
        s = s[:-1]
    return s


def random_fields(rnd, mtype, keys=()):
    """Valid fields (every value in range) for message type mtype."""
    name, spec, names, tail = lm.MESSAGES[mtype]
    f = {}
    for n, code in zip(names, spec.split(), strict=True):
        if code.endswith("s"):
            f[n] = rnd.randbytes(int(code[:-1]))
        else:
            f[n] = _rand_int(rnd, *_INT_RANGES[code])
    if tail is None:
        return f
    kind, tnames, bound = tail
    if kind == lm.T_STR:
        f[tnames[0]] = rnd.choice(keys) if keys and rnd.random() < 0.7 else _rand_text(rnd, bound)
    elif kind == lm.T_BYTES:
        f[tnames[0]] = rnd.randbytes(rnd.randint(0, bound))
    elif kind == lm.T_PERIODS:
        offsets = (1, 60, 900, 3600, 86400, 0xFFFFFFFF)
        starts = sorted({rnd.choice(offsets) if rnd.random() < 0.5 else rnd.randrange(1, 1 << 32)
                         for _ in range(rnd.randint(0, bound - 1))})
        f["periods"] = [] if rnd.random() < 0.2 else [
            (s, _rand_int(rnd, 0, 0xFFFFFFFF)) for s in [0] + starts]
    else:
        key = rnd.choice(keys) if keys and rnd.random() < 0.8 else _rand_text(rnd, lm.KEY_MAX)
        f["key"] = key or "k"
        f["value"] = rnd.choice((None, _rand_int(rnd, -0x80000000, 0x7FFFFFFF),
                                 _rand_text(rnd, 40), json.dumps(rnd.choice(
                                     ([], [[0, 60]], {"a": 1}, "uk", [[1, 2, 3]], 5)))))
    return f


def valid_payload(rnd, keys=()):
    mtype = rnd.choice(sorted(lm.MESSAGES))
    return link.encode(mtype, random_fields(rnd, mtype, keys), rnd.randrange(256))


# ---- 1. link: FrameDecoder.feed + decode ----------------------------------------------


def campaign_link(inputs, seed=1):
    """Byte streams of 1-4 frames (valid, mutated with a fresh CRC, mutated on the wire) and
    line noise, fed in random chunks into one long-lived FrameDecoder; every frame it yields
    goes through decode(). Checks: feed() consumes >= 1 byte per call, the buffer stays
    FRAME_MAX, a yielded payload is 1..MAX_PAYLOAD bytes, decode() answers a documented
    status, an OK payload re-encodes to the same bytes, every valid frame sent whole is
    counted (frames + errors)."""
    rnd = random.Random(seed)
    c = Campaign("link: FrameDecoder.feed + link.decode", inputs)
    dec = link.FrameDecoder()

    def one():
        parts = []
        for _ in range(rnd.randint(1, 4)):
            r = rnd.random()
            payload = valid_payload(rnd)
            if r < 0.25:
                parts.append(link.frame(payload))
            elif r < 0.6:  # a mutated payload with a good CRC: reaches decode()
                p = mutate(rnd, payload, lm.MAX_PAYLOAD) or b"\x01"
                parts.append(link.frame(p))
            elif r < 0.9:
                parts.append(mutate(rnd, link.frame(payload), 700))
            else:
                parts.append(rnd.randbytes(rnd.randint(0, 400)))
        data = b"".join(parts)
        before = dec.frames + dec.crc_errors + dec.cobs_errors + dec.oversize + dec.short_frames
        for piece in chunks(rnd, data):
            pos = 0
            while pos < len(piece):
                used = dec.feed(piece, pos)
                if used < 1:
                    c.violate("feed() used no byte")
                    return
                pos += used
                if len(dec.buf) != lm.FRAME_MAX:
                    c.violate("buffer grew")
                if dec.length:
                    if not 1 <= dec.length <= lm.MAX_PAYLOAD:
                        c.violate("payload length out of bounds")
                    p = bytes(dec.payload())
                    status, mtype, tag, fields = link.decode(p)
                    c.outcomes[_LINK_NAMES.get(status, status)] += 1
                    if status not in LINK_STATUSES:
                        c.violate("undocumented decode status")
                    elif status == lm.OK and link.encode(mtype, fields, tag) != p:
                        c.violate("OK payload does not re-encode to itself")
        # the raw payload decoder on its own, on a mutated payload
        status = link.decode(mutate(rnd, valid_payload(rnd), 300))[0]
        c.outcomes["raw " + _LINK_NAMES.get(status, str(status))] += 1
        if status not in LINK_STATUSES:
            c.violate("undocumented decode status")
        after = dec.frames + dec.crc_errors + dec.cobs_errors + dec.oversize + dec.short_frames
        if after < before:
            c.violate("counters went down")

    for _ in range(inputs):
        c.timed(one)
    c.notes["decoder counters"] = {k: getattr(dec, k) for k in (
        "frames", "crc_errors", "cobs_errors", "oversize", "short_frames")}
    return c.finish()


_LINK_NAMES = {lm.OK: "OK", lm.E_SHORT: "E_SHORT", lm.E_VERSION: "E_VERSION",
               lm.E_TYPE: "E_TYPE", lm.E_LENGTH: "E_LENGTH", lm.E_VALUE: "E_VALUE"}


# ---- 2. Modbus RTU response decoder + meter maps --------------------------------------


def _rtu_frame(body):
    crc = crc16(body)
    return bytes(body) + bytes((crc & 0xFF, crc >> 8))


def campaign_modbus(inputs, seed=2):
    """For every meter map of protocols/meters.py and every block (the read requests of its
    poll cycle: unit, function, register count), responses made valid (random registers, an
    exception, another unit or function, a write echo) then mutated (CRC recomputed on half),
    fed in random chunks with decode() after each, then decode(end=True). Checks: a
    documented result code, never NEED_MORE at the end, fill <= 256, the buffer stays 256,
    used <= fill, and after OK decode_block() fills ints or None, plausible() answers."""
    rnd = random.Random(seed)
    c = Campaign("modbus: ResponseDecoder + meters.decode_block", inputs)
    kinds = [(name, i, m["function"], count) for name, m in sorted(meters.METERS.items())
             for i, (_addr, count) in enumerate(m["blocks"])]
    c.notes["request kinds"] = "%d blocks of %d meter maps" % (len(kinds), len(meters.METERS))
    d = rtu.ResponseDecoder()
    values = meters.new_values()
    nresults = len(rtu.RESULT_NAMES)

    def one():
        name, index, function, count = rnd.choice(kinds)
        unit = rnd.choice((1, 2, 247, rnd.randint(1, 247)))
        d.expect(unit, function, count)
        r = rnd.random()
        if r < 0.6:
            frame = _rtu_frame(bytes((unit, function, 2 * count)) + rnd.randbytes(2 * count))
        elif r < 0.7:
            frame = _rtu_frame(bytes((unit, function | 0x80, rnd.choice((1, 2, 3, 4, 6, 0, 255)))))
        elif r < 0.8:
            other = rnd.choice((unit % 247 + 1, 0, 255))
            frame = _rtu_frame(bytes((other, function, 2 * count)) + rnd.randbytes(2 * count))
        elif r < 0.9:
            f = rnd.choice((1, 2, 3, 4, 5, 6, 15, 16, 0x83, 0x84, 0x90))
            tail = rnd.randbytes(rnd.randint(0, 8))
            frame = _rtu_frame(bytes((unit, f, rnd.randrange(256))) + tail)
        else:
            frame = rnd.randbytes(rnd.randint(0, 300))
        if rnd.random() < 0.85:
            frame = mutate(rnd, frame, 400)
            if rnd.random() < 0.5 and len(frame) > 2:
                frame = _rtu_frame(frame[:-2])
        result = rtu.NEED_MORE
        for piece in chunks(rnd, frame):
            taken = d.feed(piece)
            if not 0 <= taken <= len(piece):
                c.violate("feed() took a bad count")
            result = d.decode()
            if result not in range(nresults) or result == rtu.NO_RESPONSE:
                c.violate("undocumented mid-stream result")
            if d.fill > rtu.MAX_FRAME or len(d.buf) != rtu.MAX_FRAME or d.used > d.fill:
                c.violate("buffer bounds")
            if result != rtu.NEED_MORE:
                break
        if result == rtu.NEED_MORE:
            result = d.decode(end=True)
            if result == rtu.NEED_MORE or result not in range(nresults):
                c.violate("no final verdict")
        c.outcomes[rtu.RESULT_NAMES[result]] += 1
        if result == rtu.OK:
            meter = meters.METERS[name]
            n = meters.decode_block(meter, index, d.buf, d.data_offset, values)
            if n < 0 or any(v is not None and type(v) is not int for v in values):
                c.violate("decode_block gave a non-int")
            meters.plausible(values)

    for _ in range(inputs):
        c.timed(one)
    return c.finish()


# ---- 3. firmware command handling -----------------------------------------------------

# IEC 61851-1 Annex A: 100 % (no PWM, +12 V), 0 % (state F / off), 5 % (digital
# communication) and 10-96 % for 6-80 A; anything else on the pilot is illegal.
def duty_legal(permille):
    return permille in (0, 50, 1000) or 100 <= permille <= 970


_DOWN_TYPES = (lm.HELLO, lm.HEARTBEAT, lm.TIME_SYNC, lm.EVENT_ACK, lm.LIMIT, lm.SCHEDULE,
               lm.SETTING_GET, lm.SETTING_SET, lm.COMMAND, lm.FW_BEGIN, lm.FW_CHUNK, lm.FW_END,
               lm.LOG_REQUEST)
_EV_SCRIPT = ("A", "B", "C", "C", "C", "B", "D", "C", "A", "C")  # one step every 200 inputs


def campaign_firmware(inputs, seed=3):
    """A real Controller on the sim board (tests/portable/evse_rig.py) with an emulated
    SDM630, an EV that plugs, charges, pauses and leaves on a script; every input is one
    gateway->firmware message written into the link (every downlink type, fields anywhere in
    their wire range incl. boundary values, setting keys real and made up, 70 %), a mutated
    frame (20 %) or a handler of firmware/evse/downlink.py called directly with fields out
    of the wire range (negative, past 32 bits: what no decoder yields, 10 %),
    then one 10 ms tick. Checks after every tick: no exception, the pilot duty legal, the
    contactor open unless the EV has been in C/D; every 100 inputs the settings validate
    with no error. CMD_RESET reboots the controller as the main loop would."""
    from evse_rig import Rig

    from evse import settings as settings_mod
    from evse.downlink import HANDLERS

    rnd = random.Random(seed)
    c = Campaign("firmware: downlink handlers through Controller.tick", inputs)
    rig = Rig({"random_delay_max_s": 0, "pwm_min_interval_ms": 0, "no_charge_windows": [],
               "telemetry_interval_s": 1}, seed=seed, logs=False)
    keys = tuple(settings_mod.defaults()) + ("meter.baud", "meter.model", "meter.unit_id",
                                             "nope", "")
    state = {"ev": "A", "cd_ms": None, "reboots": 0, "direct_errors": Counter(),
             "closed_ticks": 0}

    def set_ev(s):
        b = rig.board
        if s == "A":
            b.unplug()
        elif state["ev"] == "A":
            b.plug(s if s in "BCD" else "B")
        if s != "A":
            b.set_ev_state(s)
        state["ev"] = s

    def direct_fields(mtype):
        f = random_fields(rnd, mtype, keys)
        for k in list(f):
            if type(f[k]) is int and rnd.random() < 0.5:
                f[k] = rnd.choice((-1, -(1 << 40), 1 << 40, 1 << 70, 0x100000000, -0x80000001))
        return f

    def one(i):
        if i % 200 == 0:
            set_ev(_EV_SCRIPT[(i // 200) % len(_EV_SCRIPT)])
        r = rnd.random()
        mtype = rnd.choice(_DOWN_TYPES)
        tag = rnd.choice((0, 0, rnd.randrange(256)))
        if r < 0.7:
            payload = link.encode(mtype, random_fields(rnd, mtype, keys), tag)
            rig.send_raw(link.frame(payload))
            c.outcomes["wire " + link.message_name(mtype)] += 1
        elif r < 0.9:
            payload = link.encode(mtype, random_fields(rnd, mtype, keys), tag)
            wire = link.frame(mutate(rnd, payload, lm.MAX_PAYLOAD) or b"\x01")
            rig.send_raw(wire if rnd.random() < 0.5 else mutate(rnd, wire, 600))
            c.outcomes["mutated frame"] += 1
        else:
            # A value no decoder yields reaching a handler is a codec bug, not the
            # handler's: what raises here is counted apart (direct_errors), and the
            # controller must still tick safely afterwards.
            try:
                HANDLERS[mtype](rig.ctl.uplink, direct_fields(mtype), tag, rig.now_ms)
                c.outcomes["direct " + link.message_name(mtype) + " handled"] += 1
            except (ValueError, TypeError, KeyError, OverflowError, AttributeError) as e:
                state["direct_errors"][type(e).__name__] += 1
                c.outcomes["direct " + link.message_name(mtype) + " refused"] += 1
        rig.tick()
        if rig.ctl.reset_now >= 0:  # main.py resets the board
            rig.boot()
            state["reboots"] += 1
        st = rig.ctl.status()
        if not duty_legal(st["duty_permille"]):
            c.violate("illegal duty %d" % st["duty_permille"])
        if state["ev"] in ("C", "D"):
            state["cd_ms"] = rig.now_ms
        state["closed_ticks"] += st["contactor"] == 1
        if st["contactor"] and (state["cd_ms"] is None or rig.now_ms - state["cd_ms"] > 200):
            c.violate("contactor closed with the EV in %s" % state["ev"])
        if i % 100 == 0:
            errors = settings_mod.validate(rig.ctl.settings)[1]
            if errors:
                c.violate("settings invalid: %s" % (errors[0],))
        if len(rig.up) > 2000:
            del rig.up[:]

    for i in range(inputs):
        c.timed(one, i)
    c.notes["controller reboots (CMD_RESET)"] = state["reboots"]
    c.notes["ticks with the contactor closed (charging)"] = state["closed_ticks"]
    c.notes["direct handler calls with out-of-wire-range fields that raised"] = (
        dict(state["direct_errors"]) or "none")
    c.notes["link rx_bad (NAKed)"] = rig.ctl.uplink.rx_bad
    return c.finish()


# ---- 4. gateway OCPP 1.6 handlers -----------------------------------------------------

# OCPP-J 1.6 §4.2.3 Table 7: the CallError codes an answer may carry. InternalError is in
# the table but here it means a handler raised: counted as a finding.
OCPP_ERROR_CODES = {"NotImplemented", "NotSupported", "ProtocolError", "SecurityError",
                    "FormationViolation", "PropertyConstraintViolation",
                    "OccurenceConstraintViolation", "TypeConstraintViolation", "GenericError"}


def _iso(rnd):
    return rnd.choice(("2026-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                       "2026-13-45T99:99:99Z", "not a date", "", "2026-06-01T12:00:00.123+02:00"))


def _profile(rnd):
    periods = [{"startPeriod": s, "limit": rnd.choice((0, 6, 16.5, 32, 1e9, -1))}
               for s in sorted({0, *(rnd.randrange(0, 86400) for _ in range(rnd.randint(0, 4)))})]
    p = {"chargingProfileId": rnd.randint(-5, 10), "stackLevel": rnd.randint(0, 10),
         "chargingProfilePurpose": rnd.choice(("TxDefaultProfile", "TxProfile",
                                               "ChargePointMaxProfile")),
         "chargingProfileKind": rnd.choice(("Absolute", "Recurring", "Relative")),
         "chargingSchedule": {"chargingRateUnit": rnd.choice(("A", "W")),
                              "chargingSchedulePeriod": periods}}
    if rnd.random() < 0.5:
        p["chargingSchedule"]["startSchedule"] = _iso(rnd)
    if rnd.random() < 0.3:
        p["chargingSchedule"]["duration"] = rnd.randint(0, 100000)
    if rnd.random() < 0.3:
        p["transactionId"] = rnd.randint(0, 5)
    if p["chargingProfileKind"] == "Recurring":
        p["recurrencyKind"] = rnd.choice(("Daily", "Weekly"))
    return p


def _valid_calls(rnd):
    """A plausible payload for each action the station handles."""
    conn = rnd.choice((0, 1, 1, 2, -1, 2**31))
    return {
        "ChangeAvailability": {"connectorId": conn,
                               "type": rnd.choice(("Operative", "Inoperative"))},
        "ChangeConfiguration": {"key": rnd.choice((
            "HeartbeatInterval", "MeterValueSampleInterval", "MeterValuesSampledData",
            "AuthorizeRemoteTxRequests", "Nope", "ConnectionTimeOut",
            "ClockAlignedDataInterval")),
                                "value": rnd.choice(("0", "60", "-1", "true", "x" * 500,
                                                     "Energy.Active.Import.Register,Voltage",
                                                     "1e99", ""))},
        "ClearChargingProfile": {k: v for k, v in (
            ("id", rnd.randint(-1, 10)), ("connectorId", conn),
            ("chargingProfilePurpose", "TxDefaultProfile"), ("stackLevel", rnd.randint(0, 9)))
            if rnd.random() < 0.5},
        "DataTransfer": {"vendorId": rnd.choice(("org.openchargealliance", "x", "")),
                         "messageId": rnd.choice(("SetEvSoc", "nope")),
                         "data": rnd.choice(("{}", '{"soc": 50}', "[", "x"))},
        "GetCompositeSchedule": {"connectorId": conn, "duration": rnd.randint(0, 10**6),
                                 "chargingRateUnit": rnd.choice(("A", "W"))},
        "GetConfiguration": rnd.choice(({}, {"key": ["HeartbeatInterval", "Nope"]}, {"key": []})),
        "RemoteStartTransaction": {"idTag": "TAG%d" % rnd.randrange(100), "connectorId": conn,
                                   **({"chargingProfile": _profile(rnd)}
                                      if rnd.random() < 0.3 else {})},
        "RemoteStopTransaction": {"transactionId": rnd.randint(-1, 5)},
        "Reset": {"type": rnd.choice(("Hard", "Soft"))},
        "SetChargingProfile": {"connectorId": conn, "csChargingProfiles": _profile(rnd)},
        "TriggerMessage": {"requestedMessage": rnd.choice((
            "BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
            "Heartbeat", "MeterValues", "StatusNotification")),
            **({"connectorId": conn} if rnd.random() < 0.5 else {})},
        "UnlockConnector": {"connectorId": conn},
    }


_ODD_VALUES = (None, True, -1, 0, 2**63, -(2**80), 1e308, float("inf"), Decimal("1e400"),
               Decimal("-0.0"), "", "x" * 5000, "\u0000", [], {}, [1, [2, [3]]], {"a": {"b": {}}})


def _hostile(rnd, value, depth=0):
    """value with some leaves, keys or types replaced."""
    if isinstance(value, dict) and depth < 6:
        out = {k: _hostile(rnd, v, depth + 1) for k, v in value.items() if rnd.random() > 0.1}
        if rnd.random() < 0.1:
            out[rnd.choice(("colour", "connectorid", "", "\u00e9"))] = rnd.choice(_ODD_VALUES)
        return out
    if isinstance(value, list) and depth < 6:
        return [_hostile(rnd, v, depth + 1) for v in value] * rnd.choice((1, 1, 0, 40))
    if rnd.random() < 0.15:
        return rnd.choice(_ODD_VALUES)
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and rnd.random() < 0.3:
        return rnd.choice((value, -value, value * 10**12, Decimal(value) + Decimal("0.5"),
                           str(value)))
    return value


class _OfflineTransport:
    """An EVSE link that never comes up (the station's fake link): every firmware request
    is refused at once as offline, so after-handlers run to their end quickly."""

    def __new__(cls):
        from gateway.link import Transport

        class Offline(Transport):
            async def _supervise(self):
                await asyncio.Event().wait()

            async def _shutdown(self, task):
                task.cancel()

            def send(self, payload):
                return False

        return Offline("offline")


_CSMS_ANSWERS = {  # what the CSMS answers the calls a TriggerMessage makes the station send
    "BootNotification": {"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z",
                         "interval": 300},
    "Heartbeat": {"currentTime": "2026-01-01T00:00:00Z"},
}


class _Connection:
    """What the ocpp library writes to: every message kept; a call of the station's is
    answered by the CSMS at once (CallResult, an empty one where the PDU has no field)."""

    def __init__(self, answers=None):
        self.sent = []
        self.cp = None
        self.last_call = ""
        self.answers = _CSMS_ANSWERS if answers is None else answers

    async def send(self, message):
        self.sent.append(message)
        msg = json.loads(message)
        if msg[0] == 2 and self.cp is not None:
            answer = json.dumps([3, msg[1], self.answers.get(msg[2], {})])
            asyncio.get_running_loop().call_soon(
                lambda: asyncio.ensure_future(self.cp.route_message(answer)))

    async def recv(self):
        await asyncio.Event().wait()

    async def close(self):
        pass


def ocpp_station(state_dir):
    """-> (charge point, recording connection, store): what campaign_ocpp drives, for the
    tests too; call inside a running event loop, close the store after."""
    from gateway.charging import PROFILE_FILE, SmartCharging
    from gateway.link import EvseLink
    from gateway.ocpp16.client import Ocpp16Client, QueueChargePoint
    from gateway.station import Station
    from gateway.store import Store

    store = Store(state_dir / "state.db")
    links = [EvseLink(_OfflineTransport(), store, i, request_timeout_s=0.05) for i in (1, 2)]
    station = Station(links, store)
    station.smart = SmartCharging(station, state_dir / PROFILE_FILE)
    client = Ocpp16Client("ws://127.0.0.1:9/", "FUZZ", station)  # never connects
    conn = _Connection()
    cp = QueueChargePoint("FUZZ", conn, station, response_timeout=0.2)
    cp.config = client.config
    cp.boot_notification = client._boot_notification
    conn.cp = cp
    return cp, conn, store


def campaign_ocpp(inputs, seed=4):
    """The charge point the gateway serves a CSMS connection with (gateway/ocpp16/client.py
    _serve(): QueueChargePoint, a StationChargePoint, with the client's Config16) over a
    real Station with two EVSE links that never come up, its SmartCharging and SQLite store
    in a temporary directory, and a connection that records what is sent. Every input is
    one CSMS call as raw OCPP-J text through route_message(): a handled action with a
    plausible payload (25 %) or a hostile variant of one (fields dropped, added, retyped,
    huge or odd numbers incl. Decimal, lists repeated 40 times, 60 %), an unhandled 1.6
    action or an unknown name (5 %), or malformed OCPP-J framing (10 %, which the library
    drops unanswered by design). Checks: each well-formed call gets exactly one answer with
    its unique id, a CallResult or a CallError with an OCPP-J 1.6 §4.2.3 code other than
    InternalError; the after-handlers (fire-and-forget tasks) end, at the latest 10 s after
    the last input, without an exception other than the link's documented LinkError /
    LinkTimeout for an offline EVSE; the number of them alive at once is reported."""
    from ocpp.v16.enums import Action

    async def make(state_dir):
        cp, conn, store = ocpp_station(state_dir)
        return cp, conn, store, lambda: ()

    unhandled = sorted(a.value for a in Action) + ["FooBar", "", "remotestarttransaction"]
    c = Campaign("ocpp16: StationChargePoint.route_message", inputs)
    return drive_ocpp(c, random.Random(seed), make, _valid_calls, unhandled, OCPP_ERROR_CODES,
                      shares=(0.25, 0.85, 0.85, 0.9))


_MALFORMED = ("[2,", "{}", "[]", "[2]", '[2,"1"]', '[9,"1","Reset",{}]', "null",
              '[2,1,"Reset",{"type":"Hard"}]', "\ufffd", "")


def _expects_answer(raw):
    """The unique id an OCPP-J frame must be answered with (a CALL of 4 elements, as the
    library reads it), else None (not a call: dropped unanswered, §4.2.3)."""
    try:
        msg = json.loads(raw)
    except ValueError:
        return None
    if isinstance(msg, list) and len(msg) == 4 and msg[0] == 2:
        return (msg[1],)
    return None


def drive_ocpp(c, rnd, make, valid_calls, unhandled, error_codes, shares, jobs_note=None):
    """The OCPP handler campaigns' engine (1.6 and 2.0.1): `make(state_dir)` (async) builds
    the charge point -> (cp, connection, store, jobs) where jobs() gives the station's
    long-running jobs that may outlive the inputs by design (a log upload, a firmware
    update; cancelled at the end, not a hang). Each input is drawn with r = rnd.random()
    against shares = (valid, hostile, raw, unhandled) upper bounds: a plausible payload of
    valid_calls(rnd), a _hostile() variant, a byte-level mutate() of a plausible call's JSON
    text (raw), an unhandled or unknown action, else malformed framing. Checks: every frame
    that is a CALL gets exactly one answer with its id, a CallResult or a CallError whose
    code is in error_codes; no exception leaves route_message; after-handlers end (10 s
    after the last input) without an exception other than the link's LinkError."""
    from gateway.link.evse_link import LinkError

    logging.disable(logging.CRITICAL)  # the library logs every CallError with a traceback
    after_errors = Counter()
    shm = Path("/dev/shm")
    tmp = tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None)
    state = {"max_alive": 0, "jobs": 0}
    p_valid, p_hostile, p_raw, p_unhandled = shares

    async def run():
        cp, conn, store, jobs = await make(Path(tmp.name))
        baseline = set(asyncio.all_tasks())
        alive = set()
        ids = iter(range(1, 1 << 62))

        def reap():
            for t in [t for t in alive if t.done()]:
                alive.discard(t)
                e = None if t.cancelled() else t.exception()
                if e is None:
                    continue
                if isinstance(e, LinkError):
                    after_errors[type(e).__name__] += 1
                else:
                    key = "after-handler %s: %s" % (type(e).__name__, str(e)[:60])
                    c.exceptions[key] += 1
                    c.examples.setdefault(key, t.get_name())

        async def one():
            uid = str(next(ids))
            r = rnd.random()
            valid = valid_calls(rnd)
            if r < p_valid:
                action = rnd.choice(sorted(valid))
                msg = [2, uid, action, valid[action]]
            elif r < p_hostile:
                action = rnd.choice(sorted(valid))
                msg = [2, uid, action, _hostile(rnd, valid[action])]
                if rnd.random() < 0.05:
                    msg[3] = rnd.choice(_ODD_VALUES)
            elif r < p_raw:
                action = rnd.choice(sorted(valid))
                text = json.dumps([2, uid, action, valid[action]], default=str).encode()
                msg = "raw"
            elif r < p_unhandled:
                msg = [2, uid, rnd.choice(unhandled), {}]
            else:
                msg = None
            if msg is None:
                raw = rnd.choice(_MALFORMED)
                c.outcomes["malformed frame"] += 1
            elif msg == "raw":
                raw = mutate(rnd, text, 2000).decode("utf-8", "replace")
            else:
                raw = json.dumps(msg, default=str)
            expected = _expects_answer(raw)
            if msg == "raw" and expected is None:
                c.outcomes["mutated frame, not a call"] += 1
            conn.sent.clear()
            conn.last_call = raw
            await cp.route_message(raw)
            for t in asyncio.all_tasks() - baseline:
                if t is not asyncio.current_task() and not t.done():
                    alive.add(t)
                    t.set_name(raw[:300])
            baseline.update(alive)
            baseline.intersection_update(asyncio.all_tasks())  # done tasks are let go
            if expected is None:
                return
            answers = [m for m in map(json.loads, conn.sent) if m[0] != 2]
            if len(answers) != 1 or answers[0][1] != expected[0]:
                c.violate("not exactly one answer with the call's id")
                c.examples.setdefault("not exactly one answer with the call's id", raw[:400])
                return
            a = answers[0]
            what = json.loads(raw)[2]
            what = what if msg != "raw" else "mutated"
            if a[0] == 3:
                c.outcomes["CallResult %s" % (what,)[:60]] += 1
            elif a[0] == 4 and a[2] in error_codes:
                c.outcomes["CallError " + a[2]] += 1
            else:
                key = "answer %s" % (a[2] if a[0] == 4 else a[0],)
                c.violate(key)
                c.examples.setdefault(key, raw[:400] + " -> " + str(a)[:300])

        for _ in range(c.inputs):
            t = time.perf_counter()
            try:
                await one()
            except Exception as e:  # noqa: BLE001 - the campaign's finding
                key = "%s: %s" % (type(e).__name__, str(e)[:120])
                c.exceptions[key] += 1
                c.examples.setdefault(key, conn.last_call[:400])
            await asyncio.sleep(0)  # the after-handlers run between calls, as on a socket
            reap()
            state["max_alive"] = max(state["max_alive"], len(alive))
            dt = time.perf_counter() - t
            c.max_s = max(c.max_s, dt)
            c.done += 1
            if c.done == max(1, c.inputs // 10):
                c.rss_warm_kb = rss_kb()
                state["objects"] = [len(gc.get_objects())]
        running_jobs = {t for t in jobs() if t is not None and not t.done()}
        for t in running_jobs:  # a job waiting out a retry interval: by design, not a hang
            t.cancel()
            state["jobs"] += 1
        pending = alive - running_jobs
        if pending:
            await asyncio.wait(list(pending), timeout=10)
        if running_jobs:
            await asyncio.gather(*running_jobs, return_exceptions=True)
        reap()
        state["objects"].append(len(gc.get_objects()))
        for t in alive:
            c.violate("after-handler still running 10 s after the last input")
            stack = t.get_stack(limit=1)
            where = "%s:%d" % (stack[0].f_code.co_qualname, stack[0].f_lineno) if stack else "?"
            c.examples.setdefault("hang", "%s at %s, started by %s" % (
                t.get_coro().__qualname__, where, t.get_name()))
            t.cancel()
        store.close()

    try:
        asyncio.run(run())
    finally:
        logging.disable(logging.NOTSET)
        tmp.cleanup()
    c.notes["after-handlers alive at once, at most"] = state["max_alive"]
    c.notes["after-handler link refusals (EVSE offline, documented)"] = (
        dict(after_errors) or "none")
    if jobs_note:
        c.notes[jobs_note] = state["jobs"]
    # live Python objects: RSS also holds the allocator's high-water mark of the largest
    # hostile payloads (freed, not returned to the OS), this count does not
    c.objects_warm, c.objects_end = state["objects"]
    c.notes["live Python objects after the first tenth / at the end"] = "%d / %d" % (
        c.objects_warm, c.objects_end)
    return c.finish()


# ---- 5. the gateway's OCPP 2.0.1 handlers --------------------------------------------

# OCPP-J 2.0.1 (Part 4) §4.3 Table 7: the RPC error codes. InternalError is in the table but
# here it means a handler raised: counted as a finding, as in the 1.6 campaign.
OCPP201_ERROR_CODES = {"FormatViolation", "GenericError", "MessageTypeNotSupported",
                       "NotImplemented", "NotSupported", "OccurrenceConstraintViolation",
                       "PropertyConstraintViolation", "ProtocolError", "RpcFrameworkError",
                       "SecurityError", "TypeConstraintViolation"}

_CSMS_ANSWERS_201 = {  # the CSMS's answers to the station's own calls (after-handlers)
    "BootNotification": {"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z",
                         "interval": 300},
    "Heartbeat": {"currentTime": "2026-01-01T00:00:00Z"},
    "Authorize": {"idTokenInfo": {"status": "Accepted"}},
    "SignCertificate": {"status": "Accepted"},
}


class _RefusedNetwork:
    """Side effects of the 2.0.1 handlers that would reach the network (UpdateFirmware's
    download, GetLog's upload: urllib -> http.client -> socket.create_connection) are
    stubbed at that lowest level for the campaign: every connection is refused at once
    and counted, so no mutated location (a host name changed by a byte flip) can reach a
    real host, not even through DNS. The plausible locations point at a loopback port that
    is bound and not listening (refused) as well."""

    def __init__(self):
        import socket

        self.socket = socket
        self.attempts = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))  # bound, never listening: a refused port
        self.port = self._sock.getsockname()[1]

    def _refuse(self, address, *args, **kwargs):
        self.attempts += 1
        raise ConnectionRefusedError("fuzz campaign: no network (%r)" % (address,))

    def __enter__(self):
        self._real = self.socket.create_connection
        self.socket.create_connection = self._refuse
        return self

    def __exit__(self, *exc):
        self.socket.create_connection = self._real
        self._sock.close()


def _dm_addresses():
    from gateway.ocpp201.device_model import _definitions

    return [(v.component, v.variable, v.instance, v.scope, v.data_type)
            for v in _definitions(0, "FUZZ", "fuzz", "fuzz")]


def _component(rnd, name, scope):
    c = {"name": name}
    if scope != "station" or rnd.random() < 0.1:
        c["evse"] = {"id": rnd.choice((1, 2, 3, 0))}
        if scope == "connector" or rnd.random() < 0.2:
            c["evse"]["connectorId"] = rnd.choice((1, 1, 2))
    return c


def _dm_item(rnd, addresses, value=False):
    name, variable, instance, scope, data_type = rnd.choice(addresses)
    if rnd.random() < 0.1:
        name, variable = rnd.choice(((name, "Nope"), ("NoSuchCtrlr", variable)))
    item = {"component": _component(rnd, name, scope), "variable": {"name": variable}}
    if instance is not None or rnd.random() < 0.05:
        item["variable"]["instance"] = instance or "Other"
    if rnd.random() < 0.2:
        item["attributeType"] = rnd.choice(("Actual", "Target", "MinSet", "MaxSet"))
    if value:
        item["attributeValue"] = rnd.choice({
            "integer": ("0", "1", "30", "86400", "-1", "99999999999", "1.5", "x"),
            "decimal": ("0", "10.5", "-0.1", "1e400", "NaN"),
            "boolean": ("true", "false", "True", "1"),
        }.get(data_type, ("", "A", "A,W", "HTTP", "Energy.Active.Import.Register,SoC",
                          "0123456789abcdef0123", "x" * 1000)))
    return item


def _profile201(rnd, purpose=None):
    periods = [{"startPeriod": s, "limit": rnd.choice((0, 6, 16.5, 32, 1e9, -1))}
               for s in sorted({0, *(rnd.randrange(0, 86400) for _ in range(rnd.randint(0, 4)))})]
    for p in periods:
        if rnd.random() < 0.2:
            p["numberPhases"] = rnd.choice((1, 3, 0, 4))
    schedule = {"id": rnd.randint(0, 5), "chargingRateUnit": rnd.choice(("A", "W")),
                "chargingSchedulePeriod": periods}
    if rnd.random() < 0.5:
        schedule["startSchedule"] = _iso(rnd)
    if rnd.random() < 0.3:
        schedule["duration"] = rnd.randint(0, 100000)
    if rnd.random() < 0.2:
        schedule["minChargingRate"] = rnd.choice((0, 6, 1e6))
    p = {"id": rnd.randint(-5, 10), "stackLevel": rnd.randint(0, 10),
         "chargingProfilePurpose": purpose or rnd.choice((
             "ChargingStationMaxProfile", "TxDefaultProfile", "TxProfile",
             "ChargingStationExternalConstraints")),
         "chargingProfileKind": rnd.choice(("Absolute", "Recurring", "Relative")),
         "chargingSchedule": [schedule] * rnd.choice((1, 1, 1, 2, 4))}
    if p["chargingProfileKind"] == "Recurring":
        p["recurrencyKind"] = rnd.choice(("Daily", "Weekly"))
    if rnd.random() < 0.3:
        p["transactionId"] = rnd.choice(("tx-1", "", "FUZZ-1"))
    for k in ("validFrom", "validTo"):
        if rnd.random() < 0.2:
            p[k] = _iso(rnd)
    return p


def _evse(rnd):
    e = {"id": rnd.choice((0, 1, 2, 3, -1))}
    if rnd.random() < 0.5:
        e["connectorId"] = rnd.choice((1, 1, 2, 0))
    return e


def _certificate_hash(rnd):
    h = "ab" * 32
    return {"hashAlgorithm": rnd.choice(("SHA256", "SHA384", "SHA512")),
            "issuerNameHash": rnd.choice((h, "", "zz")), "issuerKeyHash": h,
            "serialNumber": rnd.choice(("1", "ff", "0" * 40, ""))}


def valid_calls_201(pki, port):
    """-> fn(rnd): a plausible payload (camelCase, as on the wire) for each action the 2.0.1
    StationChargePoint handles. pki: a sim_hardware ManufacturerPki, so that its root can be
    installed and an UpdateFirmware signed by it passes the certificate check and starts a
    download job; port: the refused loopback port every http(s) location points at."""
    addresses = _dm_addresses()
    signer = pki.signer("ec")
    package = b"fuzz package"
    base = "http://127.0.0.1:%d/" % port
    locations = (base + "evse-9.9.bin", "https://127.0.0.1:%d/x" % port, "ftp://127.0.0.1/x",
                 "", "not a url", base)
    tokens = (("TAG1", "ISO14443"), ("", "Central"), ("x" * 36, "eMAID"), ("T", "NoAuthorization"))

    def calls(rnd):
        evse_id = rnd.choice((0, 1, 1, 2, 3, -1, 2**31))
        token, token_type = rnd.choice(tokens)
        fw = signer.firmware(rnd.choice(locations), package,
                             retrieve=rnd.choice(("2020-01-01T00:00:00Z", _iso(rnd))))
        if rnd.random() < 0.2:
            fw["installDateTime"] = _iso(rnd)
        if rnd.random() < 0.15:
            fw.pop(rnd.choice(("signingCertificate", "signature")))
        log_spec = {"remoteLocation": rnd.choice(locations)}
        for k in ("oldestTimestamp", "latestTimestamp"):
            if rnd.random() < 0.3:
                log_spec[k] = _iso(rnd)
        optional = {"retries": rnd.choice((0, 1, 3)), "retryInterval": rnd.choice((0, 1, 60))}
        return {
            "GetVariables": {"getVariableData": [_dm_item(rnd, addresses)
                                                 for _ in range(rnd.choice((1, 1, 3, 50, 51)))]},
            "SetVariables": {"setVariableData": [_dm_item(rnd, addresses, value=True)
                                                 for _ in range(rnd.choice((1, 1, 2, 5)))]},
            "GetBaseReport": {"requestId": rnd.randint(-1, 100), "reportBase": rnd.choice((
                "ConfigurationInventory", "FullInventory", "SummaryInventory"))},
            "SetChargingProfile": {"evseId": evse_id, "chargingProfile": _profile201(rnd)},
            "GetChargingProfiles": {"requestId": rnd.randint(0, 9), **(
                {"evseId": evse_id} if rnd.random() < 0.5 else {}), "chargingProfile": {
                k: v for k, v in (
                    ("chargingProfilePurpose", rnd.choice(("TxDefaultProfile", "TxProfile"))),
                    ("stackLevel", rnd.randint(0, 10)),
                    ("chargingProfileId", [rnd.randint(0, 10)]),
                    ("chargingLimitSource", [rnd.choice(("EMS", "Other", "SO", "CSO"))]))
                if rnd.random() < 0.4}},
            "ClearChargingProfile": {k: v for k, v in (
                ("chargingProfileId", rnd.randint(-1, 10)),
                ("chargingProfileCriteria", {k2: v2 for k2, v2 in (
                    ("evseId", evse_id), ("chargingProfilePurpose", "TxDefaultProfile"),
                    ("stackLevel", rnd.randint(0, 9))) if rnd.random() < 0.5}))
                if rnd.random() < 0.5},
            "GetCompositeSchedule": {"duration": rnd.choice((1, 3600, 86400, 366 * 86400,
                                                             366 * 86400 + 1, 0, 10**12)),
                                     "evseId": evse_id, **(
                {"chargingRateUnit": rnd.choice(("A", "W"))} if rnd.random() < 0.7 else {})},
            "RequestStartTransaction": {"idToken": {"idToken": token, "type": token_type},
                                        "remoteStartId": rnd.randint(-1, 10**6), **(
                {"evseId": evse_id} if rnd.random() < 0.7 else {}), **(
                {"chargingProfile": _profile201(rnd, "TxProfile")}
                if rnd.random() < 0.3 else {})},
            "RequestStopTransaction": {"transactionId": rnd.choice(("tx-1", "", "x" * 36))},
            "GetTransactionStatus": {"transactionId": "tx-1"} if rnd.random() < 0.5 else {},
            "Reset": {"type": rnd.choice(("Immediate", "OnIdle")), **(
                {"evseId": evse_id} if rnd.random() < 0.2 else {})},
            "ChangeAvailability": {"operationalStatus": rnd.choice(("Operative",
                                                                    "Inoperative")), **(
                {"evse": _evse(rnd)} if rnd.random() < 0.6 else {})},
            "UnlockConnector": {"evseId": evse_id, "connectorId": rnd.choice((1, 1, 2, 0))},
            "TriggerMessage": {"requestedMessage": rnd.choice((
                "BootNotification", "LogStatusNotification", "FirmwareStatusNotification",
                "Heartbeat", "MeterValues", "SignChargingStationCertificate",
                "SignV2GCertificate", "StatusNotification", "TransactionEvent",
                "SignCombinedCertificate", "PublishFirmwareStatusNotification")), **(
                {"evse": _evse(rnd)} if rnd.random() < 0.5 else {})},
            "DataTransfer": {"vendorId": rnd.choice(("smartevse-ref", "x", "")), **(
                {"messageId": rnd.choice(("GetEvseState", "nope"))}
                if rnd.random() < 0.8 else {}), **({"data": rnd.choice((
                    {"evseId": 1}, {"evseId": 9}, "1", [1], None, {"evseId": "1"}))}
                    if rnd.random() < 0.8 else {})},
            "GetLog": {"log": log_spec, "logType": rnd.choice(("SecurityLog",
                                                               "DiagnosticsLog")),
                       "requestId": rnd.randint(0, 100), **{
                           k: v for k, v in optional.items() if rnd.random() < 0.3}},
            "InstallCertificate": {"certificateType": rnd.choice((
                "ManufacturerRootCertificate", "CSMSRootCertificate", "V2GRootCertificate",
                "MORootCertificate")), "certificate": rnd.choice((
                    pki.root_pem, signer.cert_pem, "-----BEGIN CERTIFICATE-----\nAAAA\n"
                    "-----END CERTIFICATE-----\n", ""))},
            "DeleteCertificate": {"certificateHashData": _certificate_hash(rnd)},
            "GetInstalledCertificateIds": {"certificateType": [rnd.choice((
                "ManufacturerRootCertificate", "V2GCertificateChain", "CSMSRootCertificate"))]}
            if rnd.random() < 0.5 else {},
            "CertificateSigned": {"certificateChain": rnd.choice((
                signer.cert_pem, pki.root_pem + signer.cert_pem, "x")), **(
                {"certificateType": rnd.choice(("ChargingStationCertificate",
                                                "V2GCertificate"))}
                if rnd.random() < 0.5 else {})},
            "UpdateFirmware": {"requestId": rnd.randint(0, 100), "firmware": fw, **{
                k: v for k, v in optional.items() if rnd.random() < 0.3}},
        }

    return calls


async def ocpp201_station(state_dir):
    """-> (charge point, recording connection, store, jobs): the 2.0.1 StationChargePoint as
    gateway/cli.py wires it (Ocpp201Client with its device model, SmartCharging with the
    2.0.1 rules, FirmwareUpdater with its certificate store, SecurityLog, CertificateSigning)
    over a Station with two EVSE links that never come up; jobs() -> the log upload and
    firmware update tasks running now. Call inside a running event loop; close the store
    after."""
    from dataclasses import replace

    from gateway.charging import DEFAULT_CONFIG, PROFILE_FILE, SmartCharging
    from gateway.firmware_update import FirmwareUpdater
    from gateway.link import EvseLink
    from gateway.ocpp201 import Ocpp201Client
    from gateway.ocpp201.charge_point import StationChargePoint
    from gateway.ocpp201.transactions import transaction_id
    from gateway.security_log import SecurityLog
    from gateway.smart.rules import V201
    from gateway.station import Station
    from gateway.station_certificate import CertificateSigning
    from gateway.store import Store

    store = Store(state_dir / "state.db")
    links = [EvseLink(_OfflineTransport(), store, i, request_timeout_s=0.05) for i in (1, 2)]
    station = Station(links, store)
    station.security_log = SecurityLog(state_dir)
    station.firmware = FirmwareUpdater(station, state_dir)
    station.smart = SmartCharging(station, state_dir / PROFILE_FILE,
                                  replace(DEFAULT_CONFIG, ocpp_version=V201))
    client = Ocpp201Client("ws://127.0.0.1:9/", "FUZZ", station)  # never connects
    station.smart.transaction_name = lambda key: transaction_id(client.tx_prefix, key)
    client.signing = CertificateSigning(state_dir, "FUZZ", station, None, organization="fuzz")
    await station.firmware.resume()
    conn = _Connection(_CSMS_ANSWERS_201)
    cp = StationChargePoint("FUZZ", conn, station, client, response_timeout=0.2)
    client.cp = cp
    conn.cp = cp

    def jobs():
        return (client.log_uploads._task, station.firmware._task)

    return cp, conn, store, jobs


def campaign_ocpp201(inputs, seed=5):
    """The twin of campaign_ocpp for OCPP 2.0.1: the StationChargePoint of
    gateway/ocpp201/charge_point.py with all its mixins (device model, smart charging,
    logs, firmware, certificates, station certificate), wired as gateway/cli.py does
    (ocpp201_station), fed raw OCPP-J text through route_message(): a plausible payload
    for one of the 21 handled actions (25 %), a hostile variant of one (45 %), a byte-level
    mutation of a plausible call's JSON text (15 %), an unhandled 2.0.1 action or an
    unknown name (5 %), malformed framing (10 %). Network side effects are refused at
    socket.create_connection (_RefusedNetwork). Same checks as campaign_ocpp, with the
    OCPP-J 2.0.1 §4.3 error codes; the station's jobs (a log upload or firmware download
    waiting out its retries) are cancelled at the end, not counted as a hang."""
    from ocpp.v201.enums import Action

    from sim_hardware.firmware_package import ManufacturerPki

    unhandled = sorted(a.value for a in Action if a.value not in _HANDLED_201) + [
        "FooBar", "", "getvariables", "RemoteStartTransaction"]
    c = Campaign("ocpp201: StationChargePoint.route_message", inputs)
    with _RefusedNetwork() as net:
        c = drive_ocpp(c, random.Random(seed), ocpp201_station,
                       valid_calls_201(ManufacturerPki(), net.port), unhandled,
                       OCPP201_ERROR_CODES, shares=(0.25, 0.7, 0.85, 0.9),
                       jobs_note="station jobs (log upload, firmware) cancelled at the end")
    c.notes["network connections refused by the stub"] = net.attempts
    return c


_HANDLED_201 = {"CertificateSigned", "ChangeAvailability", "ClearChargingProfile",
                "DataTransfer", "DeleteCertificate", "GetBaseReport", "GetChargingProfiles",
                "GetCompositeSchedule", "GetInstalledCertificateIds", "GetLog",
                "GetTransactionStatus", "GetVariables", "InstallCertificate",
                "RequestStartTransaction", "RequestStopTransaction", "Reset",
                "SetChargingProfile", "SetVariables", "TriggerMessage", "UnlockConnector",
                "UpdateFirmware"}


CAMPAIGNS = {"link": campaign_link, "modbus": campaign_modbus, "firmware": campaign_firmware,
             "ocpp": campaign_ocpp, "ocpp201": campaign_ocpp201}
# the figure for each; about 1.5 minutes in all on two busy cores
DEFAULT_INPUTS = {"link": TARGET, "modbus": TARGET, "firmware": TARGET, "ocpp": TARGET,
                  "ocpp201": TARGET}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=None,
                    help="inputs per campaign (default: %s)" % ", ".join(
                        "%s %d" % kv for kv in DEFAULT_INPUTS.items()))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", default=",".join(CAMPAIGNS),
                    help="comma-separated subset of " + ",".join(CAMPAIGNS))
    args = ap.parse_args(argv)
    if args.inputs is not None and args.inputs < 1:
        ap.error("--inputs must be at least 1")
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    for n in names:
        if n not in CAMPAIGNS:
            ap.error("unknown campaign %r, choose from %s" % (n, ", ".join(CAMPAIGNS)))
    print("fuzz campaigns: seed %d, random.Random + mutation of valid inputs" % args.seed)
    ok = True
    for n in names:
        c = CAMPAIGNS[n](args.inputs or DEFAULT_INPUTS[n], args.seed)
        print(c.report(), flush=True)
        ok = ok and c.ok
    print("RESULT: %s" % ("every campaign passed" if ok else "FAILURES above"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
