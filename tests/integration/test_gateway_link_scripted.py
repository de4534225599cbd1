"""EvseLink against a scripted firmware on an in-memory transport: the rules of
protocols/LINK.md §5 one by one, deterministic and fast. The same EvseLink against the real
firmware is in test_gateway_link_serial.py and test_gateway_link_mqtt.py."""

import asyncio

import pytest
from sim_link_fixture import async_wait_for

from gateway.link import EvseLink, LinkTimeout, Nak, Transport, evse_link
from gateway.store import Store
from protocols import link
from protocols import link_messages as lm


class ScriptedTransport(Transport):
    """Connected at once; what the gateway sends is decoded into `sent`."""

    def __init__(self):
        super().__init__("scripted")
        self.sent = []

    async def _supervise(self):
        self._set_connected(True)
        await asyncio.Event().wait()

    async def _shutdown(self, task):
        task.cancel()

    def send(self, payload):
        if not self.connected:
            return False
        status, mtype, tag, fields = link.decode(payload)
        assert status == lm.OK, "the gateway sent a message that does not decode"
        self.sent.append((mtype, tag, fields))
        return True

    def feed(self, mtype, fields, tag=0):
        self._deliver(link.encode(mtype, fields, tag))

    def of(self, mtype):
        return [(t, f) for m, t, f in self.sent if m == mtype]


def hello_fields(unacked_seq=1, flags=0, link_timeout_ms=30000, caps=lm.CAP_SCHEDULE,
                 max_current_ma=32000):
    return {"major": 1, "minor": 0, "role": lm.ROLE_FIRMWARE, "flags": flags, "phases": 3,
            "capabilities": caps, "max_current_ma": max_current_ma,
            "link_timeout_ms": link_timeout_ms, "unacked_seq": unacked_seq,
            "sw_version": "scripted"}


def event(seq, code=lm.EV_COMMAND, c=0, unix_s=1767225600):
    return {"seq": seq, "unix_s": unix_s, "code": code, "a": 0, "b": 0, "c": c, "d": 0}


async def started(store, **kw):
    t = ScriptedTransport()
    kw.setdefault("request_timeout_s", 0.5)
    ln = EvseLink(t, store, 1, **kw)
    await ln.start()
    await t.wait_connected(1)
    return t, ln


async def settle():
    for _ in range(20):  # the receive task and the store's thread
        await asyncio.sleep(0.005)


def acks(t):
    return [f["seq"] for _, f in t.of(lm.EVENT_ACK)]


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "gw.db")
    yield s
    s.close()


def test_5_3_hello_sent_on_connect_and_answered_with_reply_and_same_tag(store):
    async def run():
        t, ln = await started(store)
        await settle()
        assert t.of(lm.HELLO)[0][1]["flags"] == 0
        assert t.of(lm.HELLO)[0][1]["role"] == lm.ROLE_GATEWAY
        t.feed(lm.HELLO, hello_fields(), tag=9)
        await async_wait_for(lambda: ln.online, 1, "online")
        tag, reply = t.of(lm.HELLO)[-1]
        assert tag == 9 and reply["flags"] & lm.HELLO_REPLY
        assert ln.peer.max_current_ma == 32000 and ln.peer.version == "1.0"
        assert "schedule" in ln.peer.capability_names
        # after the exchange: TIME_SYNC, then the limits again (none stored: "no CSMS limit")
        await settle()
        kinds = [m for m, _, _ in t.sent if m in (lm.TIME_SYNC, lm.LIMIT)]
        assert kinds[:2] == [lm.TIME_SYNC, lm.LIMIT]
        assert t.of(lm.LIMIT)[0][1]["limit_ma"] == lm.LIMIT_NONE
        await ln.stop()

    asyncio.run(run())


def test_5_1_commit_then_ack_duplicates_and_gaps_dropped(store):
    async def run():
        t, ln = await started(store)
        committed = []
        ln.on_record(committed.append)
        t.feed(lm.EVENT, event(1))  # before HELLO: ignored, not acked
        await settle()
        assert ln.stats["records_before_hello"] == 1 and acks(t) == []
        t.feed(lm.HELLO, hello_fields(unacked_seq=5))
        for seq in (5, 5, 7, 6):  # a record, its duplicate, a gap, the missing one
            t.feed(lm.EVENT, event(seq, c=seq))
        await async_wait_for(lambda: len(acks(t)) == 4, 2, "four acks")
        assert acks(t) == [5, 5, 5, 6]
        assert [r.seq for r in store.records(1)] == [5, 6]
        assert ln.stats["records_duplicate"] == 1 and ln.stats["records_gap"] == 1
        await async_wait_for(lambda: len(committed) == 2, 1, "record listeners")
        assert [r.seq for r in committed] == [5, 6]
        assert committed[0].fields == event(5, c=5)
        await ln.stop()

    asyncio.run(run())


