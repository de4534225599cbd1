# Receiving a firmware bundle over the link (protocols/LINK.md §4 FW_BEGIN /
# FW_CHUNK / FW_END, answered by FW_STATUS; issue 10, UK-S2 "authenticated
# updates": the gateway checks the signature, this re-checks the SHA-256 the
# gateway sent with FW_BEGIN). One job: stage the image in flash through the
# HAL's small atomic files, hash it as it streams, and at FW_END(APPLY) wait
# for an idle charger, mark the stage for installation and ask for a reset.
# The install, the trial boot and the rollback are the boot code's
# (firmware/fwboot.py): this module never touches the running code.
#
# Imported on the first FW_* message only (downlink.on_fw), so the heap of a
# charger that is not being updated does not grow (DESIGN §7 P3).
#
# Staging (docs/firmware_update.md): the image is cut into part files
# fw_part.000, fw_part.001 ... of PART_B bytes; the chunks of the part being
# filled wait in one PART_B bytearray, allocated for the transfer. fw_stage.json
# says what is staged ({"state", "size", "sha256" hex, "version", "parts"}).
# A power cut loses at most the part in RAM: the boot code re-hashes the parts
# in flash and the transfer resumes from the last whole part (FW_BEGIN with the
# same size, hash and version answers `received` = that offset). The HAL has no
# delete: a discarded file is written empty, and an empty file counts as absent.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


import binascii
import hashlib
import json

from fwboot import BOOT, PART, PART_B, STAGE, read_json  # the boot code owns the flash layout

from evse import session
from protocols import link_messages as lm

MAX_IMAGE_B = const(512 * 1024)  # two slots and a stage must fit the boards' filesystems

_STATE_NAMES = ("idle", "receiving", "verified", "applying", "failed")


