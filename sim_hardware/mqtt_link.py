"""The sim charger's link through an MQTT broker (protocols/LINK.md §6), the charger's end of
what gateway/link/mqtt_transport.py is on the gateway: the firmware's frames are unframed
and each link message is published on `<prefix>/evse/<n>/up`; each message on
`<prefix>/evse/<n>/down` is framed (COBS + CRC, LINK.md §2) and handed to the board's UART,
as an MQTT bridge on a charger would (umqtt on a real board; paho-mqtt 2.x with
CallbackAPIVersion.VERSION2 here, host code). QoS 1, not retained, clean session.

paho runs its own network thread (loop_start), which also reconnects after a lost broker
with a short backoff; messages from the gateway wait in a deque for the next tick. While
the broker is away the firmware's messages are dropped and counted, as bytes on a UART with
nothing connected: records come again by the firmware's go-back-N, telemetry is periodic."""

import secrets
import sys
import threading
from collections import deque
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from protocols import link
from protocols import link_messages as lm

DEFAULT_PORT = 1883
KEEPALIVE_S = 30
RECONNECT_S = (0.1, 2.0)  # paho's reconnect backoff, first and longest wait
MAX_QUEUED = 64  # messages paho holds unsent (a slow broker); beyond that they are dropped


def parse_mqtt_url(url):
    """mqtt://[USER:PASS@]HOST[:PORT]/PREFIX -> {host, port, prefix, username, password}, the
    gateway's LINK form (DESIGN §3.3). ValueError saying what is wrong otherwise."""
    parts = urlsplit(url)
    if parts.scheme == "mqtts":
        raise ValueError("%r: mqtts:// (TLS) is not built into the sim charger; use mqtt://"
                         % url)
    if parts.scheme != "mqtt":
        raise ValueError("%r: not an mqtt:// URL" % url)
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError("%r: the port must be a number 1..65535" % url) from None
    if not parts.hostname:
        raise ValueError("%r: no broker host (mqtt://[USER:PASS@]HOST:PORT/PREFIX)" % url)
    if parts.query or parts.fragment:
        raise ValueError("%r: no ?query or #fragment in an mqtt:// link" % url)
    return {"host": parts.hostname, "port": port, "prefix": unquote(parts.path.strip("/")),
            "username": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None}


def topics(prefix, evse_id):
    """(up, down) of one EVSE, LINK.md §6 (the same names as the gateway's mqtt_topics)."""
    base = "%s/evse/%d" % (prefix, evse_id) if prefix else "evse/%d" % evse_id
    return base + "/up", base + "/down"


class MqttLink:
    """One charger's link on the broker. `url` is what the gateway's --evse takes (without
    the charger's credentials); the gateway must list it as its evse_id-th --evse."""

    def __init__(self, host, port, prefix, evse_id, username=None, password=None):
        self.up_topic, self.down_topic = topics(prefix, evse_id)
        self.evse_id = evse_id
        self.url = "mqtt://%s:%d/%s" % (host, port, prefix)
        self.stats = {"connects": 0, "refused": 0, "published": 0, "received": 0,
                      "dropped": 0, "oversize": 0}
        self._down = deque()  # payloads from the gateway (paho's thread -> the tick loop)
        self._subscribed = False
        self._sub_mid = None
        self._refusal = None  # the last refusal reported on stderr
        self._decoder = link.FrameDecoder()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, clean_session=True,
                        client_id="sim-evse%d-%s" % (evse_id, secrets.token_hex(4)))
        if username is not None:
            c.username_pw_set(username, password)
        c.reconnect_delay_set(*RECONNECT_S)
        c.max_queued_messages_set(MAX_QUEUED)
        c.on_connect = self._on_connect
        c.on_subscribe = self._on_subscribe
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        self._lock = threading.Lock()
        self._client = c
        c.connect_async(host, port, KEEPALIVE_S)
        c.loop_start()

    # --- the tick loop's side -------------------------------------------------------------

    def take(self):
        """Framed bytes of what the gateway sent since the last call, for the board's UART."""
        out = bytearray()
        while self._down:
            out.extend(link.frame(self._down.popleft()))
        return bytes(out)

    def write(self, data):
        """Bytes the firmware wrote to its UART: each whole frame -> one MQTT message."""
        i = 0
        while i < len(data):
            i += self._decoder.feed(data, i)
            if self._decoder.length:
                self._publish(bytes(self._decoder.payload()))

    def _publish(self, payload):
        if not self._subscribed:
            self.stats["dropped"] += 1
            return
        info = self._client.publish(self.up_topic, payload, qos=1)
        if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.stats["published"] += 1
        else:  # lost between the check and the publish, or paho's queue is full
            self.stats["dropped"] += 1

    def connected(self):
        return self._subscribed

    def status(self):
        return dict(self.stats, topics=[self.up_topic, self.down_topic])

    def close(self):
        self._client.disconnect()
        self._client.loop_stop()

    # --- paho's thread --------------------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.stats["refused"] += 1
            self._report("broker refused the connection: %s" % reason_code)
            return
        self.stats["connects"] += 1
        self._sub_mid = client.subscribe(self.down_topic, qos=1)[1]

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        if mid != self._sub_mid:
            return
        if any(rc.is_failure for rc in reason_codes):
            self.stats["refused"] += 1
            self._report("subscription to %s refused" % self.down_topic)
            client.disconnect()
            return
        self._refusal = None
        self._subscribed = True

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self._subscribed = False

    def _on_message(self, client, userdata, msg):
        if msg.topic != self.down_topic:
            return
        if not 0 < len(msg.payload) <= lm.MAX_PAYLOAD:
            self.stats["oversize"] += 1  # LINK.md §6: one link message, at most 250 bytes
            return
        self.stats["received"] += 1
        self._down.append(bytes(msg.payload))

    def _report(self, text):
        with self._lock:
            if text == self._refusal:
                return  # once, not on every retry
            self._refusal = text
        print("sim_hardware: evse %d: %s" % (self.evse_id, text), file=sys.stderr, flush=True)
