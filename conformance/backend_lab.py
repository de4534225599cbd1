"""The lab with the whole system around the charger: a mosquitto broker, the bundled CSMS
(sim_hardware/csms16.py), the emulated charger as a process (`python -m sim_hardware`)
and the gateway (`python -m gateway --hems …`), started as the demo starts them
(sim_hardware/demo/processes.py), in real time. The lab sees what the back-end and the
energy manager see: the CSMS's messages and the MQTT topics; and the charger's pilot and
contactor through the sim's control socket."""

import json
import os
import queue
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from sim_hardware.demo import processes as parts

PREFIX = "conformance"
SETTINGS = {"random_delay_max_s": 0, "pwm_min_interval_ms": 0, "telemetry_interval_s": 1,
            "no_charge_windows": []}  # real time: the windows would hold at 08-11 / 16-22


class BackendLab:
    capabilities = frozenset(("backend", "energy_manager", "pilot", "contactor", "load",
                              "button"))
    virtual_time = False

    def __init__(self, firmware_dir, settings=None, gateway_config=None):
        self._tmp = tempfile.TemporaryDirectory(prefix="conformance-")
        run = Path(self._tmp.name)
        self.broker = self.csms = self.charger = self.gateway = self.mqtt = None
        self.messages = queue.Queue()
        self.mqtt_log = []  # (t_s, topic, payload dict or text)
        self._t0 = time.monotonic()
        try:
            self._start(run, firmware_dir, dict(SETTINGS, **(settings or {})), gateway_config)
        except Exception:
            self.close()
            raise

    def _start(self, run, firmware_dir, settings, gateway_config):
        paths = parts.find_mosquitto()
        if paths is None:
            raise RuntimeError(parts.INSTALL_MOSQUITTO)
        logs = run / "logs"
        logs.mkdir()
        self._run, self._logs = run, logs
        self.broker = parts.Broker(run, logs, paths)
        self.broker.wait_ready()
        self.csms = parts.Csms16().start()
        os.environ["SIM_HARDWARE_FIRMWARE"] = str(firmware_dir)
        self.charger = parts.Charger(logs, "cpython", 1, 1, settings)
        self.charger.wait_ready()
        self.gateway = parts.Gateway(logs, run / "gateway-state", self.csms.url,
                                     self.charger.link_url, self.broker.url(PREFIX), "1.6")
        self.gateway.wait_ready()
        self._subscribe()
        self.csms.wait_for("BootNotification", timeout_s=20)

    def _subscribe(self):
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="conformance-lab")
        c.username_pw_set(self.broker.user, self.broker.password)

        def on_message(_c, _u, msg):
            try:
                payload = json.loads(msg.payload)
            except ValueError:
                payload = msg.payload.decode(errors="replace")
            self.mqtt_log.append((self.now_s(), msg.topic, payload))

        c.on_message = on_message
        c.on_connect = lambda cl, *_: cl.subscribe(PREFIX + "/#", qos=1)
        c.connect("127.0.0.1", self.broker.port)
        c.loop_start()
        self.mqtt = c

    # --- time -----------------------------------------------------------------------

    def now_s(self):
        return time.monotonic() - self._t0

    def wait_until(self, pred, timeout_s, poll_s=0.05):
        """-> seconds until pred() held, or None after timeout_s."""
        start = time.monotonic()
        while not pred():
            if time.monotonic() - start >= timeout_s:
                return None
            time.sleep(poll_s)
        return time.monotonic() - start

    # --- the charger ---------------------------------------------------------------

    def do(self, command, **args):
        return self.charger.control(command, **args)

    def status(self):
        return self.charger.control("status")["status"]

    def duty_permille(self):
        return self.status()["duty_permille"]

    def contactor_closed(self):
        return bool(self.status()["contacts"])

    # --- the energy manager -----------------------------------------------------------

    def publish(self, topic, payload):
        self.mqtt.publish(PREFIX + "/" + topic, json.dumps(payload), qos=1).wait_for_publish(5)

    def state(self, evse=1):
        """The last retained state of an EVSE, or None."""
        topic = "%s/evse/%d/state" % (PREFIX, evse)
        for _, t, p in reversed(self.mqtt_log):
            if t == topic and isinstance(p, dict):
                return p
        return None

    def switch_csms(self):
        """The owner changes supplier: a new CSMS; the gateway is restarted against it with
        its state (profiles, queue) kept. -> the old CSMS (stopped)."""
        old = self.csms
        self.gateway.stop()
        self.csms = parts.Csms16().start()
        self.gateway = parts.Gateway(self._logs, self._run / "gateway-state", self.csms.url,
                                     self.charger.link_url, self.broker.url(PREFIX), "1.6")
        self.gateway.wait_ready()
        old.stop()
        self.csms.wait_for("BootNotification", timeout_s=20)
        return old

    def close(self):
        if self.mqtt is not None:
            self.mqtt.loop_stop()
            self.mqtt.disconnect()
        for child in (self.gateway, self.charger):
            if child is not None:
                child.stop()
        if self.csms is not None:
            self.csms.stop()
        if self.broker is not None:
            self.broker.stop()
        os.environ.pop("SIM_HARDWARE_FIRMWARE", None)
        self._tmp.cleanup()
