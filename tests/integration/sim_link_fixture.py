"""A charger for the gateway's link tests: the real firmware controller on the sim board,
ticking every 10 ms of wall time on a thread, its link bridged to a real transport:

- TCP: a listening socket on loopback; the gateway opens socket://127.0.0.1:PORT with
  serial_for_url and gets the firmware's frames byte for byte (LINK.md §2);
- MQTT: a paho client on a mosquitto broker; each frame the firmware writes is unframed and
  published on <prefix>/evse/<n>/up, each message on .../down is framed and handed to the
  board (LINK.md §6), as an MQTT bridge on a charger would.

Everything the firmware sends is also decoded here (`sent`), so tests can compare what the
gateway stored with what the firmware sent. The board and the controller are touched only
under `lock` (`do(fn)`).

Run as a program, it is a gateway process for the kill -9 tests:
    python sim_link_fixture.py gateway URL DB [COMMIT_DELAY_S]
prints one JSON line per committed record, flushed, and runs until killed.
"""

import json
import socket
import sys
import threading
import time
from collections import deque
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
for p in (REPO, REPO / "firmware"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from evse.controller import Controller  # noqa: E402
from protocols import link  # noqa: E402
from protocols import link_messages as lm  # noqa: E402
from sim_hardware.sim_board import SimBoard  # noqa: E402

TICK_MS = 10
TEST_SETTINGS = {
    "random_delay_max_s": 0,  # no restoration delay: charge at once (AG-13 is tested elsewhere)
    "pwm_min_interval_ms": 0,  # a new limit shows on the pilot at the next tick
    "link_timeout_ms": 2000,
    "telemetry_interval_s": 1,
    "no_charge_windows": [],  # the gateway syncs real time: no UK-10 hold at 08-11 / 16-22
    "utc_offset_mode": 0,
}


def wait_for(pred, timeout_s, what, poll_s=0.01):
    """Poll pred() until true; AssertionError naming what after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(poll_s)
    raise AssertionError("timed out after %.1f s waiting for %s" % (timeout_s, what))


async def async_wait_for(pred, timeout_s, what, poll_s=0.01):
    import asyncio

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        await asyncio.sleep(poll_s)
    raise AssertionError("timed out after %.1f s waiting for %s" % (timeout_s, what))


class SimCharger:
    def __init__(self, settings=None, seed=1):
        s = dict(TEST_SETTINGS)
        s.update(settings or {})
        self.board = SimBoard(seed=seed, logs=False)
        self.board.storage["settings.json"] = json.dumps(s).encode()
        self.lock = threading.RLock()
        self.ctl = Controller(self.board)
        self.sent = []  # (mtype, tag, fields) the firmware sent, in order
        self._tee = link.FrameDecoder()
        self._stop = threading.Event()
        self._thread = None
        self._raw_out = bytearray()  # extra bytes for the wire toward the gateway (tests)
        # TCP
        self._server = None
        self._client = None
        self.port = 0
        self.accepted = 0
        # MQTT
        self._mqtt = None
        self._down = deque()
        self.up_topic = self.down_topic = None

    # --- start / stop ------------------------------------------------------------------

    def start_tcp(self):
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(1)
        self._server.setblocking(False)
        self.port = self._server.getsockname()[1]
        self._start()
        return "socket://127.0.0.1:%d" % self.port

    def start_mqtt(self, host, port, prefix, evse_id=1, username=None, password=None):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.up_topic = "%s/evse/%d/up" % (prefix, evse_id)
        self.down_topic = "%s/evse/%d/down" % (prefix, evse_id)
        subscribed = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sim-evse%d" % evse_id)
        if username is not None:
            c.username_pw_set(username, password)
        c.reconnect_delay_set(0.1, 0.5)  # back soon after a broker restart
        c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(self.down_topic, qos=1)
        c.on_subscribe = lambda cl, u, mid, rcs, p: subscribed.set()
        c.on_message = lambda cl, u, msg: self._down.append(bytes(msg.payload))
        c.connect(host, port, 30)
        c.loop_start()
        if not subscribed.wait(5):
            c.loop_stop()
            raise AssertionError("the sim charger could not subscribe on the broker")
        self._mqtt = c
        self._start()
        return "mqtt://%s:%d/%s" % (host, port, prefix)

    def _start(self):
        self._thread = threading.Thread(target=self._run, name="sim-charger", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._mqtt is not None:
            self._mqtt.disconnect()
            self._mqtt.loop_stop()
        for s in (self._client, self._server):
            if s is not None:
                s.close()

    # --- test side -----------------------------------------------------------------------

    def do(self, fn):
        with self.lock:
            return fn(self)

    def status(self):
        with self.lock:
            return self.ctl.status()

    def log_events(self, n, code=lm.EV_COMMAND):
        """The controller logs n events (each with its number in c), as it does for any
        request: they go to flash and upstream like every other record."""
        with self.lock:
            return [self.ctl.log(code, lm.CMD_TRIGGER, lm.ST_OK, i, 0) for i in range(n)]

    def events_sent(self):
        """{seq: fields} of every EVENT the firmware sent (resends collapse)."""
        with self.lock:
            return {f["seq"]: f for t, _, f in self.sent if t == lm.EVENT}

    def count_sent(self, mtype):
        with self.lock:
            return sum(1 for t, _, _ in self.sent if t == mtype)

    def drop_connection(self):
        """The TCP peer goes away (cable pulled): the gateway must reconnect."""
        with self.lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def send_raw(self, data):
        """Bytes on the wire to the gateway (TCP), or one MQTT message (MQTT)."""
        with self.lock:
            if self._mqtt is not None:
                self._mqtt.publish(self.up_topic, bytes(data), qos=1)
            else:
                self._raw_out.extend(data)

    def reboot(self):
        """A soft reset: the controller starts again from flash."""
        with self.lock:
            self.board.reboot()
            self.ctl = Controller(self.board)

    # --- the thread ------------------------------------------------------------------------

    def _run(self):
        start = time.monotonic()
        base_ms = self.board.now_ms
        while not self._stop.is_set():
            with self.lock:
                self._pump_in()
                target = base_ms + int((time.monotonic() - start) * 1000)
                if target > self.board.now_ms:
                    self.board.advance(target - self.board.now_ms)
                self.ctl.tick()
                if self.ctl.reset_now >= 0:
                    self.board.reboot()
                    self.ctl = Controller(self.board)
                self._pump_out(self.board.link_take())
            time.sleep(TICK_MS / 1000)

    def _pump_in(self):
        if self._mqtt is not None:
            while self._down:
                self.board.link_inject(link.frame(self._down.popleft()))
            return
        try:
            conn, _ = self._server.accept()
        except BlockingIOError:
            pass
        else:
            if self._client is not None:
                self._client.close()
            conn.setblocking(False)
            self._client = conn
            self.accepted += 1
        if self._client is None:
            return
        try:
            data = self._client.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the gateway closed: wait for the next one
            self._client.close()
            self._client = None
            return
        self.board.link_inject(data)

    def _pump_out(self, data):
        i = 0
        while i < len(data):
            i += self._tee.feed(data, i)
            if self._tee.length:
                payload = bytes(self._tee.payload())
                status, mtype, tag, fields = link.decode(payload)
                assert status == lm.OK, "the firmware sent a message that does not decode"
                self.sent.append((mtype, tag, fields))
                if self._mqtt is not None:
                    self._mqtt.publish(self.up_topic, payload, qos=1)
        if self._mqtt is not None or self._client is None:
            self._raw_out.clear()  # nobody on the line
            return
        out = bytes(data) + bytes(self._raw_out)
        self._raw_out.clear()
        if out:
            try:
                self._client.sendall(out)
            except OSError:
                self._client.close()
                self._client = None


def _gateway_main(url, db, commit_delay_s=0.0):
    """A gateway process with one EvseLink, printing each committed record."""
    import asyncio

    from gateway.link import Backoff, EvseLink, make_transport
    from gateway.store import Store

    class SlowStore(Store):
        def commit_record(self, *args, **kwargs):
            time.sleep(commit_delay_s)  # widens the window a kill -9 lands in
            return super().commit_record(*args, **kwargs)

    async def main():
        store = SlowStore(db)
        transport = make_transport(url, 1, backoff=Backoff(0.05, 0.5))
        ln = EvseLink(transport, store, 1, link_timeout_ms=3000)
        ln.on_record(lambda r: print(json.dumps({"seq": r.seq}), flush=True))
        ln.on_online(lambda up: print(json.dumps({"online": up}), flush=True))
        await ln.start()
        await asyncio.Event().wait()

    asyncio.run(main())


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "gateway":
        _gateway_main(sys.argv[2], sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 0)
    else:
        sys.exit("usage: sim_link_fixture.py gateway URL DB [COMMIT_DELAY_S]")
