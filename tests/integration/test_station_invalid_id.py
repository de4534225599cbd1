"""gateway/invalid_id.py over a real EvseLink and Store against a scripted firmware (the
transport of test_gateway_link_scripted.py): the decision an answer not accepting the idToken
commits is carried out after a gateway restart, the energy limit pauses the firmware once
and queues the adapter's event with it, and a pause the firmware did not answer is tried
again. The end-to-end cases on both OCPP versions: tests/e2e/test_invalid_id.py."""

import asyncio

import pytest
from sim_link_fixture import async_wait_for
from test_gateway_link_scripted import ScriptedTransport, hello_fields

from gateway.link import EvseLink
from gateway.station import Station
from gateway.store import Store
from protocols import link
from protocols import link_messages as lm

SESSION = {"key": 1, "session_id": 7, "meter_start_wh": 100, "id_tag": "TAG",
           "authorized": True, "stop_reason": None, "start_unix_s": 0}


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "gw.db")
    yield s
    s.close()


async def _station(store):
    t = ScriptedTransport()
    ln = EvseLink(t, store, 1, request_timeout_s=0.3)
    station = Station([ln], store)
    await station.start()
    await t.wait_connected(1)
    t.feed(lm.HELLO, hello_fields())
    await async_wait_for(lambda: ln.online, 1, "online")
    return t, station


def _telemetry(t, energy_import_wh):
    tel = dict.fromkeys(link.field_names(lm.TELEMETRY), 0)
    tel.update(cp_state=2, session=2, contactor=1, offered_ma=16000, current_l1_ma=16000,
               soc_percent=lm.SOC_UNKNOWN, meter_age_ms=100,
               energy_import_wh=energy_import_wh)
    t.feed(lm.TELEMETRY, tel)


def _commands(t):
    return [(tag, f["command"]) for tag, f in t.of(lm.COMMAND)]


def _answer(t, tag):
    t.feed(lm.RESULT, {"request_type": lm.COMMAND, "status": lm.ST_OK, "value": 0}, tag)


def test_a_decision_committed_with_the_answer_is_carried_out_after_a_restart(store):
    """The answer's delivery commits the transactionId and the decision in one metadata
    change (composed: the decision applies to the session with its transactionId); a
    gateway that stops before acting finds the decision at its restart and stops the
    transaction on the first TELEMETRY (CMD_STOP, reason DeAuthorized)."""
    async def run():
        store.set_meta("session:1", dict(SESSION))
        t, station = await _station(store)
        meta = station.transaction_meta(1, 1, 42)
        station.invalid_id.add_decision(meta, 1, 1, "Invalid", True, 0)
        await station.stop()  # killed before the metadata's commit was acted on
        store.set_meta_many(meta)
        assert store.get_meta("session:1")["tx_id"] == 42
        assert store.get_meta("session:1")["invalid_id"] == {
            "status": "Invalid", "stop": True, "limit_wh": 100}

        t, station = await _station(store)  # the restart
        _telemetry(t, 130)
        await async_wait_for(lambda: _commands(t), 2, "a COMMAND")
        (tag, cmd), = _commands(t)
        assert cmd == lm.CMD_STOP
        _answer(t, tag)
        await async_wait_for(lambda: station.session(1)["stop_reason"] == "DeAuthorized", 2,
                             "the stop reason")
        _telemetry(t, 131)
        await asyncio.sleep(0.2)
        assert len(_commands(t)) == 1  # one stop, while its record is on its way
        await station.stop()

    asyncio.run(run())


def test_the_energy_limit_pauses_once_and_queues_the_adapters_event(store):
    """Not stopped, MaxEnergyOnInvalidId 50 Wh: below 100 + 50 Wh nothing happens; at 150 Wh
    CMD_PAUSE, then the adapter's event is queued and the session marked energy_limited in
    one commit; later TELEMETRY pauses nothing more."""
    async def run():
        store.set_meta("session:1", dict(SESSION, invalid_id={
            "status": "Blocked", "stop": False, "limit_wh": 150}))
        t, station = await _station(store)
        made = []

        def limit_event(cid, s):
            made.append((cid, s["key"]))
            return "tx_update", {"trigger": "EnergyLimitReached", "unix_s": 0}

        station.invalid_id.limit_event = limit_event
        _telemetry(t, 149)
        await asyncio.sleep(0.2)
        assert _commands(t) == [] and made == []
        _telemetry(t, 150)
        await async_wait_for(lambda: _commands(t), 2, "a COMMAND")
        (tag, cmd), = _commands(t)
        assert cmd == lm.CMD_PAUSE and made == [(1, 1)]
        _answer(t, tag)
        await async_wait_for(lambda: station.session(1).get("energy_limited"), 2,
                             "the session marked")
        queued = store.peek(limit=10)
        assert [(m.action, m.payload["trigger"], m.payload["key"]) for m in queued] == [
            ("tx_update", "EnergyLimitReached", 1)]
        _telemetry(t, 160)
        await asyncio.sleep(0.2)
        assert len(_commands(t)) == 1
        await station.stop()

    asyncio.run(run())


def test_a_pause_the_firmware_did_not_answer_is_sent_again(store):
    """CMD_PAUSE unanswered within the request timeout: nothing is stored; the next
    TELEMETRY sends it again, and once answered the session is marked."""
    async def run():
        store.set_meta("session:1", dict(SESSION, invalid_id={
            "status": "Invalid", "stop": False, "limit_wh": 100}))
        t, station = await _station(store)
        _telemetry(t, 100)
        await async_wait_for(lambda: _commands(t), 2, "a COMMAND")
        await asyncio.sleep(0.5)  # past the 0.3 s request timeout
        assert not station.session(1).get("energy_limited")
        _telemetry(t, 101)
        await async_wait_for(lambda: len(_commands(t)) == 2, 2, "the COMMAND again")
        tag, cmd = _commands(t)[1]
        assert cmd == lm.CMD_PAUSE
        _answer(t, tag)
        await async_wait_for(lambda: station.session(1).get("energy_limited"), 2,
                             "the session marked")
        await station.stop()

    asyncio.run(run())
