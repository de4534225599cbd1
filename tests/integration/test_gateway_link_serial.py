"""The gateway's EvseLink against the REAL firmware controller (evse.controller on the sim
board, 10 ms ticks on a thread), through a real transport: pyserial's serial_for_url on
socket://127.0.0.1:PORT, framed per protocols/LINK.md §2. Every wait is bounded."""

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sim_link_fixture import SimCharger, async_wait_for, wait_for

from gateway.link import Backoff, EvseLink, make_transport
from gateway.store import Store
from protocols import link
from protocols import link_messages as lm

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@pytest.fixture
def sim():
    s = SimCharger()
    s.url = s.start_tcp()
    yield s
    s.stop()


@contextlib.asynccontextmanager
async def running_link(url, store, **kw):
    kw.setdefault("link_timeout_ms", 3000)
    transport = make_transport(url, 1, backoff=Backoff(0.05, 0.3))
    ln = EvseLink(transport, store, 1, **kw)
    await ln.start()
    try:
        await async_wait_for(lambda: ln.online, 3, "the HELLO exchange")
        yield ln
    finally:
        await ln.stop()


async def charge(sim):
    sim.do(lambda s: s.board.plug("B", 220))  # 32 A cable
    await asyncio.sleep(0.2)
    sim.do(lambda s: s.board.set_ev_state("C"))
    await async_wait_for(lambda: sim.status()["contactor"] == 1, 5, "the contactor to close")


def assert_exactly_once(store, sim):
    """What the store holds is what the firmware sent: each seq once, none missing."""
    sent = sim.events_sent()
    stored = store.records(1)
    seqs = [r.seq for r in stored]
    assert seqs == list(range(1, max(sent) + 1)), "duplicates or gaps: %r" % seqs
    assert sorted(sent) == seqs
    for r in stored:
        assert r.mtype == lm.EVENT and r.fields == sent[r.seq]


def test_ag02_hello_exchange_and_time_sync_reach_the_firmware(sim, store):
    async def run():
        async with running_link(sim.url, store) as ln:
            p = ln.peer
            assert (p.version, p.phases, p.max_current_ma, p.link_timeout_ms) == \
                ("1.0", 3, 32000, 2000)
            assert {"schedule", "logs", "pp", "rcd"} <= p.capability_names
            await async_wait_for(lambda: ln.last_time_sync_unix_s is not None, 3, "TIME_SYNC")
            assert abs(sim.status()["unix_s"] - time.time()) <= 2  # the firmware's clock
            await async_wait_for(lambda: ln.telemetry and ln.telemetry.has("time_valid"), 3,
                                 "telemetry with F_TIME_VALID")

    asyncio.run(run())


def test_ag06_telemetry_follows_the_charge(sim, store):
    async def run():
        async with running_link(sim.url, store) as ln:
            seen = []
            ln.on_telemetry(lambda new, old: seen.append(new))
            await charge(sim)
            await async_wait_for(lambda: ln.telemetry.session == "charging", 3, "charging")
            t = ln.telemetry
            assert (t.cp_state, t.contactor, t.offered_ma) == ("C", True, 32000)
            assert 0 < t.duty_permille < 1000
            states = [x.cp_state for x in seen]  # each change reported at once (AG-08)
            assert "B" in states and states[-1] == "C"

    asyncio.run(run())


def test_ag09_limit_applied_answered_and_removed(sim, store):
    async def run():
        async with running_link(sim.url, store) as ln:
            await charge(sim)
            r = await ln.set_limit(lm.SRC_CSMS, 10000)
            assert r.ok and r.value == 10000  # RESULT value: offered_ma now
            await async_wait_for(lambda: sim.status()["offered_ma"] == 10000, 2, "10 A offered")
            await async_wait_for(lambda: ln.telemetry.offered_ma == 10000
                                 and ln.telemetry.limit_source == "csms", 3, "telemetry")
            r = await ln.set_limit(lm.SRC_HEMS, 50000)  # over the rating: clamped
            assert r.ok
            r = await ln.set_limit(lm.SRC_CSMS, None)
            assert r.ok and r.value == 32000
            await async_wait_for(lambda: sim.status()["offered_ma"] == 32000, 2, "32 A again")
            gens = {(q.kind, q.entity): q.generation for q in store.requests(1)}
            assert gens[(lm.LIMIT, lm.SRC_CSMS)] == 3  # "none" after HELLO, 10 A, removed

    asyncio.run(run())


