"""Station.unlock (OCPP 1.6 §5.18 UnlockConnector, docs/ocpp.md) over a real EvseLink and
Store against a scripted firmware (the transport of test_gateway_link_scripted.py): the
reference boards have no socket lock, so the answers a firmware WITH CAP_LOCK gives (ok,
failed, unsupported, none) are played here. The end-to-end NotSupported case is in
tests/e2e/test_ocpp16_octt_core.py."""

import asyncio

import pytest
from sim_link_fixture import async_wait_for
from test_gateway_link_scripted import ScriptedTransport, hello_fields

from gateway.link import EvseLink
from gateway.station import Station
from gateway.store import Store
from protocols import link_messages as lm


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "gw.db")
    yield s
    s.close()


async def _station(store, caps):
    t = ScriptedTransport()
    ln = EvseLink(t, store, 1, request_timeout_s=0.5)
    station = Station([ln], store)
    await station.start()
    await t.wait_connected(1)
    t.feed(lm.HELLO, hello_fields(caps=caps))
    await async_wait_for(lambda: ln.online, 1, "online")
    return t, ln, station


def _commands(t):
    return [(tag, f["command"]) for tag, f in t.of(lm.COMMAND)]


async def _unlock_answered(t, station, status):
    """station.unlock(1) while the scripted firmware answers each COMMAND with status
    (None: no answer) -> (result, the COMMANDs the gateway sent)."""
    task = asyncio.create_task(station.unlock(1))
    answered = set()
    while not task.done():
        for tag, cmd in _commands(t):
            if tag not in answered and status is not None:
                answered.add(tag)
                st = lm.ST_OK if cmd == lm.CMD_STOP else status
                t.feed(lm.RESULT, {"request_type": lm.COMMAND, "status": st, "value": 0}, tag)
        await asyncio.sleep(0.01)
    return task.result(), [cmd for _, cmd in _commands(t)]


def test_unlock_results_from_a_firmware_with_a_lock(store):
    """CAP_LOCK in the HELLO: CMD_UNLOCK goes to the firmware; its RESULT ST_OK ->
    "unlocked", ST_UNSUPPORTED -> "not_supported", ST_FAILED -> "failed", no answer within
    the request timeout -> "failed". Without a session nothing is stopped."""
    async def run():
        t, ln, station = await _station(store, lm.CAP_SCHEDULE | lm.CAP_LOCK)
        for status, expected in ((lm.ST_OK, "unlocked"), (lm.ST_UNSUPPORTED, "not_supported"),
                                 (lm.ST_FAILED, "failed"), (None, "failed")):
            t.sent.clear()
            result, cmds = await _unlock_answered(t, station, status)
            assert result == expected, (status, result)
            assert set(cmds) == {lm.CMD_UNLOCK}, cmds
        await station.stop()

    asyncio.run(run())


def test_unlock_stops_the_running_transaction_first(store):
    """§5.17/5.18: with a transaction on the connector, CMD_STOP (its StopTransaction says
    UnlockCommand) goes before CMD_UNLOCK."""
    async def run():
        t, ln, station = await _station(store, lm.CAP_SCHEDULE | lm.CAP_LOCK)
        store.set_meta("session:1", {"key": 1, "session_id": 7, "meter_start_wh": 0,
                                     "id_tag": "TAG", "authorized": True, "stop_reason": None,
                                     "start_unix_s": 0, "tx_id": 3})
        t.sent.clear()
        result, cmds = await _unlock_answered(t, station, lm.ST_OK)
        assert result == "unlocked"
        assert cmds == [lm.CMD_STOP, lm.CMD_UNLOCK]
        assert station.session(1)["stop_reason"] == "UnlockCommand"
        await station.stop()

    asyncio.run(run())


def test_unlock_not_supported_without_a_lock_or_connector(store):
    """No CAP_LOCK in the HELLO (the reference boards) or no such connector:
    "not_supported" at once, no COMMAND sent."""
    async def run():
        t, ln, station = await _station(store, lm.CAP_SCHEDULE)
        t.sent.clear()
        assert await station.unlock(1) == "not_supported"
        assert await station.unlock(2) == "not_supported"
        assert t.of(lm.COMMAND) == []
        await station.stop()

    asyncio.run(run())
