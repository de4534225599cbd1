import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ocpp16_fixture import Gateway, Sim  # noqa: E402

from sim_hardware.csms16 import Csms16  # noqa: E402
from sim_hardware.csms201 import Csms201  # noqa: E402


@pytest.fixture
def csms():
    c = Csms16().start()
    yield c
    c.stop()


@pytest.fixture
def csms201():
    c = Csms201().start()
    yield c
    c.stop()


@pytest.fixture
def sim():
    s = Sim()
    yield s
    s.stop()


@pytest.fixture
def meter_sim():
    """An emulated charger with an Eastron SDM630 on its Modbus line."""
    s = Sim(extra_args=("--meter", "SDM630"))
    yield s
    s.stop()


@pytest.fixture
def sim2():
    """A second emulated charger: EVSE 2 of a two-EVSE station (start_gateway(csms, [sim,
    sim2]))."""
    s = Sim(("--evse-id", "2"))
    yield s
    s.stop()


@pytest.fixture
def start_gateway(tmp_path):
    """start_gateway(csms, sim, config=None, extra_args=(), state=None) -> Gateway; stopped
    after the test (its log is printed when the test failed). sim: anything with a link_url
    (a Sim, a LinkRelay), or a list of them, one EVSE each in order; extra_args: more
    command-line options (security); state: its --state-dir (default tmp_path/state). The
    OCPP version is the CSMS's (OCPP_VERSION: Csms201 "2.0.1", else 1.6)."""
    started = []

    def start(csms, sim, config=None, extra_args=(), state=None):
        sims = sim if isinstance(sim, (list, tuple)) else [sim]
        g = Gateway(csms.url, [s.link_url for s in sims], state or tmp_path / "state",
                    config=config, extra_args=extra_args,
                    ocpp=getattr(csms, "OCPP_VERSION", "1.6"))
        started.append(g)
        return g

    yield start
    for g in started:
        g.stop()
        print(g.log_text()[-4000:])
