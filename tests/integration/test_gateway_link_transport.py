"""Link transports on their own: URL forms of DESIGN §3.3, the reconnect backoff, and the
serial transport through real pyserial ports (loop://, rfc2217:// to pyserial's own RFC 2217
port manager, socket:// to a listener that comes and goes)."""

import asyncio
import socket
import threading

import pytest
import serial
import serial.rfc2217
from sim_link_fixture import async_wait_for

from gateway.link import (
    Backoff,
    MqttTransport,
    SerialTransport,
    make_transport,
    mqtt_topics,
    parse_link_url,
)
from protocols import link
from protocols import link_messages as lm


def test_backoff_grows_is_bounded_jittered_and_resets():
    b = Backoff(0.5, 4.0, 2.0, jitter=0.0)
    assert [b.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    b.reset()
    assert b.next() == 0.5
    j = Backoff(1.0, 8.0, 2.0, jitter=0.5)
    delays = [j.next() for _ in range(200)]
    assert all(0.5 <= d <= 8.0 for d in delays)
    assert len({round(d, 6) for d in delays[10:]}) > 50  # not in step with other gateways
    with pytest.raises(ValueError):
        Backoff(0, 1)
    with pytest.raises(ValueError):
        Backoff(2, 1)


def test_design_3_3_link_urls():
    assert parse_link_url("/dev/ttyUSB0") == ("serial", {"url": "/dev/ttyUSB0"})
    assert parse_link_url("socket://127.0.0.1:7000")[0] == "serial"
    assert parse_link_url("rfc2217://10.0.0.5:2217")[0] == "serial"
    kind, a = parse_link_url("mqtt://broker.local:1884/site/garage")
    assert kind == "mqtt" and (a["host"], a["port"], a["prefix"]) == \
        ("broker.local", 1884, "site/garage")
    assert a["tls"] is False and a["username"] is None
    _, a = parse_link_url("mqtts://gw:p%40ss@broker/x")
    assert (a["port"], a["tls"], a["username"], a["password"]) == (8883, True, "gw", "p@ss")
    _, a = parse_link_url("mqtt://broker")
    assert (a["port"], a["prefix"]) == (1883, "")
    with pytest.raises(ValueError):
        parse_link_url("mqtt:///prefix")
    with pytest.raises(ValueError):
        parse_link_url("")


def test_6_topics_per_evse_from_the_order_of_evse_options():
    assert mqtt_topics("site1", 2) == ("site1/evse/2/up", "site1/evse/2/down")
    assert mqtt_topics("", 1) == ("evse/1/up", "evse/1/down")
    t = make_transport("mqtt://127.0.0.1:1883/home", 3, username="u", password="p")
    assert isinstance(t, MqttTransport) and t.down_topic == "home/evse/3/down"
    s = make_transport("socket://127.0.0.1:1", 1)
    assert isinstance(s, SerialTransport) and s.url == "socket://127.0.0.1:1"


def test_2_serial_transport_frames_and_decodes_through_pyserial_loop():
    """loop:// hands back what is written: the frame goes out and comes back decoded."""
    async def run():
        t = SerialTransport("loop://")
        got = []
        t.on_payload = got.append
        await t.connect()
        await t.wait_connected(2)
        msgs = [link.encode(lm.HEARTBEAT, {"uptime_s": n}) for n in range(5)]
        for m in msgs:
            assert t.send(m)
        await async_wait_for(lambda: len(got) == 5, 2, "five payloads back")
        assert got == msgs and t.counters()["frames"] == 5
        await t.close()
        assert not t.send(msgs[0]) and t.counters()["tx_refused"] == 1

    asyncio.run(run())


def test_serial_transport_retries_until_the_peer_listens_and_after_it_drops():
    async def run():
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        t = SerialTransport("socket://127.0.0.1:%d" % port, backoff=Backoff(0.05, 0.2))
        states = []
        t.on_state = states.append
        await t.connect()
        await async_wait_for(lambda: t.counters()["connect_failures"] >= 2, 3,
                             "refused connections retried")
        accepted = []

        async def serve(reader, writer):
            accepted.append(writer)

        server = await asyncio.start_server(serve, "127.0.0.1", port)
        await async_wait_for(lambda: t.connected and accepted, 3, "connected")
        accepted[0].close()  # the peer goes away
        await async_wait_for(lambda: len(accepted) == 2 and t.connected, 3, "reconnected")
        assert states == [True, False, True]
        await t.close()
        for w in accepted:
            w.close()
        server.close()
        await server.wait_closed()

    asyncio.run(run())


def _rfc2217_server(srv, stop):
    """pyserial's RFC 2217 PortManager in front of a loop:// port: an echoing network
    serial port."""
    conn, _ = srv.accept()
    port = serial.serial_for_url("loop://", timeout=0.05)

    class Conn:
        def write(self, data):
            conn.sendall(data)

    pm = serial.rfc2217.PortManager(port, Conn())
    conn.settimeout(0.05)
    try:
        while not stop.is_set():
            try:
                data = conn.recv(1024)
                if not data:
                    break
                port.write(b"".join(pm.filter(data)))
            except TimeoutError:
                pass
            n = port.in_waiting
            if n:
                conn.sendall(b"".join(pm.escape(port.read(n))))
    finally:
        conn.close()
        port.close()


@pytest.mark.filterwarnings("ignore::DeprecationWarning:serial.rfc2217")  # pyserial 3.5
def test_design_3_3_rfc2217_port():
    async def run():
        with socket.socket() as srv:
            srv.bind(("127.0.0.1", 0))
            srv.listen(1)
            stop = threading.Event()
            th = threading.Thread(target=_rfc2217_server, args=(srv, stop), daemon=True)
            th.start()
            t = SerialTransport("rfc2217://127.0.0.1:%d" % srv.getsockname()[1])
            got = []
            t.on_payload = got.append
            await t.connect()
            await t.wait_connected(5)
            msgs = [link.encode(lm.HEARTBEAT, {"uptime_s": n}) for n in range(5)]
            for m in msgs:
                assert t.send(m)
            await async_wait_for(lambda: len(got) == 5, 3, "five payloads back")
            assert got == msgs
            await t.close()
            stop.set()
            th.join(3)

    asyncio.run(run())