def test_ag11_failsafe_left_after_hello_and_limits_and_entered_on_silence(sim, store):
    """Boot counts as silence; the firmware leaves failsafe once it heard the gateway AND
    its limits (re-sent after every HELLO); the gateway gone, failsafe caps the offer."""
    async def run():
        assert sim.status()["failsafe"]
        await charge(sim)
        assert sim.status()["offered_ma"] == 6000  # failsafe_current_ma
        async with running_link(sim.url, store) as ln:
            await async_wait_for(lambda: not sim.status()["failsafe"], 2, "failsafe left")
            r = await ln.set_limit(lm.SRC_CSMS, 16000)
            assert r.ok
        await async_wait_for(lambda: sim.status()["failsafe"], 4, "failsafe after 2 s silence")
        await async_wait_for(lambda: sim.status()["offered_ma"] == 6000, 1, "6 A failsafe")
        async with running_link(sim.url, store):  # a gateway process restarted
            await async_wait_for(lambda: not sim.status()["failsafe"], 2, "failsafe left")
            await async_wait_for(lambda: sim.status()["offered_ma"] == 16000, 2,
                                 "the stored 16 A limit re-sent")

    asyncio.run(run())


def test_5_1_events_committed_once_then_acked(sim, store):
    async def run():
        async with running_link(sim.url, store) as ln:
            committed = []
            ln.on_record(committed.append)
            sim.log_events(20)
            await async_wait_for(lambda: sim.status()["events_pending"] == 0, 6,
                                 "every event acked")
            assert_exactly_once(store, sim)
            await async_wait_for(lambda: len(committed) >= 20, 1, "record listeners")
            seqs = [r.seq for r in store.records(1)]
            assert [r.seq for r in committed] == seqs[-len(committed):]

    asyncio.run(run())


def _spawn_gateway(url, db, commit_delay_s):
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "sim_link_fixture.py"), "gateway", url, str(db),
         str(commit_delay_s)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        cwd=REPO)
    lines = []

    def read():
        try:
            for line in proc.stdout:
                lines.append(json.loads(line))
        except ValueError:  # the pipe closed under the reader
            pass

    threading.Thread(target=read, daemon=True).start()
    return proc, lines


def _kill(proc):
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(5)
    proc.stdout.close()


def test_5_1_gateway_killed_mid_stream_no_duplicates_no_gaps(sim, tmp_path):
    """kill -9 of the gateway process while records flow (commits slowed to 60 ms, so the
    kill lands between commit and ack or mid-commit); a new process on the same SQLite file
    resumes: every record stored exactly once, in order."""
    db = tmp_path / "gw.db"
    proc, lines = _spawn_gateway(sim.url, db, 0.06)
    try:
        wait_for(lambda: {"online": True} in lines, 10, "the first gateway online")
        sim.log_events(30)
        wait_for(lambda: sum("seq" in x for x in lines) >= 8, 8, "some records committed")
    finally:
        _kill(proc)
    printed = [x["seq"] for x in lines if "seq" in x]
    with Store(db) as s:
        mid = [r.seq for r in s.records(1)]
    assert set(printed) <= set(mid), "a record reported committed was lost"
    assert sim.status()["events_pending"] > 0, "the kill came after the stream"
    proc, lines = _spawn_gateway(sim.url, db, 0)
    try:
        wait_for(lambda: sim.status()["events_pending"] == 0, 10, "every event acked")
    finally:
        _kill(proc)
    with Store(db) as s:
        assert_exactly_once(s, sim)


def test_link_malformed_frames_dropped_and_counted(sim, store):
    async def run():
        async with running_link(sim.url, store) as ln:
            c0 = ln.counters()
            sim.send_raw(b"\x00\x05\x01\x02\x03\x04\x00")  # CRC wrong
            sim.send_raw(b"\x00" + b"\xff" * 300 + b"\x00")  # over 252 bytes
            sim.send_raw(b"\x00\x09\x01\x02\x03\x04\x00")  # a COBS block past the end
            sim.send_raw(link.frame(bytes((2, lm.HELLO, 5)) + bytes(30)))  # good CRC, major 2
            await async_wait_for(lambda: ln.counters()["rx_bad"] == c0["rx_bad"] + 1, 3,
                                 "the undecodable message")
            c = ln.counters()
            assert c["crc_errors"] == c0["crc_errors"] + 1
            assert c["oversize"] == c0["oversize"] + 1
            assert c["cobs_errors"] == c0["cobs_errors"] + 1
            n = ln.stats["telemetry"]
            await async_wait_for(lambda: ln.stats["telemetry"] > n, 3, "telemetry after")
            assert ln.online and ln.transport.counters()["disconnects"] == 0

    asyncio.run(run())


