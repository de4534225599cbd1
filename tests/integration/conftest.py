import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: mosquitto_fixture

from gateway.store import Store


@pytest.fixture
def store(tmp_path):
    """A fresh durable gateway store (SQLite) in the test's own folder."""
    s = Store(tmp_path / "gw.db")
    yield s
    s.close()