def test_5_1_gateway_restart_lost_acks_no_duplicate(store):
    """The gateway committed 5..7 and died before the acks left: the firmware still holds
    them and says unacked_seq 5. They come again and are dropped; 8 is the next."""
    async def run():
        t, ln = await started(store)
        t.feed(lm.HELLO, hello_fields(unacked_seq=5))
        for seq in (5, 6, 7):
            t.feed(lm.EVENT, event(seq, c=seq))
        await async_wait_for(lambda: store.cursor(1).last_seq == 7, 2, "three commits")
        await ln.stop()
        t, ln = await started(store)  # a new gateway process on the same store
        t.feed(lm.HELLO, hello_fields(unacked_seq=5))
        for seq in (5, 6, 7, 8):
            t.feed(lm.EVENT, event(seq, c=seq))
        session = {"seq": 9, "session_id": 4, "start_unix_s": 100, "stop_unix_s": 200,
                   "charging_s": 90, "energy_import_wh": 7400, "energy_export_wh": 0,
                   "stop_reason": lm.STOP_UNPLUG}  # SESSION shares the sequence (§4)
        t.feed(lm.SESSION, session)
        await async_wait_for(lambda: len(acks(t)) == 5, 2, "five acks")
        assert acks(t) == [7, 7, 7, 8, 9]
        assert [r.seq for r in store.records(1)] == [5, 6, 7, 8, 9]
        assert store.record_at(1, 0, 9).mtype == lm.SESSION
        assert store.record_at(1, 0, 9).fields == session
        await ln.stop()

    asyncio.run(run())


def test_5_1_log_reset_starts_a_new_epoch(store):
    """EV_LOG_RESET: the firmware's seq restarted at 1 (its events.bin was unreadable)."""
    async def run():
        t, ln = await started(store)
        t.feed(lm.HELLO, hello_fields(unacked_seq=1))
        for seq in (1, 2, 3):
            t.feed(lm.EVENT, event(seq, c=seq))
        await async_wait_for(lambda: store.cursor(1).last_seq == 3, 2, "three commits")
        # rebooted with an empty log: boot (1), log_reset (2); HELLO says 1 (looks like
        # lost acks: within the window)
        t.feed(lm.HELLO, hello_fields(unacked_seq=1))
        t.feed(lm.EVENT, event(1, code=lm.EV_BOOT, c=7))  # differs from the stored 1
        t.feed(lm.EVENT, event(2, code=lm.EV_LOG_RESET))
        await async_wait_for(lambda: store.cursor(1).last_seq == 2, 2, "the new epoch")
        assert store.cursor(1).epoch == 1
        new = [r for r in store.records(1) if r.epoch == 1]
        assert [(r.seq, r.code) for r in new] == [(1, lm.EV_BOOT), (2, lm.EV_LOG_RESET)]
        # a log reset announced by the EV_LOG_RESET record alone (seq not stored before)
        t.feed(lm.HELLO, hello_fields(unacked_seq=1))
        await settle()
        t.feed(lm.EVENT, event(1, code=lm.EV_LOG_RESET, c=0, unix_s=5))
        await async_wait_for(lambda: store.cursor(1).epoch == 2, 2, "epoch 2")
        assert store.record_at(1, 2, 1).code == lm.EV_LOG_RESET
        await ln.stop()

    asyncio.run(run())


def test_5_1_hello_far_behind_or_ahead_of_the_store(store):
    async def run():
        t, ln = await started(store)
        t.feed(lm.HELLO, hello_fields(unacked_seq=100))
        t.feed(lm.EVENT, event(100))
        await async_wait_for(lambda: store.cursor(1).last_seq == 100, 2, "commit 100")
        # a new controller: numbering from 1, far below what is stored -> new epoch
        t.feed(lm.HELLO, hello_fields(unacked_seq=1))
        t.feed(lm.EVENT, event(1))
        await async_wait_for(lambda: store.cursor(1).epoch == 1, 2, "new epoch")
        assert store.cursor(1).last_seq == 1
        # records the firmware dropped (ring full) while the gateway was away: a gap
        t.feed(lm.HELLO, hello_fields(unacked_seq=50))
        t.feed(lm.EVENT, event(50))
        await async_wait_for(lambda: store.cursor(1).last_seq == 50, 2, "commit 50")
        assert ln.stats["records_missed"] == 48
        await ln.stop()

    asyncio.run(run())


