# The firmware's side of the signed firmware update (issue 10; UK-S2 "authenticated
# updates", Schedule 1 of the UK Smart Charge Points Regulations): FW_BEGIN /
# FW_CHUNK / FW_END over the link (protocols/LINK.md §4), staged in flash through
# the HAL, the gateway's SHA-256 re-checked, the swap only at an idle moment.
from fw_rig import FwRig, image, sha

from evse import fw_update
from protocols import link_messages as lm

IMG = image(10000)  # two whole parts and a short one


def test_uk_s2_good_transfer_is_staged_and_verified():
    """A whole image with the right SHA-256: FW_BEGIN -> RECEIVING at 0, every chunk
    answered with the next offset, FW_END(VERIFY) -> FW_VERIFIED; the flash holds the
    image; F_FW_UPDATE while receiving; CAP_FW_UPDATE announced; each step logged."""
    r = FwRig()
    try:
        r.tick()
        hello = r.messages(lm.HELLO)[-1]
        assert hello["capabilities"] & lm.CAP_FW_UPDATE
        assert r.ctl.fw is None  # not imported before the first FW_* message (P3)
        f = r.begin(IMG)
        assert (f["status"], f["state"], f["received"]) == (lm.ST_OK, lm.FW_RECEIVING, 0)
        r.tick()
        assert r.telemetry()["flags"] & lm.F_FW_UPDATE
        f = r.send_from(IMG, 0)
        assert f["received"] == len(IMG)
        f = r.end(lm.FWE_VERIFY)
        assert (f["status"], f["state"], f["received"]) == (lm.ST_OK, lm.FW_VERIFIED, 10000)
        assert r.parts_bytes() == IMG
        assert r.staged()["state"] == "verified"
        r.run(100)
        assert not r.telemetry()["flags"] & lm.F_FW_UPDATE
        steps = [s for a, b, s in r.fw_events()]
        assert steps == [lm.FWS_BEGIN, lm.FWS_VERIFIED]
        # the running firmware is untouched: no reset asked, no slot
        assert r.ctl.reset_request < 0 and r.info["slot"] == ""
    finally:
        r.close()


def test_link_chunk_out_of_order_refused_with_received_then_resumed():
    """LINK.md §4: a chunk at another offset than `received` is refused ST_INVALID
    with `received`, and the gateway resumes from there; the image stays whole."""
    r = FwRig()
    try:
        r.begin(IMG)
        f = r.chunk(243, IMG[243:486])  # skipped the first
        assert (f["status"], f["state"], f["received"]) == (lm.ST_INVALID, lm.FW_RECEIVING, 0)
        r.send_from(IMG, 0, 4500)
        f = r.chunk(100, IMG[100:343])  # a resend of an old one
        assert (f["status"], f["received"]) == (lm.ST_INVALID, 4500)
        f = r.chunk(4743, IMG[4743:4986])  # one lost on the way
        assert (f["status"], f["received"]) == (lm.ST_INVALID, 4500)
        r.send_from(IMG, f["received"])
        f = r.end(lm.FWE_VERIFY)
        assert (f["status"], f["state"]) == (lm.ST_OK, lm.FW_VERIFIED)
        assert r.parts_bytes() == IMG
        f = r.begin(IMG)  # the same FW_BEGIN again (a resend): still verified
        assert (f["status"], f["state"], f["received"]) == (lm.ST_OK, lm.FW_VERIFIED, 10000)
    finally:
        r.close()


def test_uk_s2_wrong_hash_fails_and_old_firmware_stays():
    """An image whose SHA-256 is not the one FW_BEGIN announced: FW_END(VERIFY) ->
    FW_FAILED / ST_FAILED, the stage is dropped, nothing is applied; APPLY too."""
    r = FwRig()
    try:
        r.begin(IMG, digest=sha(b"another image"))
        r.send_from(IMG, 0)
        f = r.end(lm.FWE_VERIFY)
        assert (f["status"], f["state"], f["received"]) == (lm.ST_FAILED, lm.FW_FAILED, 0)
        assert r.staged() is None and r.parts_bytes() == b""
        assert (lm.FW_FAILED, lm.ST_FAILED, lm.FWS_FAILED) in r.fw_events()
        f = r.end(lm.FWE_APPLY)  # nothing left to apply
        assert (f["status"], f["state"]) == (lm.ST_REJECTED, lm.FW_FAILED)
        r.begin(IMG, digest=sha(b"x"))
        r.send_from(IMG, 0)
        f = r.end(lm.FWE_APPLY)
        assert (f["status"], f["state"]) == (lm.ST_FAILED, lm.FW_FAILED)
        r.run(200)
        assert r.ctl.reset_request < 0 and r.ctl.reset_now < 0
    finally:
        r.close()


