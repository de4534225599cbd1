"""An MQTT client on the asyncio loop for the energy-manager interface: paho-mqtt 2.x with
CallbackAPIVersion.VERSION2, driven by paho's socket callbacks (add_reader / add_writer on
the loop, no paho thread) as gateway/link/mqtt_transport.py does for the link; the blocking
connect (DNS, TCP, TLS handshake) runs in an executor thread, with a jittered backoff
between attempts. Username/password, TLS with a CA file and a client certificate, a
retained will, and the subscriptions made again on every connection (clean session).

    c = MqttClient("broker", 8883, tls=True, ca_certs="ca.pem", username="gw", password="…",
                   will=("site/availability", "offline"), subscriptions=["site/evse/+/+/set"])
    c.on_connected = fn        # fn(): CONNACK and every SUBACK received (loop thread)
    c.on_message = fn          # fn(topic, payload bytes, retained) (loop thread)
    await c.start()
    c.publish(topic, payload, retain=True)     # None when not connected (dropped)
    await c.stop(last=[(topic, payload)])      # retained, sent before DISCONNECT
"""

import asyncio
import logging
import secrets
import socket
import ssl
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from gateway.link.transport import Backoff

log = logging.getLogger(__name__)


class MqttClient:
    def __init__(self, host, port, *, username=None, password=None, tls=False, ca_certs=None,
                 certfile=None, keyfile=None, client_id=None, keepalive_s=30, will=None,
                 subscriptions=(), backoff=None, connect_timeout_s=10.0):
        self.host, self.port = host, port
        self.name = "mqtt %s:%d" % (host, port)
        self.subscriptions = list(subscriptions)
        self.backoff = backoff or Backoff(0.5, 30.0)
        self.connect_timeout_s = connect_timeout_s
        self.keepalive_s = keepalive_s
        self.connected = False
        self.on_connected = None
        self.on_message = None
        self.stats = {"connects": 0, "connect_failures": 0, "rx": 0, "tx": 0, "tx_dropped": 0}
        c = mqtt.Client(CallbackAPIVersion.VERSION2, clean_session=True,
                        client_id=client_id or "gw-hems-%s" % secrets.token_hex(4))
        if username is not None:
            c.username_pw_set(username, password)
        if tls or ca_certs or certfile:
            c.tls_set(ca_certs=ca_certs, certfile=certfile, keyfile=keyfile)
        if will is not None:
            c.will_set(will[0], will[1], qos=1, retain=True)
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
        self._loop = None
        self._loop_thread = None
        self._task = None
        self._closing = False
        self._lost = None
        self._sub_mid = None
        self._session = False  # CONNACK received: publishing works (subscribed or not yet)
        self._acked = False  # this connection attempt got a CONNACK
        self._fds = set()

    # --- API -----------------------------------------------------------------------------

    async def start(self):
        """Keep connected in the background from now on; returns at once."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._closing = False
        self._task = asyncio.create_task(self._supervise(), name=self.name)

    def publish(self, topic, payload, qos=1, retain=False):
        """Queue one message -> paho's MQTTMessageInfo, or None (dropped) when not
        connected."""
        if not self._session:
            self.stats["tx_dropped"] += 1
            return None
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.stats["tx_dropped"] += 1
            return None
        self.stats["tx"] += 1
        return info

    async def stop(self, last=(), timeout_s=2.0):
        """Publish `last` [(topic, payload)] retained (QoS 1, acknowledged or timeout_s),
        then disconnect cleanly (so the broker does not send the will) and stop."""
        self._closing = True
        if self._loop is None:
            return
        infos = [i for i in (self.publish(t, p, retain=True) for t, p in last) if i]
        deadline = self._loop.time() + timeout_s
        while any(not i.is_published() for i in infos) and self._loop.time() < deadline:
            await asyncio.sleep(0.02)
        task, self._task = self._task, None
        lost = self._lost
        if lost is not None and not lost.is_set():
            self._client.disconnect()
            try:
                await asyncio.wait_for(lost.wait(), timeout_s)
            except TimeoutError:
                self._force_close()
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.connected = self._session = False

    # --- connection supervision ------------------------------------------------------------

    async def _supervise(self):
        loop = self._loop
        while not self._closing:
            self._lost = lost = asyncio.Event()
            self._acked = False
            connecting = loop.run_in_executor(None, self._client.reconnect)
            try:
                await asyncio.shield(connecting)
            except asyncio.CancelledError:  # stopped while connecting
                connecting.add_done_callback(lambda f: self._force_close())
                raise
            except Exception as e:  # refused, unreachable, TLS handshake
                self.stats["connect_failures"] += 1
                self._lost = None
                await self._pause("cannot connect (%s)" % e)
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
            if not self._acked:  # closed before a CONNACK: refused (a bad password; under
                self.stats["connect_failures"] += 1  # TLS 1.3 also a missing client cert)
            self._session = False
            if self.connected:
                self.connected = False
                log.info("%s: disconnected", self.name)
            if not self._closing:
                await self._pause("connection lost")

    async def _pause(self, why):
        delay = self.backoff.next()
        log.warning("%s: %s; retrying in %.2f s", self.name, why, delay)
        await asyncio.sleep(delay)

    def _force_close(self):
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
            log.warning("%s: broker refused the connection: %s", self.name, reason_code)
            return
        self._session = self._acked = True
        if not self.subscriptions:
            self._call(self._up)
            return
        self._sub_mid = client.subscribe([(t, 1) for t in self.subscriptions])[1]

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        if mid != self._sub_mid:
            return
        if any(rc.is_failure for rc in reason_codes):
            log.warning("%s: a subscription was refused (%s)", self.name, self.subscriptions)
            self._force_close()
            return
        self._call(self._up)

    def _up(self):
        self.backoff.reset()
        self.connected = True
        self.stats["connects"] += 1
        log.info("%s: connected", self.name)
        if self.on_connected is not None:
            try:
                self.on_connected()
            except Exception:
                log.exception("%s: on_connected failed", self.name)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self._call(self._disconnected)

    def _disconnected(self):
        self.connected = False
        self._session = False
        if self._lost is not None:
            self._lost.set()

    def _on_message(self, client, userdata, msg):
        self.stats["rx"] += 1
        if self.on_message is not None:
            try:
                self.on_message(msg.topic, bytes(msg.payload), bool(msg.retain))
            except Exception:
                log.exception("%s: on_message failed for %s", self.name, msg.topic)