def test_5_4_request_resent_with_same_tag_answered_once(store, monkeypatch):
    monkeypatch.setattr(evse_link, "REQUEST_RESEND_S", 0.2)

    async def run():
        t, ln = await started(store, request_timeout_s=3)
        t.feed(lm.HELLO, hello_fields())
        await async_wait_for(lambda: ln.online, 1, "online")
        task = asyncio.create_task(ln.setting_get("phases"))
        await async_wait_for(lambda: len(t.of(lm.SETTING_GET)) >= 2, 2, "a resend")
        tags = {tag for tag, _ in t.of(lm.SETTING_GET)}
        assert len(tags) == 1 and 0 not in tags
        tag = tags.pop()
        t.feed(lm.SETTING_VALUE, {"status": lm.ST_OK, "key": "phases", "value": 3}, tag=tag)
        t.feed(lm.SETTING_VALUE, {"status": lm.ST_OK, "key": "phases", "value": 3}, tag=tag)
        r = await asyncio.wait_for(task, 2)
        assert r.ok and r.value == 3
        await settle()
        assert ln.stats["answers_unmatched"] >= 1  # the second answer matched nothing
        await ln.stop()

    asyncio.run(run())


def test_5_4_nak_fails_the_request_and_silence_times_out(store):
    async def run():
        t, ln = await started(store, request_timeout_s=0.3)
        t.feed(lm.HELLO, hello_fields())
        await async_wait_for(lambda: ln.online, 1, "online")
        task = asyncio.create_task(ln.command(lm.CMD_UNLOCK))
        await async_wait_for(lambda: t.of(lm.COMMAND), 1, "the command")
        tag = t.of(lm.COMMAND)[0][0]
        t.feed(lm.NAK, {"error": lm.E_TYPE, "bad_type": lm.COMMAND, "major": 1, "minor": 0},
               tag=tag)
        with pytest.raises(Nak):
            await asyncio.wait_for(task, 1)
        with pytest.raises(LinkTimeout):
            await ln.setting_get("phases")
        await ln.stop()

    asyncio.run(run())


def test_5_4_command_never_reuses_the_previous_command_tag_across_restarts(store):
    async def run():
        t, ln = await started(store, request_timeout_s=0.2)
        t.feed(lm.HELLO, hello_fields())
        await async_wait_for(lambda: ln.online, 1, "online")
        with pytest.raises(LinkTimeout):
            await ln.command(lm.CMD_PAUSE)
        first = t.of(lm.COMMAND)[0][0]
        await ln.stop()
        t2, ln2 = await started(store, request_timeout_s=0.2)
        ln2._tag = first - 1  # the cyclic counter would hand out the same tag next
        t2.feed(lm.HELLO, hello_fields())
        await async_wait_for(lambda: ln2.online, 1, "online")
        ln2._tag = first - 1
        with pytest.raises(LinkTimeout):
            await ln2.command(lm.CMD_RESUME)
        assert t2.of(lm.COMMAND)[0][0] != first
        await ln2.stop()

    asyncio.run(run())


def test_5_4_undecodable_message_gets_a_nak(store):
    async def run():
        t, ln = await started(store)
        t._deliver(bytes((2, lm.HELLO, 7)) + bytes(30))  # a newer major
        t._deliver(bytes((1, 0x7F, 3)))  # an unknown type
        t.feed(lm.LIMIT, {"entity": 16, "generation": 1, "limit_ma": 6000, "duration_s": 0},
               tag=4)  # valid, but never sent up
        await async_wait_for(lambda: len(t.of(lm.NAK)) == 3, 1, "three NAKs")
        naks = [(tag, f["error"], f["bad_type"]) for tag, f in t.of(lm.NAK)]
        assert naks == [(7, lm.E_VERSION, lm.HELLO), (3, lm.E_TYPE, 0x7F),
                        (4, lm.E_TYPE, lm.LIMIT)]
        t.feed(lm.NAK, {"error": lm.E_TYPE, "bad_type": 0x7F, "major": 1, "minor": 0}, tag=3)
        await settle()
        assert len(t.of(lm.NAK)) == 3  # never a NAK for a NAK
        assert ln.stats["rx_bad"] == 2
        await ln.stop()

    asyncio.run(run())