def test_link_reconnects_after_the_socket_drops(sim, store):
    async def run():
        async with running_link(sim.url, store) as ln:
            states = []
            ln.on_online(states.append)
            sim.drop_connection()
            sim.log_events(5)  # while the link is down: delivered after the reconnect
            await async_wait_for(lambda: states[:1] == [False], 2, "offline")
            await async_wait_for(lambda: ln.online, 3, "online again")
            assert sim.accepted == 2 and ln.transport.counters()["connects"] == 2
            assert ln.stats["hellos"] >= 2
            await async_wait_for(lambda: sim.status()["events_pending"] == 0, 6,
                                 "every event acked")
            assert_exactly_once(store, sim)
            r = await ln.set_limit(lm.SRC_CSMS, 8000)
            assert r.ok

    asyncio.run(run())


def test_5_2_firmware_reboot_gets_its_limits_again(sim, store):
    async def run():
        async with running_link(sim.url, store) as ln:
            await charge(sim)
            assert (await ln.set_limit(lm.SRC_DNO, 12000)).ok
            await async_wait_for(lambda: sim.status()["offered_ma"] == 12000, 2, "12 A")
            hellos = ln.stats["hellos"]
            sim.reboot()  # limits are RAM only on the firmware: the gateway re-sends them
            await async_wait_for(lambda: ln.stats["hellos"] > hellos, 3, "the boot HELLO")
            await async_wait_for(lambda: sim.status()["offered_ma"] == 12000
                                 and sim.status()["contactor"] == 1, 5, "12 A after reboot")
            await async_wait_for(lambda: sim.status()["events_pending"] == 0, 6, "acked")
            assert_exactly_once(store, sim)

    asyncio.run(run())


def test_5_1_firmware_log_reset_opens_a_new_epoch(sim, store):
    async def run():
        async with running_link(sim.url, store) as ln:
            sim.log_events(3)
            await async_wait_for(lambda: sim.status()["events_pending"] == 0, 6, "acked")
            first = store.records(1)

            def corrupt_and_reboot(s):
                s.board.storage["events.bin"] = b"not an event log"
                s.reboot()

            sim.do(corrupt_and_reboot)
            await async_wait_for(lambda: store.cursor(1).epoch == 1
                                 and sim.status()["events_pending"] == 0, 8, "the new epoch")
            new = [r for r in store.records(1) if r.epoch == 1]
            assert [r.seq for r in new] == list(range(1, len(new) + 1))
            assert lm.EV_LOG_RESET in [r.code for r in new]
            assert store.records(1)[:len(first)] == first
            assert ln.stats["record_epochs"] == 1

    asyncio.run(run())


def test_settings_commands_and_log_retrieval(sim, store):
    async def run():
        async with running_link(sim.url, store) as ln:
            v = await ln.setting_get("max_current_ma")
            assert v.ok and v.value == 32000
            v = await ln.setting_set("telemetry_interval_s", 2)
            assert v.ok and v.value == 2
            v = await ln.setting_set("telemetry_interval_s", 999)  # UK-8: refused, reason
            assert v.status == lm.ST_INVALID and isinstance(v.value, str)
            assert (await ln.setting_get("no_such_key")).status == lm.ST_UNKNOWN
            assert (await ln.command(lm.CMD_AVAILABILITY, 0)).ok
            await async_wait_for(lambda: ln.telemetry.has("unavailable"), 3, "unavailable")
            assert (await ln.command(lm.CMD_AVAILABILITY, 1)).ok
            data = await ln.read_log(lm.LOG_EVENTS)
            assert data[:4] == b"EVLG" and len(data) > 238  # several LOG_DATA chunks

    asyncio.run(run())
