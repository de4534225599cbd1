"""The demo's side of the gateway's energy-manager MQTT interface (docs/mqtt.md): it plays the
DNO's load-management system and watches what the gateway publishes. paho-mqtt 2.x
(CallbackAPIVersion.VERSION2) on its own network thread; what arrives waits in a lock-held
record for the demo's loop.

    PREFIX/evse/<n>/limit/set     {"source": "dno", "current_ma": int | null, "duration_s": int}
    PREFIX/evse/<n>/override/set  {"on": bool}
    PREFIX/evse/<n>/state         retained JSON: the EVSE as the gateway sees it
    PREFIX/evse/<n>/event         JSON per firmware event record
    PREFIX/evse/<n>/reply         the answer to each command
"""

import itertools
import json
import threading
import time
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

KEEP = 200  # events and replies kept


class EnergyManager:
    def __init__(self, url, evse_id=1):
        parts = urlsplit(url)
        self.prefix = parts.path.strip("/")
        self.base = "%s/evse/%d" % (self.prefix, evse_id)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.state = None  # the latest retained state (dict)
        self.state_count = 0
        self.events = []  # (monotonic s, dict) per event
        self.replies = {}  # command id -> reply dict
        self.availability = None
        self.connected = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="demo-dno-%d" % time.time_ns(),
                        clean_session=True)
        c.username_pw_set(unquote(parts.username), unquote(parts.password))
        c.on_connect = self._on_connect
        c.on_message = self._on_message
        c.reconnect_delay_set(0.1, 2)
        self._client = c
        self._host, self._port = parts.hostname, parts.port

    def start(self, timeout_s=10):
        self._client.connect(self._host, self._port, keepalive=30)
        self._client.loop_start()
        if not self.connected.wait(timeout_s):
            raise RuntimeError("the demo's MQTT client did not connect to the broker at "
                               "%s:%d within %d s" % (self._host, self._port, timeout_s))

    def stop(self):
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            return
        client.subscribe([(self.base + "/#", 1), (self.prefix + "/availability", 1)])
        self.connected.set()

    def _on_message(self, client, userdata, msg):
        leaf = msg.topic[len(self.base) + 1:] if msg.topic.startswith(self.base + "/") else None
        try:
            text = msg.payload.decode()
            data = json.loads(text) if leaf is not None else text
        except ValueError:
            return
        with self._lock:
            if msg.topic == self.prefix + "/availability":
                self.availability = data
            elif leaf == "state" and isinstance(data, dict):
                self.state = data
                self.state_count += 1
            elif leaf == "event" and isinstance(data, dict):
                self.events = (self.events + [(time.monotonic(), data)])[-KEEP:]
            elif leaf == "reply" and isinstance(data, dict) and "id" in data:
                self.replies[data["id"]] = data

    # --- commands --------------------------------------------------------------------------

    def _command(self, name, payload):
        cid = "demo-%d" % next(self._ids)
        payload = dict(payload, id=cid)
        self._client.publish("%s/%s/set" % (self.base, name), json.dumps(payload), qos=1)
        return cid, payload

    def limit(self, source, current_ma, duration_s=0):
        """A limit (current_ma None: clear it) -> (command id, the payload published)."""
        return self._command("limit", {"source": source, "current_ma": current_ma,
                                       "duration_s": duration_s})

    def override(self, on):
        return self._command("override", {"on": bool(on)})

    def reply(self, cid):
        with self._lock:
            return self.replies.get(cid)

    def snapshot(self):
        """(state, events since start) under the lock."""
        with self._lock:
            return self.state, list(self.events)