def test_5_3_heartbeat_at_a_third_of_the_peer_timeout_and_offline_by_silence(store):
    async def run():
        t, ln = await started(store, link_timeout_ms=600)
        changes = []
        ln.on_online(changes.append)
        t.feed(lm.HELLO, hello_fields(link_timeout_ms=300))  # heartbeat every 100 ms
        await async_wait_for(lambda: ln.online, 1, "online")
        before = len(t.of(lm.HEARTBEAT))
        await asyncio.sleep(0.4)  # silence from the firmware: offline after 600 ms
        assert ln.online
        await async_wait_for(lambda: not ln.online, 1, "offline by silence")
        assert len(t.of(lm.HEARTBEAT)) - before >= 2
        hellos = len(t.of(lm.HELLO))
        t.feed(lm.HEARTBEAT, {"uptime_s": 5})  # heard again, HELLO missing: ask for it
        await async_wait_for(lambda: len(t.of(lm.HELLO)) > hellos, 1, "a new HELLO")
        t.feed(lm.HELLO, hello_fields(flags=lm.HELLO_REPLY, link_timeout_ms=300))
        await async_wait_for(lambda: ln.online, 1, "online again")
        await async_wait_for(lambda: changes == [True, False, True], 1, "online listeners")
        await ln.stop()

    asyncio.run(run())


def test_5_2_limits_stored_and_resent_after_every_hello(store):
    async def run():
        clock = [1767225600.0]
        t, ln = await started(store, clock=lambda: clock[0])
        # asked while no firmware is there: stored, not answered now
        assert await ln.set_limit(lm.SRC_HEMS, 40000) is None
        assert await ln.set_limit(lm.SRC_DNO, 10000, duration_s=60) is None
        assert await ln.set_schedule(lm.SRC_CSMS, 1767225600, 0, [(0, 16000), (60, None)]) \
            is None
        t.feed(lm.HELLO, hello_fields(max_current_ma=32000))
        await async_wait_for(lambda: len(t.of(lm.LIMIT)) == 2 and t.of(lm.SCHEDULE), 1,
                             "limits and the schedule re-sent")
        limits = {f["entity"]: f for _, f in t.of(lm.LIMIT)}
        assert limits[lm.SRC_HEMS]["limit_ma"] == 32000  # clamped to the HELLO's rating
        assert limits[lm.SRC_DNO]["duration_s"] == 60
        sched = t.of(lm.SCHEDULE)[0][1]
        assert sched["periods"] == [(0, 16000), (60, lm.LIMIT_NONE)]
        # 100 s later the firmware reboots: the same generations, the expired limit removed
        clock[0] += 100
        t.sent.clear()
        t.feed(lm.HELLO, hello_fields(caps=0))  # and no CAP_SCHEDULE this time
        await async_wait_for(lambda: len(t.of(lm.LIMIT)) == 2, 1, "limits re-sent")
        again = {f["entity"]: f for _, f in t.of(lm.LIMIT)}
        assert again[lm.SRC_DNO]["limit_ma"] == lm.LIMIT_NONE
        assert again[lm.SRC_HEMS]["generation"] == limits[lm.SRC_HEMS]["generation"]
        assert t.of(lm.SCHEDULE) == []  # LINK.md §5.3: only announced features are used
        gens = {(r.kind, r.entity): r.generation for r in store.requests(1)}
        assert gens[(lm.LIMIT, lm.SRC_HEMS)] == 1 and gens[(lm.SCHEDULE, lm.SRC_CSMS)] == 1
        await ln.stop()

    asyncio.run(run())


def test_4_telemetry_named_and_listener_only_on_change(store):
    async def run():
        t, ln = await started(store)
        seen = []
        ln.on_telemetry(lambda new, old: seen.append(new))
        tel = dict.fromkeys(link.field_names(lm.TELEMETRY), 0)
        tel.update(cp_state=2, session=2, contactor=1, limit_source=lm.SRC_CSMS,
                   flags=lm.F_TIME_VALID | lm.F_OVERRIDE, duty_permille=267,
                   offered_ma=16000, current_l1_ma=-100, soc_percent=lm.SOC_UNKNOWN,
                   meter_age_ms=0xFFFF, voltage_l1_mv=230000)
        t.feed(lm.TELEMETRY, tel)
        t.feed(lm.TELEMETRY, tel)
        tel["cp_state"] = 1
        t.feed(lm.TELEMETRY, tel)
        await async_wait_for(lambda: len(seen) == 2, 1, "two changes")
        first = seen[0]
        assert (first.cp_state, first.session, first.contactor) == ("C", "charging", True)
        assert first.limit_source == "csms"
        assert first.flags == {"time_valid", "override"} and first.has("override")
        assert first.current_ma == (-100, 0, 0) and first.voltage_mv[0] == 230000
        assert first.soc_percent is None and first.meter_age_ms is None
        assert ln.telemetry.cp_state == "B"
        await ln.stop()

    asyncio.run(run())
