"""An energy manager for the MQTT interface tests (docs/mqtt.md; tests/e2e/test_hems_mqtt.py,
tests/integration/test_hems_client.py): a paho-mqtt 2.x client
(CallbackAPIVersion.VERSION2, its own network thread) on the test's mosquitto broker that
records every message it sees and sends commands. Every wait is bounded."""

import json
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class EnergyManager:
    def __init__(self, port, username, password, subscribe=("#",), host="127.0.0.1"):
        self.messages = []  # (topic, payload bytes, retained), in arrival order
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="hems-" + uuid.uuid4().hex[:8])
        c.username_pw_set(username, password)
        c.on_connect = lambda cl, ud, fl, rc, pr: cl.subscribe([(t, 1) for t in subscribe])
        c.on_subscribe = lambda *a: self._subscribed.set()
        c.on_message = self._on_message
        c.connect(host, port, 30)
        c.loop_start()
        self.client = c
        if not self._subscribed.wait(10):
            self.close()
            raise AssertionError("the test's MQTT client could not subscribe")

    def _on_message(self, client, userdata, msg):
        with self._cond:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()

    def publish(self, topic, payload, retain=False):
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload)
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)

    def mark(self):
        """The position from which a later wait looks."""
        with self._cond:
            return len(self.messages)

    def wait_for(self, topic, where=lambda p: True, timeout_s=15, after=0, raw=False):
        """The first message on topic from position `after` whose payload (JSON-decoded
        unless raw) satisfies where."""
        deadline = time.monotonic() + timeout_s
        i = after
        with self._cond:
            while True:
                while i < len(self.messages):
                    t, p, _ = self.messages[i]
                    i += 1
                    if t == topic:
                        value = p if raw else json.loads(p)
                        if where(value):
                            return value
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(t, p[:300]) for t, p, _ in self.messages[after:] if t == topic]
                    raise AssertionError("no message on %s as expected within %.0f s; seen: %s"
                                         % (topic, timeout_s, seen[-5:]))
                self._cond.wait(left)

    def latest(self, topic):
        with self._cond:
            for t, p, _ in reversed(self.messages):
                if t == topic:
                    return p
        return None

    def under(self, prefix, retained_only=False):
        """{topic: latest payload} of the messages seen under prefix; retained_only: those
        the broker delivered as retained (MQTT 3.1.1 §3.3.1.3: only the ones it held when
        this client subscribed carry the flag, a live message does not)."""
        out = {}
        with self._cond:
            for t, p, r in self.messages:
                if t.startswith(prefix) and (r or not retained_only):
                    out[t] = p
        return out

    def command(self, prefix, evse, name, payload, timeout_s=15):
        """Publish a command with a fresh id and wait for its reply -> the reply dict."""
        rid = uuid.uuid4().hex[:12]
        payload = dict(payload, id=rid)
        at = self.mark()
        self.publish("%s/evse/%s/%s/set" % (prefix, evse, name), payload)
        return self.wait_for("%s/evse/%s/reply" % (prefix, evse),
                             lambda r: r.get("id") == rid, timeout_s, after=at)

    def send_raw(self, prefix, evse, name, payload, timeout_s=15, retain=False):
        """Publish a payload as is (bytes or text) -> the next reply on that EVSE's topic."""
        at = self.mark()
        self.publish("%s/evse/%s/%s/set" % (prefix, evse, name), payload, retain=retain)
        return self.wait_for("%s/evse/%s/reply" % (prefix, evse), timeout_s=timeout_s,
                             after=at)