def test_uk_s2_truncated_transfer_fails():
    """FW_END before every byte arrived: FW_FAILED / ST_INVALID, the stage dropped."""
    r = FwRig()
    try:
        r.begin(IMG)
        r.send_from(IMG, 0, 9000)
        f = r.end(lm.FWE_APPLY)
        assert (f["status"], f["state"], f["received"]) == (lm.ST_INVALID, lm.FW_FAILED, 0)
        assert r.staged() is None and r.parts_bytes() == b""
        r.run(200)
        assert r.ctl.reset_now < 0
    finally:
        r.close()


def test_size_overflow_and_bad_sizes_refused():
    """More bytes than FW_BEGIN announced -> FW_FAILED / ST_INVALID; a size of 0 or over
    MAX_IMAGE_B is refused at FW_BEGIN."""
    r = FwRig()
    try:
        r.begin(IMG[:500])
        r.send_from(IMG, 0, 486)
        f = r.chunk(486, IMG[486:729])  # 243 bytes where 14 were left
        assert (f["status"], f["state"], f["received"]) == (lm.ST_INVALID, lm.FW_FAILED, 0)
        f = r.begin(b"", size=0, digest=sha(b""))
        assert (f["status"], f["state"]) == (lm.ST_INVALID, lm.FW_FAILED)
        f = r.begin(IMG, size=fw_update.MAX_IMAGE_B + 1)
        assert (f["status"], f["state"]) == (lm.ST_INVALID, lm.FW_FAILED)
        f = r.chunk(0, IMG[:243])  # no transfer open
        assert f["status"] == lm.ST_REJECTED
    finally:
        r.close()


def test_abort_discards_the_stage():
    """FW_END(ABORT): the staged image is dropped, FW_IDLE; chunks are refused after."""
    r = FwRig()
    try:
        r.begin(IMG)
        r.send_from(IMG, 0, 6000)
        f = r.end(lm.FWE_ABORT)
        assert (f["status"], f["state"], f["received"]) == (lm.ST_OK, lm.FW_IDLE, 0)
        assert r.staged() is None and r.parts_bytes() == b""
        f = r.chunk(6000, IMG[6000:6243])
        assert (f["status"], f["state"]) == (lm.ST_REJECTED, lm.FW_IDLE)
        assert r.trigger_status()["state"] == lm.FW_IDLE
        assert lm.FWS_ABORTED in [s for a, b, s in r.fw_events()]
    finally:
        r.close()


def test_issue10_apply_waits_while_charging_then_swaps_at_idle():
    """Issue 10: "swaps at the next idle moment (never during a charge)". FW_END(APPLY)
    during a charge -> FW_APPLYING; the charge goes on; once the EV has left the stage
    is marked for the boot code and a reset asked, with the contactor open."""
    r = FwRig()
    try:
        r.run(100)
        r.board.plug("B", 220)
        r.run(100)
        r.board.set_ev_state("C")
        assert r.run_until(lambda x: x.board.contacts_closed(), 3000) >= 0
        r.begin(IMG)
        r.send_from(IMG, 0)
        f = r.end(lm.FWE_APPLY)
        assert (f["status"], f["state"], f["received"]) == (lm.ST_OK, lm.FW_APPLYING, 10000)
        r.run(60000)
        assert r.board.contacts_closed() and r.ctl.reset_now < 0
        assert r.staged()["state"] == "verified"
        assert r.telemetry()["flags"] & lm.F_FW_UPDATE
        assert (lm.FW_APPLYING, lm.ST_BUSY, lm.FWS_APPLY_WAIT) in r.fw_events()
        f = r.begin(image(300))  # no new image while one is being applied
        assert (f["status"], f["state"]) == (lm.ST_BUSY, lm.FW_APPLYING)
        r.board.set_ev_state("B")
        r.run(2000)
        assert r.ctl.reset_now < 0  # still plugged in: a session
        r.board.unplug()
        assert r.run_until(lambda x: x.ctl.reset_now >= 0, 1000) >= 0
        assert not r.board.contacts_closed() and r.ctl.contactor == 0
        assert r.ctl.reset_now == 1
        assert r.staged()["state"] == "apply"
        assert (lm.FW_APPLYING, lm.ST_OK, lm.FWS_APPLYING) in r.fw_events()
    finally:
        r.close()


