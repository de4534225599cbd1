"""The link through an MQTT broker (protocols/LINK.md §6): paho-mqtt 2.x with
CallbackAPIVersion.VERSION2, driven by the asyncio loop through paho's socket callbacks (no
paho thread); QoS 1, one MQTT message per link message, `<prefix>/evse/<n>/up` received and
`<prefix>/evse/<n>/down` sent."""

import asyncio
import logging
import secrets
import socket
import ssl
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from gateway.link.transport import Transport
from protocols import link_messages as lm

log = logging.getLogger(__name__)


def mqtt_topics(prefix, evse_id):
    """(up, down) topics of one EVSE, LINK.md §6."""
    base = "%s/evse/%d" % (prefix.strip("/"), evse_id) if prefix.strip("/") else \
        "evse/%d" % evse_id
    return base + "/up", base + "/down"


class MqttTransport(Transport):
    """The link through an MQTT broker, LINK.md §6. Clean session: what the firmware sends
    while the gateway is away is not kept for it; records come again by go-back-N and
    telemetry is periodic."""

    def __init__(self, host, port=1883, prefix="", evse_id=1, *, username=None, password=None,
                 tls=False, ca_certs=None, certfile=None, keyfile=None, tls_insecure=False,
                 client_id=None, keepalive_s=30, connect_timeout_s=10.0, backoff=None):
        self.up_topic, self.down_topic = mqtt_topics(prefix, evse_id)
        super().__init__("mqtt://%s:%d/%s" % (host, port, self.down_topic), backoff)
        self.host, self.port, self.keepalive_s = host, port, keepalive_s
        self.connect_timeout_s = connect_timeout_s
        self.stats["oversize"] = 0
        c = mqtt.Client(CallbackAPIVersion.VERSION2, clean_session=True,
                        client_id=client_id or "gw-evse%d-%s" % (evse_id, secrets.token_hex(4)))
        if username is not None:
            c.username_pw_set(username, password)
        if tls or ca_certs or certfile:
            c.tls_set(ca_certs=ca_certs, certfile=certfile, keyfile=keyfile)
            c.tls_insecure_set(tls_insecure)
        c.on_connect = self._on_connect
        c.on_subscribe = self._on_subscribe
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_socket_open = self._on_socket_open
        c.on_socket_close = self._on_socket_close
        c.on_socket_register_write = self._on_register_write
        c.on_socket_unregister_write = self._on_unregister_write
        c.connect_async(host, port, keepalive_s)
        self._client = c
        self._loop_thread = None
        self._lost = None
        self._sub_mid = None
        self._fds = set()

    def send(self, payload):
        if not self.connected:
            self.stats["tx_refused"] += 1
            return False
        info = self._client.publish(self.down_topic, bytes(payload), qos=1)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.stats["tx_refused"] += 1
            return False
        self.stats["tx_messages"] += 1
        return True

    async def _supervise(self):
        loop = self._loop
        self._loop_thread = threading.get_ident()
        while not self._closing:
            self._lost = lost = asyncio.Event()
            connecting = loop.run_in_executor(None, self._client.reconnect)
            try:
                await asyncio.shield(connecting)
            except asyncio.CancelledError:  # closed while connecting
                connecting.add_done_callback(lambda f: self._force_close())
                raise
            except Exception as e:  # refused, unreachable, TLS handshake
                self.stats["connect_failures"] += 1
                self._lost = None
                await self._pause("cannot connect to %s:%d (%s)" % (self.host, self.port, e))
                continue
            deadline = loop.time() + self.connect_timeout_s
            while not lost.is_set():
                try:
                    await asyncio.wait_for(lost.wait(), 1.0)
                except TimeoutError:
                    if not self.connected and loop.time() > deadline:
                        log.warning("%s: no CONNACK/SUBACK in time", self.name)
                        self._force_close()
                    self._client.loop_misc()  # keepalive PINGREQ, ping timeout
            self._set_connected(False)
            if not self._closing:
                await self._pause("connection lost")

    async def _shutdown(self, task):
        lost = self._lost
        if lost is None or lost.is_set():
            task.cancel()  # connecting or waiting to retry
            return
        self._client.disconnect()
        try:
            await asyncio.wait_for(lost.wait(), 2.0)
        except TimeoutError:
            self._force_close()
            lost.set()

    def _force_close(self):
        # End the connection from our side: paho sees EOF and runs its usual clean-up.
        sock = self._client.socket()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # --- paho callbacks (loop thread, or the executor thread during reconnect) -----------

    def _call(self, fn, *args):
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            self._loop.call_soon_threadsafe(fn, *args)

    def _on_socket_open(self, client, userdata, sock):
        self._call(self._add_reader, sock.fileno(), sock)

    def _add_reader(self, fd, sock):
        self._fds.add(fd)
        self._loop.add_reader(fd, self._readable, sock)

    def _readable(self, sock):
        rc = self._client.loop_read()
        # TLS may hold decrypted bytes the selector cannot see
        while (rc == MQTTErrorCode.MQTT_ERR_SUCCESS and isinstance(sock, ssl.SSLSocket)
               and self._client.socket() is sock and sock.pending()):
            rc = self._client.loop_read()

    def _on_socket_close(self, client, userdata, sock):
        self._call(self._remove_fd, sock.fileno())

    def _remove_fd(self, fd):
        if fd in self._fds:
            self._fds.discard(fd)
            self._loop.remove_reader(fd)
            self._loop.remove_writer(fd)

    def _on_register_write(self, client, userdata, sock):
        self._call(self._add_writer, sock.fileno())

    def _add_writer(self, fd):
        if fd in self._fds:
            self._loop.add_writer(fd, self._client.loop_write)

    def _on_unregister_write(self, client, userdata, sock):
        self._call(self._remove_writer, sock.fileno())

    def _remove_writer(self, fd):
        if fd in self._fds:
            self._loop.remove_writer(fd)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.stats["connect_failures"] += 1
            log.warning("%s: broker refused the connection: %s", self.name, reason_code)
            return
        self._sub_mid = client.subscribe(self.up_topic, qos=1)[1]

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        if mid != self._sub_mid:
            return
        if any(rc.is_failure for rc in reason_codes):
            log.warning("%s: subscription to %s refused", self.name, self.up_topic)
            self._force_close()
            return
        self.backoff.reset()
        self._set_connected(True)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self._call(self._disconnected)

    def _disconnected(self):
        self._set_connected(False)
        if self._lost is not None:
            self._lost.set()

    def _on_message(self, client, userdata, msg):
        if msg.topic != self.up_topic:
            return
        if not 0 < len(msg.payload) <= lm.MAX_PAYLOAD:
            self.stats["oversize"] += 1  # LINK.md §6: one link message, at most 250 bytes
            return
        self._deliver(bytes(msg.payload))
