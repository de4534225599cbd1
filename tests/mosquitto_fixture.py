"""A real mosquitto broker for the MQTT tests (DESIGN §9): sim_hardware/broker.py's Mosquitto,
the one the demo starts, on free loopback ports with its own config file, no system service.
Username/password on every listener (no anonymous clients); optionally a TLS listener with
a CA made for the test:

    broker = start_broker(tmp_dir, {"gateway": "pw1", "charger": "pw2"}, tls=False)
    broker.port, broker.tls_port, broker.dir        # broker.dir / "ca.pem" with tls=True
    broker.stop(); broker.start()                   # a restart keeps the ports
    broker.stop()

    broker = broker_fixture({"gateway": "pw1"})   # a test module's fixture, one per test
"""

import os
import shutil

import pytest

from sim_hardware.broker import MOSQUITTO, Mosquitto


def start_broker(directory, users, tls=True):
    """A started Mosquitto in `directory` (made if missing), or the test fails saying what
    to install."""
    if not os.access(MOSQUITTO, os.X_OK):
        pytest.fail("mosquitto is not installed at %s: the MQTT tests need the Debian "
                    "package 'mosquitto' (apt-get install mosquitto)" % MOSQUITTO)
    if shutil.which("mosquitto_passwd") is None:
        pytest.fail("mosquitto_passwd is missing: install the Debian package 'mosquitto'")
    directory.mkdir(parents=True, exist_ok=True)
    b = Mosquitto(directory, users, tls)
    b.start()
    return b


def broker_fixture(users, tls=False):
    """A pytest fixture (assign it to a module-level name): start_broker(...) in the test's
    tmp_path / "mosquitto", stopped after the test."""

    @pytest.fixture
    def broker(tmp_path):
        b = start_broker(tmp_path / "mosquitto", users, tls)
        yield b
        b.stop()

    return broker