def test_apply_when_idle_resets_at_once():
    """No EV: FW_END(APPLY) leads to the reset within a tick or two."""
    r = FwRig()
    try:
        r.begin(IMG)
        r.send_from(IMG, 0)
        assert r.end(lm.FWE_VERIFY)["state"] == lm.FW_VERIFIED
        assert r.end(lm.FWE_APPLY)["state"] == lm.FW_APPLYING
        assert r.run_until(lambda x: x.ctl.reset_now >= 0, 100) >= 0
    finally:
        r.close()


def test_issue10_power_cut_mid_transfer_resumes_from_flash():
    """Issue 10: a power cut mid-transfer leaves the old firmware running. The parts
    in flash are re-hashed at boot: FW_STATUS reports FW_RECEIVING at the last whole
    part, the same FW_BEGIN resumes there, and the SHA-256 still matches at the end."""
    img = image(20000, 5)
    r = FwRig()
    try:
        r.begin(img)
        r.send_from(img, 0, 9000)  # two parts in flash, 808 bytes in RAM
        r.power_cut(5000)
        assert r.info["slot"] == "" and r.info["resume"][1] == 8192
        assert r.ctl.fw is None
        f = r.trigger_status()
        assert (f["status"], f["state"], f["received"]) == (lm.ST_OK, lm.FW_RECEIVING, 8192)
        assert (lm.FW_RECEIVING, lm.ST_OK, lm.FWS_RESUMABLE) in r.fw_events()
        f = r.begin(img)
        assert (f["status"], f["state"], f["received"]) == (lm.ST_OK, lm.FW_RECEIVING, 8192)
        r.send_from(img, 8192)
        f = r.end(lm.FWE_VERIFY)
        assert (f["status"], f["state"]) == (lm.ST_OK, lm.FW_VERIFIED)
        assert r.parts_bytes() == img
    finally:
        r.close()


def test_power_cut_then_another_image_starts_afresh():
    """After a power cut a FW_BEGIN of a different image drops the old parts."""
    img = image(20000, 5)
    r = FwRig()
    try:
        r.begin(img)
        r.send_from(img, 0, 9000)
        r.power_cut(1000)
        f = r.begin(IMG, version="0.3.0")
        assert (f["status"], f["state"], f["received"]) == (lm.ST_OK, lm.FW_RECEIVING, 0)
        r.send_from(IMG, 0)
        assert r.end(lm.FWE_VERIFY)["state"] == lm.FW_VERIFIED
        assert r.parts_bytes() == IMG
    finally:
        r.close()


def test_power_cut_with_a_damaged_part_drops_the_stage():
    """A part file that is not what the stage says (flash damage): the stage is dropped
    at boot and the transfer starts again from 0."""
    img = image(20000, 5)
    r = FwRig()
    try:
        r.begin(img)
        r.send_from(img, 0, 9000)
        r.board.storage_write(fw_update.PART % 1, b"short")
        r.power_cut(1000)
        assert r.info["resume"] is None and r.staged() is None
        f = r.begin(img)
        assert (f["status"], f["received"]) == (lm.ST_OK, 0)
    finally:
        r.close()


def test_trigger_fw_status_without_an_update():
    """CMD_TRIGGER FW_STATUS: FW_IDLE, ST_OK, 0 when nothing was ever sent."""
    r = FwRig()
    try:
        f = r.trigger_status()
        assert (f["status"], f["state"], f["received"]) == (lm.ST_OK, lm.FW_IDLE, 0)
    finally:
        r.close()
