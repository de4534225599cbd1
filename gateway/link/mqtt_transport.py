"""The link through an MQTT broker (protocols/LINK.md §6): paho-mqtt 2.x on the asyncio loop
(gateway/mqtt_session.py: no paho thread, reconnect with backoff); QoS 1, one MQTT message
per link message, `<prefix>/evse/<n>/up` received and `<prefix>/evse/<n>/down` sent."""

import secrets

from paho.mqtt.enums import MQTTErrorCode

from gateway.link.transport import Transport
from gateway.mqtt_session import MqttSession
from protocols import link_messages as lm


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
        self._session = MqttSession(
            self.name, host, port, backoff=self.backoff, stats=self.stats,
            client_id=client_id or "gw-evse%d-%s" % (evse_id, secrets.token_hex(4)),
            subscriptions=[self.up_topic], on_up=lambda: self._set_connected(True),
            on_down=lambda: self._set_connected(False), on_message=self._on_message,
            username=username, password=password, tls=tls, ca_certs=ca_certs,
            certfile=certfile, keyfile=keyfile, tls_insecure=tls_insecure,
            keepalive_s=keepalive_s, connect_timeout_s=connect_timeout_s)

    def send(self, payload):
        if not self.connected:
            self.stats["tx_refused"] += 1
            return False
        info = self._session.client.publish(self.down_topic, bytes(payload), qos=1)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.stats["tx_refused"] += 1
            return False
        self.stats["tx_messages"] += 1
        return True

    async def _supervise(self):
        await self._session.run()

    async def _shutdown(self, task):
        if not await self._session.disconnect(2.0):
            task.cancel()  # connecting or waiting to retry

    def _on_message(self, msg):
        if msg.topic != self.up_topic:
            return
        if not 0 < len(msg.payload) <= lm.MAX_PAYLOAD:
            self.stats["oversize"] += 1  # LINK.md §6: one link message, at most 250 bytes
            return
        self._deliver(bytes(msg.payload))
