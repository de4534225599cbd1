"""An MQTT client on the asyncio loop for the energy-manager interface: paho-mqtt 2.x with
CallbackAPIVersion.VERSION2 on the loop with no paho thread (gateway/mqtt_session.py, the
machinery the link's MQTT transport uses too): a jittered backoff between connection
attempts, username/password, TLS with a CA file and a client certificate, a retained will,
and the subscriptions made again on every connection (clean session).

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

from paho.mqtt.enums import MQTTErrorCode

from gateway.link.transport import Backoff
from gateway.mqtt_session import MqttSession

log = logging.getLogger(__name__)


class MqttClient:
    def __init__(self, host, port, *, username=None, password=None, tls=False, ca_certs=None,
                 certfile=None, keyfile=None, client_id=None, keepalive_s=30, will=None,
                 subscriptions=(), backoff=None, connect_timeout_s=10.0):
        self.host, self.port = host, port
        self.name = "mqtt %s:%d" % (host, port)
        self.backoff = backoff or Backoff(0.5, 30.0)
        self.connect_timeout_s = connect_timeout_s
        self.keepalive_s = keepalive_s
        self.connected = False
        self.on_connected = None
        self.on_message = None
        self.stats = {"connects": 0, "connect_failures": 0, "rx": 0, "tx": 0, "tx_dropped": 0}
        self._session = MqttSession(
            self.name, host, port, backoff=self.backoff, stats=self.stats,
            client_id=client_id or "gw-hems-%s" % secrets.token_hex(4),
            subscriptions=subscriptions, on_up=self._up, on_down=self._down,
            on_message=self._message, username=username, password=password, tls=tls,
            ca_certs=ca_certs, certfile=certfile, keyfile=keyfile, will=will,
            keepalive_s=keepalive_s, connect_timeout_s=connect_timeout_s)
        self.subscriptions = self._session.subscriptions
        self._loop = None
        self._task = None

    # --- API -----------------------------------------------------------------------------

    async def start(self):
        """Keep connected in the background from now on; returns at once."""
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._session.run(), name=self.name)

    def publish(self, topic, payload, qos=1, retain=False):
        """Queue one message -> paho's MQTTMessageInfo, or None (dropped) when not
        connected."""
        if not self._session.acked:  # after CONNACK, subscribed or not yet
            self.stats["tx_dropped"] += 1
            return None
        info = self._session.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.stats["tx_dropped"] += 1
            return None
        self.stats["tx"] += 1
        return info

    async def stop(self, last=(), timeout_s=2.0):
        """Publish `last` [(topic, payload)] retained (QoS 1, acknowledged or timeout_s),
        then disconnect cleanly (so the broker does not send the will) and stop."""
        self._session.closing = True
        if self._loop is None:
            return
        infos = [i for i in (self.publish(t, p, retain=True) for t, p in last) if i]
        deadline = self._loop.time() + timeout_s
        while any(not i.is_published() for i in infos) and self._loop.time() < deadline:
            await asyncio.sleep(0.02)
        task, self._task = self._task, None
        await self._session.disconnect(timeout_s)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.connected = False

    # --- the session's callbacks (loop thread) ---------------------------------------------

    def _up(self):
        self.connected = True
        self.stats["connects"] += 1
        log.info("%s: connected", self.name)
        if self.on_connected is not None:
            try:
                self.on_connected()
            except Exception:
                log.exception("%s: on_connected failed", self.name)

    def _down(self):
        if self.connected:
            self.connected = False
            log.info("%s: disconnected", self.name)

    def _message(self, msg):
        self.stats["rx"] += 1
        if self.on_message is not None:
            try:
                self.on_message(msg.topic, bytes(msg.payload), bool(msg.retain))
            except Exception:
                log.exception("%s: on_message failed for %s", self.name, msg.topic)
