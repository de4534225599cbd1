"""paho-mqtt 2.x (CallbackAPIVersion.VERSION2) on the asyncio loop, the machinery under the
firmware link's MQTT transport (gateway/link/mqtt_transport.py) and the energy manager's
client (gateway/hems/client.py). No paho thread: paho's socket callbacks put its socket on
the loop (add_reader / add_writer); the blocking connect (DNS, TCP, TLS handshake) runs in
an executor thread; a refused, failed or lost connection is tried again after the owner's
jittered Backoff. Clean session: the subscriptions are made again on every connection.

    s = MqttSession("mqtt host:8883", "host", 8883, client_id="gw-1", backoff=Backoff(),
                    stats={"connect_failures": 0}, subscriptions=["site/+/set"],
                    on_up=up, on_down=down, on_message=fn, username="gw", password="…",
                    tls=True, ca_certs="ca.pem", will=("site/availability", "offline"))
    task = asyncio.create_task(s.run())  # connects, and again after every loss
    s.acked, s.up                        # CONNACK received; and every SUBACK (on_up ran)
    s.client.publish(topic, payload, qos=1)
    if not await s.disconnect(2.0):      # DISCONNECT sent (no will), the loss waited for
        task.cancel()                    # it was connecting or waiting to retry

on_up() runs on the loop thread once CONNACK and every SUBACK arrived; on_down() when the
connection ended (at least once per loss: make it idempotent); on_message(msg) for each
message (paho's MQTTMessage). stats["connect_failures"] counts the attempts that ended
before a CONNACK: refused (a bad password; under TLS 1.3 also a missing client
certificate), unreachable, a failed TLS handshake, or no CONNACK within
connect_timeout_s."""

import asyncio
import logging
import socket
import ssl
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

log = logging.getLogger(__name__)


class MqttSession:
    def __init__(self, name, host, port, *, client_id, backoff, stats, subscriptions=(),
                 on_up=None, on_down=None, on_message=None, username=None, password=None,
                 tls=False, ca_certs=None, certfile=None, keyfile=None, tls_insecure=False,
                 will=None, keepalive_s=30, connect_timeout_s=10.0):
        self.name, self.host, self.port = name, host, port
        self.subscriptions = list(subscriptions)
        self.backoff, self.stats = backoff, stats
        self.connect_timeout_s = connect_timeout_s
        self.on_up, self.on_down, self.on_message = on_up, on_down, on_message
        self.acked = False  # CONNACK on the current connection: publishing works
        self.up = False  # and every SUBACK
        self.closing = False  # no more attempts (set by disconnect(), or before it)
        c = mqtt.Client(CallbackAPIVersion.VERSION2, clean_session=True, client_id=client_id)
        if username is not None:
            c.username_pw_set(username, password)
        if tls or ca_certs or certfile:
            c.tls_set(ca_certs=ca_certs, certfile=certfile, keyfile=keyfile)
            c.tls_insecure_set(tls_insecure)
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
        self.client = c
        self._loop = None
        self._loop_thread = None
        self._lost = None  # set when the current connection ended
        self._connack = False  # the current attempt got a CONNACK (kept after the loss)
        self._sub_mid = None
        self._fds = set()

    async def run(self):
        """Connect, and again after every failure or loss with the backoff, until
        disconnect() (or the task is cancelled): the body of the owner's task."""
        loop = self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self.closing = False
        while not self.closing:
            self._lost = lost = asyncio.Event()
            self._connack = False
            connecting = loop.run_in_executor(None, self.client.reconnect)
            try:
                await asyncio.shield(connecting)
            except asyncio.CancelledError:  # stopped while connecting
                connecting.add_done_callback(lambda f: self.force_close())
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
                    if not self.up and loop.time() > deadline:
                        log.warning("%s: no CONNACK/SUBACK in time", self.name)
                        self.force_close()
                    self.client.loop_misc()  # keepalive PINGREQ, ping timeout
            if not self._connack:
                self.stats["connect_failures"] += 1
            self._down()
            if not self.closing:
                await self._pause("connection lost")

    async def disconnect(self, timeout_s):
        """Stop reconnecting; when a connection is open, send DISCONNECT (the broker
        drops the will) and wait up to timeout_s for it to close, then shut the socket. -> False
        when there was no connection to end (cancel the task then)."""
        self.closing = True
        lost = self._lost
        if lost is None or lost.is_set():
            return False
        self.client.disconnect()
        try:
            await asyncio.wait_for(lost.wait(), timeout_s)
        except TimeoutError:
            self.force_close()
            lost.set()
        return True

    def force_close(self):
        """End the connection from this side: paho sees EOF and runs its usual clean-up
        (no DISCONNECT, so the broker publishes the will)."""
        sock = self.client.socket()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    async def _pause(self, why):
        delay = self.backoff.next()
        log.warning("%s: %s; retrying in %.2f s", self.name, why, delay)
        await asyncio.sleep(delay)

    def _up(self):
        self.backoff.reset()
        self.up = True
        if self.on_up is not None:
            self.on_up()

    def _down(self):
        self.acked = self.up = False
        if self.on_down is not None:
            self.on_down()

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
        rc = self.client.loop_read()
        # TLS may hold decrypted bytes the selector cannot see
        while (rc == MQTTErrorCode.MQTT_ERR_SUCCESS and isinstance(sock, ssl.SSLSocket)
               and self.client.socket() is sock and sock.pending()):
            rc = self.client.loop_read()

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
            self._loop.add_writer(fd, self.client.loop_write)

    def _on_unregister_write(self, client, userdata, sock):
        self._call(self._remove_writer, sock.fileno())

    def _remove_writer(self, fd):
        if fd in self._fds:
            self._loop.remove_writer(fd)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.warning("%s: broker refused the connection: %s", self.name, reason_code)
            return
        self.acked = self._connack = True
        if not self.subscriptions:
            self._call(self._up)
            return
        self._sub_mid = client.subscribe([(t, 1) for t in self.subscriptions])[1]

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        if mid != self._sub_mid:
            return
        if any(rc.is_failure for rc in reason_codes):
            log.warning("%s: subscription to %s refused", self.name,
                        ", ".join(self.subscriptions))
            self.force_close()
            return
        self._call(self._up)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self._call(self._disconnected)

    def _disconnected(self):
        self._down()
        if self._lost is not None:
            self._lost.set()

    def _on_message(self, client, userdata, msg):
        if self.on_message is not None:
            self.on_message(msg)
