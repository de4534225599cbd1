# The boot code of the firmware update (docs/firmware_update.md; issue 10,
# UK-S2): runs before the controller is imported, at every boot (main.py, the
# sim's Charger). Not part of the pure core (it writes code to the
# filesystem with os) and not part of a bundle: like a bootloader it stays.
#
# - A stage marked "apply" (evse/fw_update.py) is unpacked into the spare slot
#   root/a or root/b, its SHA-256 checked again while it streams out of the
#   part files; the slot in use is kept as the previous one.
# - The first boots of a new slot are a trial: trial counts them in
#   fw_slots.json; confirm() (the controller ran and the gateway said HELLO)
#   ends the trial. An exception importing or starting the controller
#   (rollback()) or MAX_TRIAL_BOOTS boots without a confirmation (crashes,
#   watchdog resets) restore the previous slot.
# - A stage still "receiving" (a power cut mid-transfer) is re-hashed here,
#   while the charger is idle anyway (AG-13), so the transfer resumes.
# - select() puts the active slot in front of sys.path: its evse/, hal/ and
#   protocols/ shadow the ones flashed (or frozen) at the root.
#
# Bundle: b"EVB1", count u16, then per file: name_len u8, name (UTF-8, a
# relative path of .py / .mpy files), data_len u32, data. Little-endian.
import hashlib
import json
import os
import struct
import sys

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


MAGIC = b"EVB1"
MAX_TRIAL_BOOTS = const(3)
SLOTS = "fw_slots.json"
# the stage evse/fw_update.py writes and this code installs (fw_update imports them)
PART_B = const(4096)
STAGE = "fw_stage.json"
PART = "fw_part.%03d"
BOOT = "fw_boot.json"
PACKAGES = ("evse", "hal", "protocols")  # what a slot replaces
_NAME_OK = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./"


def pack(files):
    """[(name, bytes)] -> a bundle (tools/fw_bundle.py builds one from the tree)."""
    out = [MAGIC, struct.pack("<H", len(files))]
    for name, data in files:
        n = name.encode()
        _check_name(name)
        out.append(struct.pack("<B", len(n)) + n + struct.pack("<I", len(data)))
        out.append(bytes(data))
    return b"".join(out)


def _check_name(name):
    ok = 0 < len(name) <= 120 and name[0] != "/" and (name.endswith(".py")
                                                       or name.endswith(".mpy"))
    for ch in name:
        ok = ok and ch in _NAME_OK
    for seg in name.split("/"):
        ok = ok and seg not in ("", ".", "..")
    if not ok:
        raise ValueError("bundle: bad file name %r" % (name,))


def read_json(board, name):
    """A small JSON file of the HAL storage -> dict, None when absent, empty or unreadable."""
    data = board.storage_read(name)
    if not data:
        return None
    try:
        v = json.loads(data)
    except ValueError:
        return None
    return v if isinstance(v, dict) else None


def _write_json(board, name, value):
    board.storage_write(name, json.dumps(value).encode())


def _slots(board):
    s = read_json(board, SLOTS) or {}
    return {"active": s.get("active", ""), "previous": s.get("previous", ""),
            "trial": s.get("trial", 0), "version": s.get("version", ""),
            "prev_version": s.get("prev_version", "")}


def _is_dir(path):
    try:
        return os.stat(path)[0] & 0x4000 != 0
    except OSError:
        return False


def _rmtree(path):
    if not _is_dir(path):
        return
    for name in os.listdir(path):
        p = path + "/" + name
        if _is_dir(p):
            _rmtree(p)
        else:
            os.remove(p)
    os.rmdir(path)


def _mkdirs(path):
    parts = path.split("/")
    cur = ""
    for i in range(len(parts)):
        cur = parts[0] if i == 0 else cur + "/" + parts[i]
        if cur and not _is_dir(cur):
            os.mkdir(cur)


