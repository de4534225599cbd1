"""The gateway's EvseLink against the REAL firmware controller through a real mosquitto
broker (DESIGN §9), started here on free loopback ports with a config file: a plain listener
with username/password and a TLS listener with a CA made for the test. The firmware's frames
are unframed and published on <prefix>/evse/1/up, the gateway's messages on .../down are
framed for it (protocols/LINK.md §6). Every wait is bounded."""

import asyncio
import contextlib
import time

import pytest
from mosquitto_fixture import start_broker
from sim_link_fixture import SimCharger, async_wait_for

from gateway.link import Backoff, EvseLink, MqttTransport, make_transport
from protocols import link_messages as lm

PREFIX = "site1"
GATEWAY = ("gateway", "gw-9f2c7e1d4b3a8c60")
CHARGER = ("charger", "ch-1b7d3f9a2e6c5d08")


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = start_broker(tmp_path_factory.mktemp("mosquitto"), dict((GATEWAY, CHARGER)))
    yield b
    b.stop()


@pytest.fixture
def sim(broker):
    s = SimCharger()
    s.url = s.start_mqtt("127.0.0.1", broker.port, PREFIX, 1, *CHARGER)
    yield s
    s.stop()


@contextlib.asynccontextmanager
async def running_link(transport, store):
    ln = EvseLink(transport, store, 1, link_timeout_ms=3000)
    await ln.start()
    try:
        await async_wait_for(lambda: ln.online, 5, "the HELLO exchange over MQTT")
        yield ln
    finally:
        await ln.stop()


def gateway_transport(broker, password=GATEWAY[1]):
    return make_transport("mqtt://127.0.0.1:%d/%s" % (broker.port, PREFIX), 1,
                          backoff=Backoff(0.05, 0.3), username=GATEWAY[0], password=password)


def test_6_mqtt_hello_time_limit_and_events_exactly_once(broker, sim, store):
    async def run():
        t = gateway_transport(broker)
        assert (t.up_topic, t.down_topic) == ("site1/evse/1/up", "site1/evse/1/down")
        async with running_link(t, store) as ln:
            assert ln.peer.max_current_ma == 32000
            await async_wait_for(lambda: ln.last_time_sync_unix_s is not None, 3, "TIME_SYNC")
            assert abs(sim.status()["unix_s"] - time.time()) <= 2
            await async_wait_for(lambda: not sim.status()["failsafe"], 3, "failsafe left")
            sim.do(lambda s: s.board.plug("C", 220))
            await async_wait_for(lambda: sim.status()["contactor"] == 1, 5, "charging")
            r = await ln.set_limit(lm.SRC_HEMS, 7000)
            assert r.ok and r.value == 7000
            await async_wait_for(lambda: ln.telemetry.offered_ma == 7000, 3, "7 A telemetry")
            sim.log_events(12)
            await async_wait_for(lambda: sim.status()["events_pending"] == 0, 6, "acked")
            sent = sim.events_sent()
            seqs = [r.seq for r in store.records(1)]
            assert seqs == sorted(sent) == list(range(1, max(sent) + 1))

    asyncio.run(run())


def test_6_mqtt_malformed_messages_dropped_and_counted(broker, sim, store):
    async def run():
        async with running_link(gateway_transport(broker), store) as ln:
            c0 = ln.counters()
            sim.send_raw(b"\x01" * 251)  # over the 250-byte message bound
            sim.send_raw(bytes((2, lm.HELLO, 5)) + bytes(30))  # a newer major: NAK
            sim.send_raw(bytes((1, lm.HEARTBEAT, 0, 1)))  # wrong length for the type
            await async_wait_for(lambda: ln.counters()["rx_bad"] == c0["rx_bad"] + 2, 3,
                                 "two undecodable messages")
            assert ln.counters()["oversize"] == c0["oversize"] + 1
            assert ln.online

    asyncio.run(run())


def test_6_mqtt_wrong_password_refused_then_retried(broker, store):
    async def run():
        t = gateway_transport(broker, password="not-the-password")
        await t.connect()
        await async_wait_for(lambda: t.counters()["connect_failures"] >= 2, 3,
                             "refusals, retried")
        assert not t.connected and t.counters()["connects"] == 0
        await t.close()

    asyncio.run(run())


def test_6_mqtt_over_tls(broker, sim, store):
    async def run():
        t = MqttTransport("127.0.0.1", broker.tls_port, PREFIX, 1, username=GATEWAY[0],
                          password=GATEWAY[1], ca_certs=str(broker.dir / "ca.pem"),
                          backoff=Backoff(0.05, 0.3))
        async with running_link(t, store) as ln:
            v = await ln.setting_get("phases")
            assert v.ok and v.value == 3

    asyncio.run(run())


def test_6_mqtt_reconnect_after_broker_restart(broker, sim, store):
    async def run():
        async with running_link(gateway_transport(broker), store) as ln:
            states = []
            ln.on_online(states.append)
            broker.stop()
            await async_wait_for(lambda: states == [False], 10, "offline")
            sim.log_events(4)  # while the broker is away
            broker.start()
            await async_wait_for(lambda: states == [False, True], 20, "online again")
            assert ln.transport.counters()["connects"] == 2
            await async_wait_for(lambda: sim.status()["events_pending"] == 0, 30, "acked")
            sent = sim.events_sent()
            seqs = [r.seq for r in store.records(1)]
            assert seqs == sorted(sent) == list(range(1, max(sent) + 1))

    asyncio.run(run())
