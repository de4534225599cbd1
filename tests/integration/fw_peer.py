"""A scripted firmware speaking the FW messages of protocols/LINK.md §4 on an in-memory
transport, for the gateway's firmware-update sender before (and besides) the real firmware:
FW_BEGIN (size, sha256, version) -> FW_STATUS(received: 0, or what it kept of the same image),
FW_CHUNK at `received` -> appended, at another offset -> ST_INVALID with `received`,
FW_END(VERIFY) -> SHA-256 checked (ST_FAILED / FW_FAILED on a mismatch), FW_END(APPLY) ->
"reboots" into the image (a new HELLO with the FW_BEGIN version), FW_END(ABORT) -> dropped.

Faults: `drop_at` (offset: the link goes down once the image reaches it, and comes back with a
HELLO; `keep_on_drop` keeps the staged bytes for a resume), `corrupt_at` (a byte flipped on
receipt: the hash check fails), `rollback` (after APPLY it comes back on the old version with an
EV_FW_UPDATE FWS_ROLLED_BACK record; else FWS_INSTALLED, FWS_CONFIRMED), `caps` (no
CAP_FW_UPDATE: it never hears FW_*), `answer_delay_s` (a slow firmware)."""

import asyncio
import hashlib

from gateway.link import Transport
from protocols import link
from protocols import link_messages as lm

CAPS = lm.CAP_SCHEDULE | lm.CAP_FW_UPDATE


class FwPeer(Transport):
    def __init__(self, version="0.1.0", caps=CAPS, drop_at=None, keep_on_drop=True,
                 corrupt_at=None, rollback=False, answer_delay_s=0.0):
        super().__init__("fw-peer")
        self.version = version
        self.caps = caps
        self.drop_at, self.keep_on_drop = drop_at, keep_on_drop
        self.corrupt_at, self.rollback = corrupt_at, rollback
        self.answer_delay_s = answer_delay_s  # a slow firmware (or line)
        self.begin = None  # FW_BEGIN fields
        self.image = bytearray()
        self.state = lm.FW_IDLE
        self.sent = []  # (type, fields) the gateway sent
        self.applied = []  # versions it "rebooted" into
        self.seq = 1

    async def _supervise(self):
        self._set_connected(True)
        self.hello()
        await asyncio.Event().wait()

    async def _shutdown(self, task):
        task.cancel()

    def hello(self):
        self.feed(lm.HELLO, {"major": 1, "minor": 0, "role": lm.ROLE_FIRMWARE, "flags": 0,
                             "phases": 3, "capabilities": self.caps, "max_current_ma": 32000,
                             "link_timeout_ms": 30000, "unacked_seq": self.seq,
                             "sw_version": self.version})

    def feed(self, mtype, fields, tag=0):
        self._deliver(link.encode(mtype, fields, tag))

    def status(self, tag, st):
        self.feed(lm.FW_STATUS, {"status": st, "state": self.state,
                                 "received": len(self.image)}, tag)

    def send(self, payload):
        if not self.connected:
            return False
        status, mtype, tag, f = link.decode(payload)
        assert status == lm.OK, "the gateway sent a message that does not decode"
        self.sent.append((mtype, f))
        handler = {lm.FW_BEGIN: self._begin, lm.FW_CHUNK: self._chunk, lm.FW_END: self._end}
        if mtype in handler:
            if not self.caps & lm.CAP_FW_UPDATE:
                self.feed(lm.NAK, {"error": lm.E_TYPE, "bad_type": mtype, "major": 1,
                                   "minor": 0}, tag)
            else:
                asyncio.get_running_loop().call_later(self.answer_delay_s, handler[mtype], tag, f)
        return True

    def of(self, mtype):
        return [f for m, f in self.sent if m == mtype]

    def _begin(self, tag, f):
        same = self.begin is not None and (self.begin["sha256"], self.begin["size"]) == (
            f["sha256"], f["size"])
        if not same:
            self.image = bytearray()
        self.begin = f
        self.state = lm.FW_RECEIVING
        self.status(tag, lm.ST_OK)

    def _chunk(self, tag, f):
        if self.state != lm.FW_RECEIVING or f["offset"] != len(self.image):
            return self.status(tag, lm.ST_INVALID)
        data = bytearray(f["data"])
        if self.corrupt_at is not None and f["offset"] <= self.corrupt_at < f["offset"] + len(data):
            data[self.corrupt_at - f["offset"]] ^= 0xFF
        self.image += data
        if self.drop_at is not None and len(self.image) >= self.drop_at:
            self.drop_at = None
            if not self.keep_on_drop:
                self.image, self.begin, self.state = bytearray(), None, lm.FW_IDLE
            self._set_connected(False)  # the answer is lost with the link
            asyncio.get_running_loop().call_later(0.3, self._come_back)
            return
        self.status(tag, lm.ST_OK)

    def _come_back(self):
        self._set_connected(True)
        self.hello()

    def _end(self, tag, f):
        if f["action"] == lm.FWE_ABORT:
            self.image, self.begin, self.state = bytearray(), None, lm.FW_IDLE
            return self.status(tag, lm.ST_OK)
        ok = (self.begin is not None and len(self.image) == self.begin["size"]
              and hashlib.sha256(self.image).digest() == self.begin["sha256"])
        if not ok:
            self.state = lm.FW_FAILED
            return self.status(tag, lm.ST_FAILED)
        if f["action"] == lm.FWE_VERIFY:
            self.state = lm.FW_VERIFIED
            return self.status(tag, lm.ST_OK)
        self.state = lm.FW_APPLYING
        self.status(tag, lm.ST_OK)
        asyncio.get_running_loop().call_later(0.2, self._reboot)

    def _reboot(self):
        """As firmware/fwboot.py: the new bundle boots (FWS_INSTALLED) and, once the gateway's
        HELLO is heard, is confirmed (FWS_CONFIRMED); or it fails and the previous one runs
        again (FWS_ROLLED_BACK)."""
        self._set_connected(False)
        self.image, self.state = bytearray(), lm.FW_IDLE
        if self.rollback:
            steps = [(lm.FW_FAILED, lm.ST_FAILED, lm.FWS_ROLLED_BACK)]
        else:
            self.version = self.begin["version"]
            self.applied.append(self.version)
            steps = [(lm.FW_IDLE, lm.ST_OK, lm.FWS_INSTALLED),
                     (lm.FW_IDLE, lm.ST_OK, lm.FWS_CONFIRMED)]
        self._set_connected(True)
        self.hello()
        for state, status, step in steps:
            self.feed(lm.EVENT, {"seq": self.seq, "unix_s": 0, "code": lm.EV_FW_UPDATE,
                                 "a": state, "b": status, "c": step, "d": 0})
            self.seq += 1