def discard_parts(board, size):
    for i in range((size + PART_B - 1) // PART_B):
        if board.storage_read(PART % i):
            board.storage_write(PART % i, b"")


class FwUpdate:
    """The update job of one controller (ctl.fw). handle(mtype, fields) -> the
    FW_STATUS values (status, state, received) to answer; tick(now_ms) from the
    controller's tick while the job exists."""

    def __init__(self, ctl):
        self.ctl = ctl
        self.board = ctl.board
        self.state = lm.FW_IDLE
        self.status = lm.ST_OK
        self.size = 0
        self.sha256 = b""
        self.version = ""
        self.received = 0
        self.parts = 0  # whole parts in flash
        self.buf = None  # the part being filled
        self.fill = 0
        self.hash = None
        self.waiting_logged = False
        self._load(getattr(ctl, "fw_resume", None))

    # --- what survived a reset --------------------------------------------------

    def _load(self, resume):
        boot = read_json(self.board, BOOT)
        if boot and boot.get("outcome") in ("rolled_back", "install_failed"):
            self.state = lm.FW_FAILED  # reported until the next FW_BEGIN
            self.status = lm.ST_FAILED
        meta = read_json(self.board, STAGE)
        if not meta:
            return
        try:
            size = int(meta["size"])
            sha = _unhex(meta["sha256"])
            version = str(meta["version"])
            parts = int(meta.get("parts", 0))
            state = meta["state"]
        except (KeyError, ValueError, TypeError):
            return self._drop_stage(0)
        self.size = size
        self.sha256 = sha
        self.version = version
        if state == "verified":
            self.state = lm.FW_VERIFIED
            self.received = size
            self.parts = parts
        elif state == "receiving" and resume is not None and parts and (
                resume[1] == min(parts * PART_B, size)):
            # the boot code re-hashed the parts in flash (fwboot.boot)
            self.hash = resume[0]
            self.parts = parts
            self.received = resume[1]
            self.buf = bytearray(PART_B)
            self.state = lm.FW_RECEIVING
            self.ctl.fw_resume = None
        else:
            self._drop_stage(size)

    # --- the link ---------------------------------------------------------------

    def handle(self, mtype, f):
        if mtype == lm.FW_BEGIN:
            return self._begin(f["size"], bytes(f["sha256"]), f["version"])
        if mtype == lm.FW_CHUNK:
            return self._chunk(f["offset"], f["data"])
        if mtype == lm.FW_END:
            return self._end(f["action"])
        return self.answer()  # CMD_TRIGGER FW_STATUS

    def answer(self, status=-1):
        return (self.status if status < 0 else status, self.state, self.received)

    def busy(self):
        """F_FW_UPDATE: receiving or applying."""
        return self.state == lm.FW_RECEIVING or self.state == lm.FW_APPLYING

    def _begin(self, size, sha, version):
        if self.state == lm.FW_APPLYING:
            return self.answer(lm.ST_BUSY)  # FW_END(ABORT) first
        same = size == self.size and sha == self.sha256 and version == self.version
        if same and self.state in (lm.FW_RECEIVING, lm.FW_VERIFIED):
            self.status = lm.ST_OK
            return self.answer()  # a resend, or a resume after a link drop / power cut
        self._drop_stage(self.size)
        if self.state == lm.FW_FAILED and self.board.storage_read(BOOT):
            self.board.storage_write(BOOT, b"")  # a new attempt: the old failure is told
        if not 0 < size <= MAX_IMAGE_B:
            return self._fail(lm.ST_INVALID)
        self.size = size
        self.sha256 = sha
        self.version = version
        self.received = 0
        self.parts = 0
        self.fill = 0
        self.buf = bytearray(PART_B)
        self.hash = hashlib.sha256()
        if not self._save_stage("receiving"):
            return self._fail(lm.ST_FAILED)
        self._set(lm.FW_RECEIVING, lm.ST_OK)
        return self.answer()

    def _chunk(self, offset, data):
        if self.state != lm.FW_RECEIVING:
            return self.answer(lm.ST_REJECTED)  # no transfer open (FW_BEGIN first)
        if offset != self.received:
            return self.answer(lm.ST_INVALID)  # the gateway resumes from `received`
        n = len(data)
        if offset + n > self.size:  # more than FW_BEGIN announced
            return self._fail(lm.ST_INVALID)
        self.hash.update(data)
        buf = self.buf
        i = 0
        while i < n:
            k = min(n - i, PART_B - self.fill)
            buf[self.fill:self.fill + k] = data[i:i + k]
            self.fill += k
            i += k
            if self.fill == PART_B and not self._write_part():
                return self._fail(lm.ST_FAILED)
        self.received = offset + n
        if self.received == self.size and self.fill and not self._write_part():
            return self._fail(lm.ST_FAILED)
        self.status = lm.ST_OK
        return self.answer()

    def _end(self, action):
        if action == lm.FWE_ABORT:
            self._drop_stage(self.size)
            self._set(lm.FW_IDLE, lm.ST_OK)
            return self.answer()
        if action not in (lm.FWE_VERIFY, lm.FWE_APPLY):
            return self.answer(lm.ST_INVALID)
        if self.state == lm.FW_RECEIVING:
            if self.received != self.size:  # truncated: the old firmware stays
                return self._fail(lm.ST_INVALID)
            if self.hash.digest() != self.sha256:
                return self._fail(lm.ST_FAILED)
            self.hash = None
            self.buf = None
            if not self._save_stage("verified"):
                return self._fail(lm.ST_FAILED)
            self._set(lm.FW_VERIFIED, lm.ST_OK)
        elif self.state not in (lm.FW_VERIFIED, lm.FW_APPLYING):
            return self.answer(lm.ST_REJECTED)  # nothing staged
        if action == lm.FWE_APPLY and self.state == lm.FW_VERIFIED:
            self._set(lm.FW_APPLYING, lm.ST_OK)
            self.waiting_logged = False
        return self.answer()

    # --- the control loop ----------------------------------------------------------

    def tick(self, now_ms):
        """FW_APPLYING: at the first idle moment (no EV, contactor open: never
        during a charge) mark the stage for the boot code and ask for a reset."""
        if self.state != lm.FW_APPLYING or self.ctl.reset_request >= 0:
            return
        c = self.ctl
        if c.session.state != session.IDLE or c.contactor:
            if not self.waiting_logged:
                self.waiting_logged = True
                c.log(lm.EV_FW_UPDATE, lm.FW_APPLYING, lm.ST_BUSY, lm.FWS_APPLY_WAIT, 0)
            return
        if not self._save_stage("apply"):
            return self._fail(lm.ST_FAILED)
        c.log(lm.EV_FW_UPDATE, lm.FW_APPLYING, lm.ST_OK, lm.FWS_APPLYING, 0)
        c.reset_request = 1  # the CMD_RESET path: events flushed, main.py resets

    # --- helpers -----------------------------------------------------------------------

    def _write_part(self):
        try:
            self.board.storage_write(PART % self.parts, self.buf[:self.fill])
        except OSError:
            return False
        self.parts += 1
        self.fill = 0
        return self._save_stage("receiving")

    def _save_stage(self, state):
        meta = {"state": state, "size": self.size, "sha256": _hex(self.sha256),
                "version": self.version, "parts": self.parts}
        try:
            self.board.storage_write(STAGE, json.dumps(meta).encode())
        except OSError:
            return False
        return True

    def _drop_stage(self, size):
        try:
            discard_parts(self.board, max(size, self.parts * PART_B))
            if self.board.storage_read(STAGE):
                self.board.storage_write(STAGE, b"")
        except OSError:
            pass  # a later FW_BEGIN overwrites the parts anyway
        self.buf = None
        self.hash = None
        self.fill = 0
        self.parts = 0
        self.received = 0

    def _fail(self, status):
        self._drop_stage(self.size)
        self._set(lm.FW_FAILED, status)
        return self.answer()

    def _set(self, state, status):
        self.state = state
        self.status = status
        step = _STEP.get((state, status == lm.ST_OK), 0)
        self.ctl.log(lm.EV_FW_UPDATE, state, status, step, 0)
        self.ctl.uplink.changed = True  # F_FW_UPDATE in the next TELEMETRY


# (state, ok) -> EV_FW_UPDATE step (link_messages FWS_*)
_STEP = {(lm.FW_RECEIVING, True): lm.FWS_BEGIN, (lm.FW_VERIFIED, True): lm.FWS_VERIFIED,
         (lm.FW_FAILED, False): lm.FWS_FAILED, (lm.FW_IDLE, True): lm.FWS_ABORTED,
         (lm.FW_APPLYING, True): lm.FWS_APPLY_ACCEPTED}


def _hex(b):
    return binascii.hexlify(b).decode()


def _unhex(s):
    if len(s) != 64:
        raise ValueError("sha256 hex")
    return binascii.unhexlify(s)


def state_name(state):
    return _STATE_NAMES[state]
