import pytest

from gateway.store import Store


@pytest.fixture
def store(tmp_path):
    """A fresh durable gateway store (SQLite) in the test's own folder."""
    s = Store(tmp_path / "gw.db")
    yield s
    s.close()