class _Unpacker:
    """Streams a bundle into a directory: fields gathered across part files,
    file data written as it comes (never the whole bundle in RAM)."""

    def __init__(self, dest):
        self.dest = dest
        self.field = 0  # 0 magic+count, 1 name_len, 2 name, 3 data_len, 4 data, 5 done
        self.need = 6
        self.hdr = b""
        self.count = 0
        self.files = 0
        self.name = ""
        self.f = None
        self.left = 0

    def feed(self, data):
        mv = memoryview(data)
        i = 0
        n = len(data)
        while i < n:
            if self.field == 5:
                raise ValueError("bundle: bytes after the last file")
            if self.field == 4:
                k = min(self.left, n - i)
                self.f.write(mv[i:i + k])
                self.left -= k
                i += k
                if not self.left:
                    self._next_file()
                continue
            k = min(self.need - len(self.hdr), n - i)
            self.hdr += bytes(mv[i:i + k])
            i += k
            if len(self.hdr) == self.need:
                h = self.hdr
                self.hdr = b""
                self._field(h)

    def _field(self, h):
        if self.field == 0:
            if h[:4] != MAGIC:
                raise ValueError("bundle: not an EVB1 bundle")
            self.count = struct.unpack("<H", h[4:6])[0]
            self._expect(1, 1) if self.count else self._expect(5, 0)
        elif self.field == 1:
            if not h[0]:
                raise ValueError("bundle: empty file name")
            self._expect(2, h[0])
        elif self.field == 2:
            self.name = h.decode()
            _check_name(self.name)
            self._expect(3, 4)
        else:
            self.left = struct.unpack("<I", h)[0]
            path = self.dest + "/" + self.name
            _mkdirs(path[:path.rfind("/")])
            self.f = open(path, "wb")
            self.field = 4
            if not self.left:
                self._next_file()

    def _expect(self, field, need):
        self.field = field
        self.need = need

    def _next_file(self):
        self.f.close()
        self.f = None
        self.files += 1
        self._expect(5, 0) if self.files == self.count else self._expect(1, 1)


def _unhex(s):
    import binascii

    return binascii.unhexlify(s)


def _install(board, root, slot, stage):
    """Unpack the staged bundle into root/slot; ValueError / OSError if it is not whole."""
    size = int(stage["size"])
    sha = _unhex(stage["sha256"])
    dest = root + "/" + slot
    _rmtree(dest)
    _mkdirs(dest)
    h = hashlib.sha256()
    u = _Unpacker(dest)
    try:
        n = 0
        i = 0
        while n < size:
            data = board.storage_read(PART % i)
            if not data:
                raise ValueError("bundle: part %d missing" % i)
            h.update(data)
            u.feed(data)
            n += len(data)
            i += 1
        if n != size or h.digest() != sha:
            raise ValueError("bundle: SHA-256 of the staged image differs")
        if u.field != 5:
            raise ValueError("bundle: truncated")
    finally:
        if u.f is not None:
            u.f.close()


def _drop_stage(board, stage):
    try:
        size = int(stage.get("size", 0))
    except (TypeError, ValueError):
        size = 0
    i = 0
    while i * PART_B < size or board.storage_read(PART % i):
        if board.storage_read(PART % i):
            board.storage_write(PART % i, b"")
        i += 1
    board.storage_write(STAGE, b"")


def _rehash(board, stage):
    """A transfer cut by a reset: (sha256 of the parts in flash, their bytes), None
    when they are not what the stage says (then it is dropped)."""
    h = hashlib.sha256()
    size = int(stage.get("size", 0))
    n = 0
    for i in range(int(stage.get("parts", 0))):
        data = board.storage_read(PART % i)
        if not data or (len(data) != PART_B and n + len(data) != size):
            return None  # only the last part may be short
        if n + len(data) > size:
            return None
        h.update(data)
        n += len(data)
    return h, n


def boot(board, root):
    """-> {"slot", "version", "trial", "outcome", "resume"}; sys.path set for the slot.
    outcome: "" nothing new, "installed", "install_failed", "rolled_back"."""
    s = _slots(board)
    stage = read_json(board, STAGE)
    outcome = ""
    resume = None
    if stage and stage.get("state") == "apply":
        spare = "b" if s["active"] == "a" else "a"
        try:
            _install(board, root, spare, stage)
        except (ValueError, OSError, KeyError, TypeError) as e:
            _rmtree(root + "/" + spare)
            outcome = "install_failed"
            print("fwboot: install failed:", e)
        else:
            if s["previous"] and s["previous"] != s["active"]:
                _rmtree(root + "/" + s["previous"])  # only one previous bundle is kept
            s = {"active": spare, "previous": s["active"], "trial": 0,
                 "version": str(stage.get("version", "")), "prev_version": s["version"]}
            outcome = "installed"
        _drop_stage(board, stage)
    elif stage and stage.get("state") == "receiving":
        resume = _rehash(board, stage)
        if resume is None:
            _drop_stage(board, stage)
    if s["active"] and outcome != "installed":
        if s["trial"] >= MAX_TRIAL_BOOTS:  # never confirmed: crashes or watchdog resets
            s = _restore(board, root, s)
            outcome = "rolled_back"
        elif s["trial"] > 0:
            s["trial"] += 1
    if outcome == "installed":
        s["trial"] = 1
    if s != _slots(board):  # no flash write on an ordinary boot
        _write_json(board, SLOTS, s)
    if outcome:
        _write_json(board, BOOT, {"outcome": outcome, "version": s["version"]})
    else:  # rollback() before the last reset: reported on this boot
        last = read_json(board, BOOT)
        if last and last.get("pending"):
            outcome = last.get("outcome", "")
            _write_json(board, BOOT, {"outcome": outcome, "version": s["version"]})
    select(root, s["active"])
    return {"slot": s["active"], "version": s["version"], "trial": s["trial"] > 0,
            "outcome": outcome, "resume": resume}


