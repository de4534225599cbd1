"""The lab with the whole system around the charger: a mosquitto broker, the bundled CSMS
(sim_hardware/csms16.py), the emulated charger as a process (`python -m sim_hardware`)
and the gateway (`python -m gateway --hems …`), started as the demo starts them
(sim_hardware/demo/processes.py), in real time. The lab sees what the back-end and the
energy manager see: the CSMS's messages and the MQTT topics; and the charger's pilot and
contactor through the sim's control socket."""

import json
import os
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import paho.mqtt.client as mqtt

from sim_hardware.demo import processes as parts

PREFIX = parts.HEMS_PREFIX
SETTINGS = {"random_delay_max_s": 0, "pwm_min_interval_ms": 0, "telemetry_interval_s": 1,
            "no_charge_windows": []}  # real time: the windows would hold at 08-11 / 16-22


class BackendLab:
    capabilities = frozenset(("backend", "energy_manager", "pilot", "contactor", "load",
                              "button"))
    virtual_time = False

    def __init__(self, firmware_dir, settings=None):
        self._tmp = tempfile.TemporaryDirectory(prefix="conformance-")
        run = Path(self._tmp.name)
        self.mqtt = None
        self.mqtt_log = []  # (t_s, topic, payload dict or text)
        self._t0 = time.monotonic()
        opts = SimpleNamespace(ocpp="1.6", vm="cpython", time_scale=1, seed=1)
        self.parts = parts.Parts(run, run, opts, dict(SETTINGS, **(settings or {})))
        os.environ["SIM_HARDWARE_FIRMWARE"] = str(firmware_dir)
        try:
            mosquitto = parts.find_mosquitto()
            if mosquitto is None:
                raise RuntimeError(parts.INSTALL_MOSQUITTO)
            self.parts.start(mosquitto, lambda _text: None)
            self._subscribe()
            self.csms.wait_for("BootNotification", timeout_s=20)
        except Exception:
            self.close()
            raise

    @property
    def csms(self):
        return self.parts.csms

    @property
    def charger(self):
        return self.parts.charger

    @property
    def broker(self):
        return self.parts.broker

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
        p = self.parts
        old = p.csms
        p.gateway.stop()
        p.csms = parts.Csms16().start()
        p.gateway = parts.Gateway(p.log_dir, p.run_dir / "gateway-state", p.csms.url,
                                  p.charger.link_url, p.broker.url(parts.HEMS_PREFIX), "1.6")
        p.gateway.wait_ready()
        old.stop()
        p.csms.wait_for("BootNotification", timeout_s=20)
        return old

    def close(self):
        if self.mqtt is not None:
            self.mqtt.loop_stop()
            self.mqtt.disconnect()
        self.parts.stop()
        os.environ.pop("SIM_HARDWARE_FIRMWARE", None)
        self._tmp.cleanup()
