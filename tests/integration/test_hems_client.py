"""The energy-manager interface's MQTT client (gateway/hems/client.py) against a real
mosquitto broker (DESIGN §9) started here: TLS with the broker's CA and username/password
(AG-01: secure, user-configurable communication), a client certificate where the broker
requires one, the retained will when the connection dies, reconnection, and refusals (a
wrong password, a CA that did not sign the broker) that never connect."""

import asyncio

from hems_fixture import EnergyManager
from mosquitto_fixture import start_broker

from gateway.hems.client import MqttClient
from gateway.link import Backoff
from sim_hardware.broker import make_ca

CLIENT = ("gateway", "gw-8d1f3a6c2e9b7d40")
PROBE = ("hems", "hm-2b7e9c4a1f6d8e30")
WILL = ("site9/availability", "offline")


async def _until(pred, timeout_s, what):
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout_s, what))
        await asyncio.sleep(0.02)


def _client(broker, **kw):
    args = dict(username=CLIENT[0], password=CLIENT[1], tls=True,
                ca_certs=str(broker.dir / "ca.pem"), will=WILL,
                subscriptions=["site9/evse/+/+/set"], backoff=Backoff(0.05, 0.3),
                keepalive_s=5)
    args.update(kw)
    return MqttClient("127.0.0.1", broker.tls_port, **args)


def test_ag01_tls_and_password_will_and_reconnect(tmp_path):
    """AG-01: over TLS (the broker's certificate checked against its CA) with a user name
    and password the client subscribes, receives commands and publishes retained; when its
    connection dies without a DISCONNECT the broker publishes its retained will; it
    reconnects by itself (subscribed again) and a clean stop sends no will but the last
    message it is given."""
    broker = start_broker(tmp_path, dict((CLIENT, PROBE)), tls=True)
    probe = EnergyManager(broker.port, *PROBE)

    async def run():
        c = _client(broker)
        got, ups = [], []
        c.on_message = lambda t, p, r: got.append((t, p, r))
        c.on_connected = lambda: ups.append(c.publish(*WILL[:1], b"online", retain=True))
        await c.start()
        try:
            await _until(lambda: ups, 10, "the TLS connection")
            probe.publish("site9/evse/1/limit/set", b'{"x": 1}')
            await _until(lambda: got, 10, "the command")
            assert got == [("site9/evse/1/limit/set", b'{"x": 1}', False)]
            at = probe.mark()
            c._session.force_close()  # the TCP connection dies: no DISCONNECT
            await asyncio.to_thread(probe.wait_for, WILL[0], lambda p: p == b"offline", 15,
                                    at, True)
            await _until(lambda: len(ups) == 2, 15, "the reconnection")
            await asyncio.to_thread(probe.wait_for, WILL[0], lambda p: p == b"online", 15,
                                    at, True)
            probe.publish("site9/evse/2/override/set", b"{}")
            await _until(lambda: len(got) == 2, 10, "a command after the reconnection")
        finally:
            at = probe.mark()
            await c.stop(last=[("site9/availability", b"stopped")])
        await asyncio.to_thread(probe.wait_for, WILL[0], lambda p: p == b"stopped", 10, at,
                                True)
        await asyncio.sleep(0.5)
        assert probe.latest(WILL[0]) == b"stopped"  # no will after a clean stop
        assert c.stats["connects"] == 2

    try:
        asyncio.run(run())
    finally:
        probe.close()
        broker.stop()


def test_ag01_a_wrong_password_or_an_unknown_ca_never_connects(tmp_path):
    """AG-01: the broker refuses a wrong password; a CA that did not sign the broker's
    certificate fails the TLS handshake: no connection, no callback, failures counted,
    retried with backoff, and the client stops cleanly."""
    (tmp_path / "b").mkdir()
    broker = start_broker(tmp_path / "b", dict((CLIENT, PROBE)), tls=True)
    other = tmp_path / "other"
    other.mkdir()
    make_ca(other)

    async def run(**kw):
        c = _client(broker, **kw)
        ups = []
        c.on_connected = lambda: ups.append(1)
        await c.start()
        try:
            await _until(lambda: c.stats["connect_failures"] >= 2, 15, "two failures")
            assert not ups and not c.connected
        finally:
            await c.stop()

    try:
        asyncio.run(run(password="wrong-password-0000"))
        asyncio.run(run(ca_certs=str(other / "ca.pem")))
    finally:
        broker.stop()


def test_ag01_client_certificate_where_the_broker_requires_one(tmp_path):
    """AG-01 (--hems-cert / --hems-key): a broker that requires a client certificate signed
    by its CA takes the client with one and refuses it without."""
    broker = start_broker(tmp_path, dict((CLIENT, PROBE)), tls=True)
    broker.stop()
    make_ca(tmp_path, client=True)  # CA, server and client certificates from one new CA
    conf = broker.dir / "mosquitto.conf"
    conf.write_text(conf.read_text() + "require_certificate true\n")  # the TLS listener
    broker.start()

    async def run(**kw):
        c = _client(broker, **kw)
        ups = []
        c.on_connected = lambda: ups.append(1)
        await c.start()
        try:
            await _until(lambda: ups or c.stats["connect_failures"] >= 2, 15, "an outcome")
            return bool(ups)
        finally:
            await c.stop()

    try:
        assert asyncio.run(run(certfile=str(tmp_path / "client.pem"),
                               keyfile=str(tmp_path / "client.key"))) is True
        assert asyncio.run(run()) is False
    finally:
        broker.stop()

