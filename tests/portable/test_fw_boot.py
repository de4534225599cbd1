# The swap and the rollback of a firmware update (firmware/fwboot.py, issue 10:
# "swaps at the next idle moment ... and rolls back to the previous bundle if the
# new one fails to come up"; UK-S2 authenticated updates: the SHA-256 is checked
# again while the bundle is unpacked).
import os
import sys

import fwboot
from fw_rig import FwRig, cleanup, image, scratch_root, stage_bundle

from evse import fw_update
from mpunit import raises
from protocols import link_messages as lm


def _tree(pkg_names=("evse", "protocols")):
    """The running firmware's own sources as bundle records (the 'new' firmware)."""
    out = []
    for name in pkg_names:
        mod = __import__(name)
        d = mod.__path__ if isinstance(mod.__path__, str) else mod.__path__[0]
        for f in sorted(os.listdir(d)):
            if f.endswith(".py"):
                with open(d + "/" + f, "rb") as fh:
                    out.append((name + "/" + f, fh.read()))
    return out


def _file(path):
    with open(path, "rb") as f:
        return f.read()


def test_bundle_unpacks_across_part_boundaries():
    """EVB1 records streamed out of the part files: a file split over parts, an empty
    file, a subdirectory; the slot holds exactly the files of the bundle."""
    root = scratch_root()
    try:
        big = image(9000, 1)  # spans three parts
        files = [("evse/__init__.py", b""), ("evse/big.py", big),
                 ("protocols/x/y.py", b"Y = 1\n")]
        from sim_hardware.sim_board import SimBoard

        board = SimBoard()
        stage_bundle(board, fwboot.pack(files), "9.9.9")
        info = fwboot.boot(board, root)
        assert info["outcome"] == "installed" and info["slot"] == "a" and info["trial"]
        assert _file(root + "/a/evse/big.py") == big
        assert _file(root + "/a/evse/__init__.py") == b""
        assert _file(root + "/a/protocols/x/y.py") == b"Y = 1\n"
        assert fw_update.read_json(board, fw_update.STAGE) is None  # the stage is used up
        assert not board.storage_read(fw_update.PART % 0)
    finally:
        cleanup(root)


def test_bundle_names_are_refused_outside_the_slot():
    """A record named ../x.py or /main.py could write outside the slot: refused."""
    for bad in ("../x.py", "/main.py", "evse/../../x.py", "evse/a.txt", ""):
        with raises(ValueError):
            fwboot.pack([(bad, b"")])


def test_uk_s2_damaged_stage_is_not_installed():
    """A part changed in flash after the verification: the SHA-256 check of the boot
    code fails, the spare slot is removed and the old firmware keeps running."""
    root = scratch_root()
    try:
        from sim_hardware.sim_board import SimBoard

        board = SimBoard()
        stage_bundle(board, fwboot.pack([("evse/big.py", image(9000))]), "1.0")
        board.storage_write(fw_update.PART % 1, image(4096, 9))
        info = fwboot.boot(board, root)
        assert info["outcome"] == "install_failed" and info["slot"] == ""
        assert "a" not in os.listdir(root)
    finally:
        cleanup(root)


def test_issue10_good_bundle_swapped_in_and_confirmed():
    """The whole way: the bundle over the link, APPLY at idle, the reset, the boot code
    unpacks it into slot a and the controller is imported from there; a trial until it
    ran healthy with the gateway's HELLO, then confirmed. HELLO says the new version."""
    r = FwRig()
    try:
        bundle = fwboot.pack(_tree())
        r.begin(bundle, version="0.2.0")
        r.send_from(bundle, 0)
        assert r.end(lm.FWE_APPLY)["state"] == lm.FW_APPLYING
        assert r.run_until(lambda x: x.ctl.reset_now >= 0, 1000) >= 0
        r.reboot()
        assert r.info["outcome"] == "installed" and r.info["slot"] == "a" and r.info["trial"]
        assert sys.modules["evse.controller"].__file__.startswith(r.root + "/a/")
        hello = r.messages(lm.HELLO)[-1]
        assert hello["sw_version"] == "0.2.0"
        for _ in range(fwboot.CONFIRM_TICKS):
            r.tick()
        assert fwboot.healthy(r.ctl, fwboot.CONFIRM_TICKS)
        assert fwboot.confirm_and_report(r.ctl, r.board)
        assert not fwboot.confirm(r.board)  # once
        steps = [s for a, b, s in r.fw_events()]
        assert lm.FWS_INSTALLED in steps and lm.FWS_CONFIRMED in steps
        r.reboot()  # a confirmed slot stays
        assert r.info["slot"] == "a" and not r.info["trial"] and r.info["outcome"] == ""
        assert r.trigger_status()["state"] == lm.FW_IDLE
    finally:
        r.close()


