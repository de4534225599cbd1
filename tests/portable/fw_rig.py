# The update's bench for portable tests: the evse_rig charger booted the way
# main.py boots it (fwboot.start_controller: the boot code of the update, then
# the controller of the active slot), plus the gateway's side of FW_BEGIN /
# FW_CHUNK / FW_END (protocols/LINK.md §4). Slots live in a scratch directory.
import hashlib
import os
import sys

import fwboot
from evse_rig import TICK_MS, Rig

from evse import fw_update
from protocols import link_messages as lm

_count = [0]
# the modules of the flashed tree, put back after a test ran a slot's (fwboot.select
# forgets them when the slot changes; later tests compare classes such as hal.base.Board)
_ORIGINAL = {}
for _name in sys.modules:
    if _name.split(".")[0] in fwboot.PACKAGES:
        _ORIGINAL[_name] = sys.modules[_name]


def cleanup(root):
    fwboot.select(root, "")
    fwboot._rmtree(root)
    for name in list(sys.modules):
        if name.split(".")[0] in fwboot.PACKAGES:
            del sys.modules[name]
    for name in _ORIGINAL:
        sys.modules[name] = _ORIGINAL[name]


def scratch_root():
    """A fresh directory for the slots (CPython's /tmp or the VM's in-memory /tmp)."""
    _count[0] += 1
    root = "/tmp/fwslots_%d_%d" % (id(_count) & 0xFFFFFF, _count[0])
    fwboot._rmtree(root)
    os.mkdir(root)
    return root


def image(n, salt=0):
    return bytes([(i * 7 + 3 + salt) & 0xFF for i in range(n)])


def sha(data):
    h = hashlib.sha256()
    h.update(data)
    return h.digest()


class FwRig(Rig):
    def __init__(self, root=None, settings=None, **kw):
        self.root = root or scratch_root()
        self.info = None
        self.tag = 0
        s = {"random_delay_max_s": 0}
        s.update(settings or {})
        Rig.__init__(self, s, meter=None, **kw)

    def boot(self):
        self.ctl, self.info = fwboot.start_controller(self.board, self.root)
        self._collect()
        self.auto_ack = True
        self.hello()  # a gateway on the link: events go up (LINK.md 5.1)
        self.tick()
        return self.ctl

    def reboot(self):
        """What main.py does on ctl.reset_now: the board resets and boots again."""
        self.board.reboot()
        return self.boot()

    def close(self):
        cleanup(self.root)  # the flashed tree again for the next tests

    # --- the gateway's side ----------------------------------------------------
    def ask(self, mtype, fields):
        """One tagged request, one tick -> its FW_STATUS answer as a dict."""
        self.tag = self.tag % 250 + 1
        start = len(self.up)
        self.send(mtype, fields, self.tag)
        got = []
        for _ in range(5):  # a frame of 255 bytes may take two ticks' reads (256 bytes each)
            self.tick()
            got = [f for t, g, f in self.up[start:] if t == lm.FW_STATUS and g == self.tag]
            if got:
                break
        assert len(got) == 1, "no single FW_STATUS for tag %d" % self.tag
        return got[0]

    def begin(self, data, version="0.2.0", size=-1, digest=None):
        return self.ask(lm.FW_BEGIN, {"size": len(data) if size < 0 else size,
                                      "sha256": digest or sha(data), "version": version})

    def chunk(self, offset, data):
        return self.ask(lm.FW_CHUNK, {"offset": offset, "data": data})

    def send_from(self, data, offset, stop=-1):
        """Chunks of 243 bytes from offset to stop (the end); -> the last answer."""
        stop = len(data) if stop < 0 else stop
        f = None
        while offset < stop:
            f = self.chunk(offset, data[offset:min(offset + 243, stop)])
            assert f["status"] == lm.ST_OK, f
            offset = f["received"]
        return f

    def end(self, action):
        return self.ask(lm.FW_END, {"action": action})

    def trigger_status(self):
        start = len(self.up)
        self.command(lm.CMD_TRIGGER, lm.FW_STATUS)
        self.tick()
        got = [f for t, g, f in self.up[start:] if t == lm.FW_STATUS]
        assert len(got) == 1, "no single FW_STATUS for the trigger"
        return got[0]

    def fw_events(self):
        """(state, status, step) of every EV_FW_UPDATE so far (after the 1 s flush)."""
        self.run(1100)
        return [(f["a"], f["b"], f["c"]) for f in self.events(lm.EV_FW_UPDATE)]

    def staged(self):
        return fw_update.read_json(self.board, fw_update.STAGE)

    def parts_bytes(self):
        out = b""
        i = 0
        while self.board.storage_read(fw_update.PART % i):
            out += self.board.storage_read(fw_update.PART % i)
            i += 1
        return out


def stage_bundle(board, bundle, version):
    """Write a verified bundle marked "apply" as evse/fw_update.py leaves it."""
    parts = 0
    for off in range(0, len(bundle), fw_update.PART_B):
        board.storage_write(fw_update.PART % parts, bundle[off:off + fw_update.PART_B])
        parts += 1
    import json

    board.storage_write(fw_update.STAGE, json.dumps({
        "state": "apply", "size": len(bundle), "sha256": fw_update._hex(sha(bundle)),
        "version": version, "parts": parts}).encode())


def run_ticks(rig, n):
    for _ in range(n):
        rig.tick()
    return n * TICK_MS
