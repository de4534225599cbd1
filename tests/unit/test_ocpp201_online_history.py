"""gateway/ocpp201/online_history.py on a real Store: the connected spans behind the 2.0.1
TransactionEvent `offline` flag and OfflineThreshold, kept across a restart, and the span a
kill left open ended at the last answer the store recorded."""

import pytest

from gateway.ocpp201.online_history import KEEP, META_KEY, OnlineHistory
from gateway.store import Store


class Clock:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture
def path(tmp_path):
    return tmp_path / "gw.db"


def test_offline_before_between_and_after_connections(path):
    store, clock = Store(path), Clock(1000.0)
    h = OnlineHistory(store, clock)
    assert h.was_offline(1000) and h.offline_s() == float("inf")
    h.connected(True)
    clock.t = 1100.4
    h.connected(False)
    clock.t = 1200.0
    h.connected(True)
    assert not h.was_offline(1000) and not h.was_offline(1101)  # the second of the loss
    assert h.was_offline(999) and h.was_offline(1102) and h.was_offline(1199)
    assert not h.was_offline(1200) and not h.was_offline(5000)  # connected now
    clock.t = 1300.0
    h.connected(False)
    h.connected(False)  # a second loss of the same connection changes nothing
    clock.t = 1310.0
    assert h.offline_s() == 10.0
    store.close()


def test_kept_across_a_restart(path):
    store, clock = Store(path), Clock(1000.0)
    h = OnlineHistory(store, clock)
    h.connected(True)
    clock.t = 1100.0
    h.connected(False)
    store.close()
    store = Store(path)
    clock.t = 1160.0
    h = OnlineHistory(store, clock)
    assert not h.was_offline(1050) and h.was_offline(1150)
    assert h.offline_s() == 60.0  # B04: the time offline spans the restart
    store.close()


def test_a_connection_a_kill_ended_ends_at_the_last_answer(path, monkeypatch):
    """Killed while connected: at the restart the span ends at the last message the CSMS
    answered (not at one a restart took as delivered without an answer); no answer on it
    at all: at its start."""
    store, clock = Store(path), Clock(1000.0)
    h = OnlineHistory(store, clock)
    h.connected(True)
    now_ms = [1040_000]
    monkeypatch.setattr("gateway.store._now_ms", lambda: now_ms[0])
    m1 = store.enqueue("tx_start", {"k": 1})
    store.complete(m1)  # answered at 1040 s
    now_ms[0] = 1090_000
    m2 = store.enqueue("tx_stop", {"k": 1})
    store.complete(m2, note="written before a restart, no answer: taken as delivered")
    store.close()  # killed: no connected(False)

    store = Store(path)
    clock.t = 2000.0
    h = OnlineHistory(store, clock)
    assert store.get_meta(META_KEY) == [[1000.0, 1040.0]]
    assert not h.was_offline(1041) and h.was_offline(1042)
    store.close()

    store = Store(path)  # killed again right after connecting, nothing answered since
    h = OnlineHistory(store, clock)
    h.connected(True)
    store.close()
    store = Store(path)
    h = OnlineHistory(store, Clock(3000.0))
    assert store.get_meta(META_KEY)[-1] == [2000.0, 2000.0]
    store.close()


def test_only_the_latest_connections_are_kept_and_bad_metadata_is_ignored(path):
    store, clock = Store(path), Clock(0.0)
    h = OnlineHistory(store, clock)
    for i in range(KEEP + 10):
        clock.t = i * 10.0
        h.connected(True)
        clock.t += 5
        h.connected(False)
    spans = store.get_meta(META_KEY)
    assert len(spans) == KEEP and spans[0] == [100.0, 105.0]
    store.set_meta(META_KEY, [["x", 1], [5, "y"], [7, None]])
    h = OnlineHistory(store, clock)
    assert not h.was_offline(7) and h.was_offline(6)
    store.close()