def _restore(board, root, s):
    failed = s["active"]
    s = {"active": s["previous"], "previous": "", "trial": 0, "version": s["prev_version"],
         "prev_version": ""}
    _rmtree(root + "/" + failed)
    return s


def rollback(board, root):
    """The trial slot did not come up (an exception importing or starting the
    controller): the previous slot is active again from the next boot on."""
    s = _slots(board)
    if not s["active"] or not s["trial"]:
        return False
    s = _restore(board, root, s)
    _write_json(board, SLOTS, s)
    _write_json(board, BOOT, {"outcome": "rolled_back", "version": s["version"],
                              "pending": True})
    select(root, s["active"])
    return True


def confirm(board):
    """The trial slot ran healthy: it stays. True when there was a trial to end."""
    s = _slots(board)
    if not s["trial"]:
        return False
    s["trial"] = 0
    _write_json(board, SLOTS, s)
    _write_json(board, BOOT, {"outcome": "confirmed", "version": s["version"]})
    return True


def select(root, slot):
    """root/slot in front of sys.path (none for the flashed tree); the modules of
    PACKAGES already imported are forgotten when that changes."""
    want = root + "/" + slot if slot else None
    changed = False
    for p in list(sys.path):
        if p != want and p.startswith(root + "/") and len(p) == len(root) + 2:
            sys.path.remove(p)
            changed = True
    if want is not None and (not sys.path or sys.path[0] != want):
        if want in sys.path:
            sys.path.remove(want)
        sys.path.insert(0, want)
        changed = True
    if changed:
        for name in list(sys.modules):
            if name.split(".")[0] in PACKAGES:
                del sys.modules[name]


_EVENTS = {"installed": ("FW_IDLE", "ST_OK", "FWS_INSTALLED"),
           "install_failed": ("FW_FAILED", "ST_FAILED", "FWS_INSTALL_FAILED"),
           "rolled_back": ("FW_FAILED", "ST_FAILED", "FWS_ROLLED_BACK"),
           "confirmed": ("FW_IDLE", "ST_OK", "FWS_CONFIRMED")}


def report(ctl, info):
    """After the controller is built: the boot's outcome as an EV_FW_UPDATE event
    (the gateway's FirmwareStatusNotification), the version in HELLO, a resume."""
    from protocols import link_messages as lm

    if info.get("version"):
        ctl.uplink.sw_version = info["version"][:32]
    ev = _EVENTS.get(info.get("outcome"))
    if ev is not None:
        ctl.log(lm.EV_FW_UPDATE, getattr(lm, ev[0]), getattr(lm, ev[1]), getattr(lm, ev[2]), 0)
    if info.get("resume") is not None:
        ctl.fw_resume = info["resume"]
        ctl.log(lm.EV_FW_UPDATE, lm.FW_RECEIVING, lm.ST_OK, lm.FWS_RESUMABLE,
                info["resume"][1])


def start_controller(board, root, before=None):
    """boot(), then the controller of the active slot -> (ctl, info). A trial
    slot that fails to import or start the controller is rolled back and the
    exception goes on (main.py resets; the next boot runs the previous slot).
    before(board) runs first (main.py: the meter port's format)."""
    info = boot(board, root)
    try:
        if before is not None:
            before(board)
        from evse.controller import Controller

        ctl = Controller(board)
        report(ctl, info)
    except Exception:
        if info["trial"]:
            rollback(board, root)
        raise
    return ctl, info


CONFIRM_TICKS = const(500)  # 5 s of control ticks


def healthy(ctl, ticks):
    """A trial slot is confirmed once its controller ran CONFIRM_TICKS ticks and the
    gateway said HELLO (or the charger is standalone: link_timeout_ms 0)."""
    return ticks >= CONFIRM_TICKS and (ctl.uplink.gateway_hello
                                       or not ctl.settings["link_timeout_ms"])


def confirm_and_report(ctl, board):
    """confirm() plus its event."""
    if confirm(board):
        from protocols import link_messages as lm

        ctl.log(lm.EV_FW_UPDATE, lm.FW_IDLE, lm.ST_OK, lm.FWS_CONFIRMED, 0)
        return True
    return False
