"""`python -m sim_hardware` with several chargers in one process (`--count N`) and with its
link through a real mosquitto broker (`--link mqtt://USER:PASS@HOST:PORT/PREFIX --evse-id
N`, protocols/LINK.md §6). Started as a user would (a subprocess in the repo root); the link
is reached the way the gateway reaches it (serial_for_url for socket://, an MQTT client on
the broker for mqtt://), with HELLO frames built by protocols.link. docs/sim_hardware.md."""

import queue
import signal
import subprocess
import sys
import time

import paho.mqtt.client as mqtt
import pytest
import serial
from mosquitto_fixture import start_broker
from paho.mqtt.enums import CallbackAPIVersion
from test_sim_process import REPO, ControlClient, hello_frame, read_messages, start, stop

from protocols import link
from protocols import link_messages as lm

SCALE = "20"
PREFIX = "site3"
CHARGER = ("charger", "ch-5e2b8d1c7f3a9e04")
TESTER = ("tester", "ts-0d6a4f2e9b1c7a35")


def wait_reply(ctl, cmd, pred, timeout_s=10, **fields):
    """Ask cmd until pred(reply) holds; the last reply."""
    deadline = time.monotonic() + timeout_s
    while True:
        reply = ctl(cmd, **fields)
        if pred(reply) or time.monotonic() > deadline:
            return reply
        time.sleep(0.02)


def unframe(data):
    """The link message inside one serial frame (MQTT carries it bare, LINK.md §6)."""
    dec = link.FrameDecoder()
    i = 0
    while i < len(data):
        i += dec.feed(data, i)
        if dec.length:
            return bytes(dec.payload())
    raise AssertionError("no frame in %r" % data)


def test_count_chargers_in_one_process_each_with_its_own_link():
    """--count 3: three chargers, EVSE ids 1..3, each its own socket:// link answering its
    own HELLO; one control socket where a request names its charger with evse; pilots gives
    every charger's duty and when it changed (time.monotonic of the process)."""
    proc, info = start("--count", "3", "--link", "socket://127.0.0.1:0", "--control",
                       "127.0.0.1:0", "--time-scale", SCALE, "--setting",
                       "random_delay_max_s=0")
    try:
        assert "3 chargers" in info["sim_hardware"]
        urls = [info["link %d" % n] for n in (1, 2, 3)]
        assert len(set(urls)) == 3 and all(u.startswith("socket://127.0.0.1:") for u in urls)
        for url in urls:
            port = serial.serial_for_url(url, timeout=0.1)
            port.write(hello_frame(tag=5))
            assert read_messages(port, lm.TELEMETRY, after=(lm.HELLO, 5))
            port.close()
        ctl = ControlClient(info["control"])
        assert ctl("plug", evse=2, state="B", pp_ohms=220) == {"ok": True}
        st = wait_reply(ctl, "status", lambda r: r["status"]["session"] == "charging",
                        evse=2)["status"]
        assert st["session"] == "charging", st
        assert st["evse"] == 2 and st["link"]["url"] == urls[1]
        assert ctl("status", evse=1)["status"]["cp"] == "A"
        pilots = ctl("pilots")["pilots"]
        assert [p["evse"] for p in pilots] == [1, 2, 3]
        assert pilots[0]["duty_permille"] == 1000 and pilots[1]["duty_permille"] == 533
        assert pilots[1]["duty_changed_s"] > pilots[0]["duty_changed_s"]
        refused = ctl("status")
        assert not refused["ok"] and "evse is required with 3 chargers (1..3)" in refused["error"]
        refused = ctl("plug", evse=9)
        assert not refused["ok"] and "no charger with evse 9" in refused["error"]
    finally:
        stop(proc)