def test_issue10_bundle_failing_at_import_rolled_back():
    """A bundle whose code raises at import: start_controller rolls the slot back and
    re-raises (main.py resets); the next boot runs the previous firmware, logs the
    rollback and FW_STATUS says FW_FAILED / ST_FAILED."""
    r = FwRig()
    try:
        bad = fwboot.pack([("evse/__init__.py", b"raise RuntimeError('broken bundle')\n")])
        stage_bundle(r.board, bad, "6.6.6")
        r.board.reboot()
        with raises(RuntimeError):
            fwboot.start_controller(r.board, r.root)
        assert fwboot._slots(r.board)["active"] == ""
        assert "a" not in os.listdir(r.root)
        r.reboot()
        assert r.info["slot"] == "" and r.info["outcome"] == "rolled_back"
        assert sys.modules["evse.controller"].__file__.find(r.root) < 0
        assert (lm.FW_FAILED, lm.ST_FAILED, lm.FWS_ROLLED_BACK) in r.fw_events()
        f = r.trigger_status()
        assert (f["status"], f["state"]) == (lm.ST_FAILED, lm.FW_FAILED)
        img = image(300)
        f = r.begin(img)  # a new attempt clears the failure
        assert (f["status"], f["state"]) == (lm.ST_OK, lm.FW_RECEIVING)
    finally:
        r.close()


def test_issue10_unconfirmed_trial_rolled_back_after_max_boots():
    """A new slot that never runs healthy (crashes, watchdog resets) is given
    MAX_TRIAL_BOOTS boots, then the previous slot is restored."""
    root = scratch_root()
    try:
        from sim_hardware.sim_board import SimBoard

        board = SimBoard()
        stage_bundle(board, fwboot.pack([("evse/__init__.py", b"")]), "2.0")
        assert fwboot.boot(board, root)["slot"] == "a"
        for _ in range(fwboot.MAX_TRIAL_BOOTS - 1):
            board.watchdog_reset()
            info = fwboot.boot(board, root)
            assert info["slot"] == "a" and info["trial"]
        board.watchdog_reset()
        info = fwboot.boot(board, root)
        assert info["slot"] == "" and info["outcome"] == "rolled_back" and not info["trial"]
        assert fw_update.read_json(board, fw_update.BOOT)["outcome"] == "rolled_back"
    finally:
        cleanup(root)


def test_second_update_keeps_one_previous_slot():
    """Slot a confirmed, then an update into b: a is kept as the previous one; a
    failing b goes back to a, not to the flashed tree."""
    root = scratch_root()
    try:
        from sim_hardware.sim_board import SimBoard

        board = SimBoard()
        stage_bundle(board, fwboot.pack([("evse/__init__.py", b"")]), "2.0")
        fwboot.boot(board, root)
        assert fwboot.confirm(board)
        stage_bundle(board, fwboot.pack([("evse/__init__.py", b"")]), "3.0")
        info = fwboot.boot(board, root)
        assert info["slot"] == "b" and info["version"] == "3.0"
        assert fwboot._slots(board)["previous"] == "a"
        assert fwboot.rollback(board, root)
        info = fwboot.boot(board, root)
        assert info["slot"] == "a" and info["version"] == "2.0"
        assert info["outcome"] == "rolled_back"
        assert sorted(os.listdir(root)) == ["a"]
    finally:
        cleanup(root)
