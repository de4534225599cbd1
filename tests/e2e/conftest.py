import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ocpp16_fixture import Gateway, Sim  # noqa: E402

from sim_hardware.csms16 import Csms16  # noqa: E402


@pytest.fixture
def csms():
    c = Csms16().start()
    yield c
    c.stop()


@pytest.fixture
def sim():
    s = Sim()
    yield s
    s.stop()


@pytest.fixture
def start_gateway(tmp_path):
    """start_gateway(csms, sim, config=None) -> Gateway; stopped after the test (its log
    is printed when the test failed)."""
    started = []

    def start(csms, sim, config=None):
        g = Gateway(csms.url, [sim.link_url], tmp_path / "state", config=config)
        started.append(g)
        return g

    yield start
    for g in started:
        g.stop()
        print(g.log_text()[-4000:])