@pytest.mark.parametrize("args, words", [
    (["--count", "0"], "--count must be 1..256"),
    (["--count", "257"], "--count must be 1..256"),
    (["--count", "2", "--vm", "micropython"], "CPython only"),
    (["--count", "2", "--scenario", "x.scn"], "not with --count > 1"),
    (["--evse-id", "0"], "--evse-id must be 1.."),
    (["--count", "4", "--link", "socket://127.0.0.1:65534"], "pass 65535"),
    (["--link", "mqtts://127.0.0.1:8883/site"], "mqtts:// (TLS) is not built"),
    (["--link", "mqtt:///site"], "no broker host"),
    (["--link", "mqtt://127.0.0.1:99999/site"], "the port must be a number"),
])
def test_bad_count_evse_id_and_mqtt_arguments_exit_2(args, words):
    out = subprocess.run([sys.executable, "-m", "sim_hardware", "--control", "127.0.0.1:0",
                          *args], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert words in out.stderr and "usage:" in out.stderr


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = start_broker(tmp_path_factory.mktemp("mosquitto"), dict((CHARGER, TESTER)), tls=False)
    yield b
    b.stop()


class Peer:
    """An MQTT client standing where the gateway stands: it hears .../up, speaks .../down."""

    def __init__(self, broker):
        self.messages = queue.Queue()
        subscribed = queue.Queue()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="tester")
        c.username_pw_set(*TESTER)
        c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(PREFIX + "/evse/+/up", qos=1)
        c.on_subscribe = lambda cl, u, mid, rcs, p: subscribed.put(True)
        c.on_message = lambda cl, u, m: self.messages.put((m.topic, bytes(m.payload)))
        c.connect("127.0.0.1", broker.port, 30)
        c.loop_start()
        subscribed.get(timeout=5)
        self.client = c

    def hello(self, evse_id, tag):
        payload = unframe(hello_frame(tag))
        self.client.publish("%s/evse/%d/down" % (PREFIX, evse_id), payload, qos=1)

    def wait(self, topic, mtype, after_tag=None, timeout_s=10):
        """The first message of mtype on topic (after the HELLO reply with after_tag)."""
        while True:
            got_topic, payload = self.messages.get(timeout=timeout_s)
            status, t, tag, fields = link.decode(payload)
            assert status == lm.OK  # one whole link message, no COBS or CRC (LINK.md §6)
            if got_topic != topic:
                continue
            if after_tag is not None:
                if (t, tag) == (lm.HELLO, after_tag):
                    after_tag = None
                continue
            if t == mtype:
                return fields

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def test_mqtt_link_topics_per_evse_id_and_hello_telemetry(broker):
    """LINK.md §6: --link mqtt://charger:…@…/site3 --evse-id 4 --count 2: chargers 4 and 5
    publish their link messages on site3/evse/4/up and site3/evse/5/up (one message each,
    no framing) and take messages from .../down; a HELLO on site3/evse/5/down is answered
    by charger 5 only, then its TELEMETRY follows."""
    url = "mqtt://%s:%s@127.0.0.1:%d/%s" % (*CHARGER, broker.port, PREFIX)
    peer = Peer(broker)
    proc, info = start("--link", url, "--evse-id", "4", "--count", "2", "--control",
                       "127.0.0.1:0", "--time-scale", SCALE, "--setting",
                       "random_delay_max_s=0")
    try:
        assert info["link 4"] == info["link 5"] == "mqtt://127.0.0.1:%d/%s" % (broker.port,
                                                                              PREFIX)
        ctl = ControlClient(info["control"])
        wait_reply(ctl, "pilots", lambda r: all(p["link_connected"] for p in r["pilots"]))
        st = ctl("status", evse=5)["status"]
        assert st["link"]["connected"] and st["link"]["topics"] == [
            "site3/evse/5/up", "site3/evse/5/down"]
        peer.hello(5, tag=9)
        tel = peer.wait("site3/evse/5/up", lm.TELEMETRY, after_tag=9)
        assert tel["session"] == 0  # available (LINK.md TELEMETRY.session)
        st5 = ctl("status", evse=5)["status"]["link"]
        st4 = ctl("status", evse=4)["status"]["link"]
        assert st5["received"] == 1 and st4["received"] == 0
        # what the firmware sent before the broker took the charger (its boot HELLO) was
        # dropped like bytes on an unconnected UART; nothing since
        assert st5["published"] >= 2 and st5["dropped"] == st["link"]["dropped"]
    finally:
        peer.close()
        stop(proc)


def test_mqtt_wrong_password_refused_and_reported(broker):
    """Bad credentials: the broker refuses the charger's CONNECT; the process says so on
    stderr (once), keeps retrying like a device would, reports the link down, and its
    firmware's messages are dropped and counted."""
    url = "mqtt://%s:wrong-password@127.0.0.1:%d/%s" % (CHARGER[0], broker.port, PREFIX)
    proc, info = start("--link", url, "--control", "127.0.0.1:0", "--time-scale", SCALE)
    try:
        ctl = ControlClient(info["control"])
        st = wait_reply(ctl, "status", lambda r: r["status"]["link"]["refused"] >= 2
                        and r["status"]["link"]["dropped"] > 0)["status"]["link"]
        assert not st["connected"] and st["connects"] == 0 and st["refused"] >= 2
        assert st["dropped"] > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0 and "sim_hardware: stopped" in out
    assert err.count("sim_hardware: evse 1: broker refused the connection: Not authorized") == 1
