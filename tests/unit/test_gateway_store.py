"""gateway/store.py: the durable SQLite store. Records committed exactly once per
(EVSE, epoch, seq), the outbound FIFO for the CSMS, the link's generation counters; and a
process killed with SIGKILL at random moments loses nothing it reported done and doubles
nothing (issue 6: "nothing lost when the gateway is killed (kill -9) at any moment")."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gateway.store import Cursor, Store
from protocols import link_messages as lm

REPO = Path(__file__).resolve().parents[2]


def ev(seq, code=lm.EV_PLUG, c=0):
    return {"seq": seq, "unix_s": 1767225600 + seq, "code": code, "a": 0, "b": 0, "c": c,
            "d": 0}


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "gw.db")
    yield s
    s.close()


def test_wal_and_synchronous_full(store):
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_record_committed_once_and_cursor_moves_with_it(store):
    assert store.cursor(1) == Cursor(0, 0)
    r = store.commit_record(1, 0, 5, lm.EVENT, ev(5))
    assert (r.seq, r.code, r.unix_s, r.fields) == (5, lm.EV_PLUG, 1767225605, ev(5))
    assert store.cursor(1) == Cursor(0, 5)
    assert store.commit_record(1, 0, 5, lm.EVENT, ev(5)) is None  # the same again
    assert store.commit_record(1, 0, 4, lm.EVENT, ev(4)) is None  # older
    assert store.commit_record(1, 1, 6, lm.EVENT, ev(6)) is None  # not the current epoch
    assert store.commit_record(1, 0, 9, lm.EVENT, ev(9)) is not None  # a gap is allowed
    assert [x.seq for x in store.records(1)] == [5, 9]
    assert store.cursor(2) == Cursor(0, 0)  # per EVSE


def test_session_record_keeps_every_field(store):
    f = {"seq": 1, "session_id": 3, "start_unix_s": 100, "stop_unix_s": 200,
         "charging_s": 90, "energy_import_wh": 7400, "energy_export_wh": 0, "stop_reason": 1}
    r = store.commit_record(2, 0, 1, lm.SESSION, f)
    assert (r.mtype, r.code, r.unix_s) == (lm.SESSION, 0, 200)
    assert store.record_at(2, 0, 1).fields == f


def test_new_epoch_restarts_numbering(store):
    store.commit_record(1, 0, 40, lm.EVENT, ev(40))
    assert store.new_epoch(1) == Cursor(1, 0)
    assert store.commit_record(1, 1, 1, lm.EVENT, ev(1, lm.EV_LOG_RESET)) is not None
    assert store.record_at(1, 0, 40).seq == 40 and store.record_at(1, 1, 1).code == \
        lm.EV_LOG_RESET
    assert store.record_at(1, 1, 40) is None


def test_mark_processed_enqueues_atomically_and_once(store):
    r = store.commit_record(1, 0, 1, lm.EVENT, ev(1, lm.EV_SESSION_START))
    assert [x.id for x in store.records(unprocessed=True)] == [r.id]
    ids = store.mark_processed(r.id, [("StartTransaction", {"connectorId": 1})])
    assert len(ids) == 1
    assert store.mark_processed(r.id, [("StartTransaction", {"connectorId": 1})]) == []
    assert store.records(unprocessed=True) == []
    (msg,) = store.peek(10)
    assert (msg.action, msg.payload, msg.evse_id, msg.record_id) == \
        ("StartTransaction", {"connectorId": 1}, 1, r.id)
    with pytest.raises(KeyError):
        store.mark_processed(999)


def test_outbound_fifo_attempts_sent_and_discarded(store):
    a = store.enqueue("StartTransaction", {"n": 1}, evse_id=1)
    b = store.enqueue("MeterValues", {"n": 2}, evse_id=1)
    c = store.enqueue("StopTransaction", {"n": 3}, evse_id=1)
    assert [m.id for m in store.peek(5)] == [a, b, c] and store.pending_count() == 3
    assert store.record_attempt(a) == 1 and store.record_attempt(a) == 2
    assert store.peek()[0].attempts == 2
    store.update_payload(a, {"n": 1, "transactionId": 77})
    assert store.peek()[0].payload == {"n": 1, "transactionId": 77}
    store.mark_sent(a)
    store.mark_sent(a)  # idempotent
    store.discard(b, "TransactionMessageAttempts exhausted")
    assert [m.id for m in store.peek(5)] == [c] and store.pending_count() == 1
    assert store.purge_sent(time.time_ns() // 1_000_000 + 1000) == 2
    with pytest.raises(KeyError):
        store.record_attempt(12345)


def test_mark_processed_and_enqueue_set_meta_in_their_transaction(store):
    """docs/ocpp.md: the session state a record changes commits with its messages (a kill
    between the two would lose a StopTransaction); a function value is applied inside."""
    store.set_meta("n", 1)
    r = store.commit_record(1, 0, 1, lm.EVENT, ev(1, lm.EV_SESSION_STOP))
    store.mark_processed(r.id, [("tx_stop", {})], {"session:1": None,
                                                   "n": lambda old: old + 1})
    assert store.get_meta("session:1", "gone") is None and store.get_meta("n") == 2
    assert store.mark_processed(r.id, [], {"n": lambda old: old + 1}) == []
    assert store.get_meta("n") == 2  # a processed record changes nothing again
    store.enqueue("tx_start", {}, 1, meta={"session:1": {"key": 7}})
    assert store.get_meta("session:1") == {"key": 7}


def test_send_states_and_the_marks_survive_a_restart(tmp_path):
    """The send of one queued message: begin_send (committed), mark_written and
    mark_answered (one write each to the side file), then complete / refused /
    abandon_sends; what a restart finds in between is in_flight()."""
    path = tmp_path / "gw.db"
    with Store(path) as s:
        a = s.enqueue("tx_start", {"n": 1}, 1)
        b = s.enqueue("tx_stop", {"n": 2}, 1)
        assert s.in_flight() == []
        assert s.begin_send(a) == 1
        assert [(m.id, m.written, m.answer) for m in s.in_flight()] == [(a, False, None)]
        s.mark_written(a)
    with Store(path) as s:
        assert [(m.id, m.written, m.answer) for m in s.in_flight()] == [(a, True, None)]
        s.mark_answered(a, {"transactionId": 5, "idTagInfo": {"status": "Accepted"}})
    with Store(path) as s:
        (m,) = s.in_flight()
        assert m.written and m.answer["transactionId"] == 5
        assert s.begin_send(a) == 2  # a new attempt: the old marks no longer count
        assert [(m.written, m.answer) for m in s.in_flight()] == [(False, None)]
        s.complete(a, {"txid:1:9": 5, "session:1": lambda old: dict(old or {}, tx_id=5)})
        assert s.in_flight() == [] and [m.id for m in s.peek(5)] == [b]
        assert s.get_meta("txid:1:9") == 5 and s.get_meta("session:1") == {"tx_id": 5}
        s.begin_send(b)
        assert s.refused(b) == 1 and s.in_flight() == []
        s.begin_send(b)
        s.mark_written(b)
        assert s.abandon_sends() == 1 and s.in_flight() == []
        assert s.refused(b) == 2 and s.peek()[0].refusals == 2
        with pytest.raises(KeyError):
            s.begin_send(12345)


_KILLED_AFTER_WRITE = """
import os, signal, sys
from gateway.store import Store
s = Store(sys.argv[1])
m = s.enqueue("tx_stop", {"n": 1}, 1)
s.begin_send(m)
s.mark_written(m)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_written_mark_survives_kill_9(tmp_path):
    """The written mark is not fsynced: one pwrite, in the page cache when it returns, is
    enough for a process killed right after it."""
    db = tmp_path / "gw.db"
    r = subprocess.run([sys.executable, "-c", _KILLED_AFTER_WRITE, str(db)], cwd=REPO,
                       env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=30)
    assert r.returncode == -signal.SIGKILL
    with Store(db) as s:
        assert [(m.action, m.written) for m in s.in_flight()] == [("tx_stop", True)]


def test_schema_1_database_is_migrated(tmp_path):
    """A state.db of schema 1 (before the send states) opens: its queue is kept, the new
    columns added, schema 2 recorded; a newer schema is refused."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            INSERT INTO meta VALUES ('schema', '1');
            CREATE TABLE outbound (id INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT NOT NULL,
                payload TEXT NOT NULL, evse_id INTEGER, record_id INTEGER,
                created_unix_ms INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
                last_attempt_unix_ms INTEGER, sent_unix_ms INTEGER, discarded TEXT);
            INSERT INTO outbound (action, payload, evse_id, created_unix_ms, attempts)
                VALUES ('tx_start', '{"n": 1}', 1, 0, 2);
        """)
    with Store(path) as s:
        (m,) = s.peek(5)
        assert (m.action, m.payload, m.attempts, m.refusals) == ("tx_start", {"n": 1}, 2, 0)
        assert s.begin_send(m.id) == 3 and s.get_meta("schema") == 2
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    with pytest.raises(RuntimeError, match="schema 99"):
        Store(path)


def test_generations_count_per_evse_kind_entity_and_survive_reopen(tmp_path):
    path = tmp_path / "gw.db"
    with Store(path) as s:
        assert s.next_generation(1, lm.LIMIT, lm.SRC_CSMS, {"limit_ma": 6000}) == 1
        assert s.next_generation(1, lm.LIMIT, lm.SRC_CSMS, {"limit_ma": 7000}) == 2
        assert s.next_generation(1, lm.SCHEDULE, lm.SRC_CSMS, {"periods": []}) == 1
        assert s.next_generation(2, lm.LIMIT, lm.SRC_CSMS, None) == 1
        s.set_meta("link.1.command_tag", 42)
    with Store(path) as s:
        reqs = {(r.kind, r.entity): r for r in s.requests(1)}
        assert reqs[(lm.LIMIT, lm.SRC_CSMS)].generation == 2
        assert reqs[(lm.LIMIT, lm.SRC_CSMS)].body == {"limit_ma": 7000}
        assert s.requests(2)[0].body is None
        assert s.get_meta("link.1.command_tag") == 42 and s.get_meta("nope", 0) == 0
        s._db.execute("UPDATE generations SET generation = 4294967295 WHERE evse_id = 2")
        assert s.next_generation(2, lm.LIMIT, lm.SRC_CSMS, None) == 0  # u32 wraps


def test_store_is_thread_safe(store):
    def worker(evse):
        for seq in range(1, 51):
            assert store.commit_record(evse, 0, seq, lm.EVENT, ev(seq)) is not None
            store.enqueue("MeterValues", {"evse": evse, "seq": seq}, evse_id=evse)

    threads = [threading.Thread(target=worker, args=(e,)) for e in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    for e in (1, 2, 3):
        assert [r.seq for r in store.records(e)] == list(range(1, 51))
    assert store.pending_count() == 150


_WRITER = r"""
import sys
from gateway.store import Store
from protocols import link_messages as lm
s = Store(sys.argv[1])
for r in s.records(unprocessed=True, limit=10**9):  # what the last run left half done
    s.mark_processed(r.id, [("MeterValues", {"seq": r.seq})])
while True:
    cur = s.cursor(1)
    seq = cur.last_seq + 1
    r = s.commit_record(1, cur.epoch, seq, lm.EVENT,
                        {"seq": seq, "unix_s": seq, "code": 8, "a": 0, "b": 0, "c": seq, "d": 0})
    s.mark_processed(r.id, [("MeterValues", {"seq": seq})])
    s.next_generation(1, lm.LIMIT, 16, {"limit_ma": seq})
    print(seq, flush=True)
"""


def test_kill_9_at_random_moments_loses_and_doubles_nothing(tmp_path):
    db = tmp_path / "gw.db"
    rng = random.Random(6)
    reported = []
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(db)], cwd=REPO,
                                stdout=subprocess.PIPE, text=True,
                                env=dict(os.environ, PYTHONPATH=str(REPO)))
        lines = []
        reader = threading.Thread(target=lambda p=proc, out=lines: out.extend(p.stdout))
        reader.start()
        deadline = time.monotonic() + 10
        while not lines and time.monotonic() < deadline:  # started writing
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        reader.join(5)
        proc.stdout.close()
        reported += [int(x) for x in lines]
    assert len(reported) > 6, "the writer never got going"
    with Store(db) as s:
        assert s._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        records = s.records(1, limit=10**9)
        seqs = [r.seq for r in records]
        assert seqs == list(range(1, len(seqs) + 1)), "a gap or a duplicate"
        assert set(reported) <= set(seqs), "a record reported committed was lost"
        # each record's message queued exactly once, in record order (the last record
        # may be committed and not yet processed when the final kill came)
        queued = [m.payload["seq"] for m in s.peek(10**9)]
        assert queued == [r.seq for r in records if r.processed]
        assert queued == seqs or queued == seqs[:-1]
        assert s.requests(1)[0].generation >= len(reported)


def test_a_message_the_adapter_cannot_make_is_discarded_not_stuck(tmp_path):
    """gateway/csms_connection.py: a queued message whose sending raises a bug (here a payload
    without its connector) is discarded with the reason and the next one goes; the queue is
    never stuck behind it."""
    import asyncio

    from gateway.csms_connection import CsmsConnection

    store = Store(tmp_path / "state.db")
    bad = store.enqueue("tx_stop", {"no_connector": True}, 1)
    good = store.enqueue("tx_stop", {"connector_id": 1}, 1)
    sent = []

    class Station:
        def __init__(self):
            self.store = store
            self.queue_changed = asyncio.Event()

    class Adapter(CsmsConnection):
        async def send_queued(self, cp, m):
            sent.append(m.payload["connector_id"])
            return True, None

    async def run():
        a = Adapter("ws://x", Station(), backoff=None)
        task = asyncio.create_task(a.sender(None))
        for _ in range(200):
            if sent:
                break
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(run())
    assert sent == [1]
    assert store.peek() == []
    row = store._read("SELECT discarded FROM outbound WHERE id = ?", (bad,))[0][0]
    assert "cannot be sent" in row and "connector_id" in row
    assert store._read("SELECT sent_unix_ms IS NOT NULL FROM outbound WHERE id = ?",
                       (good,))[0][0] == 1
    store.close()


def test_uk_s1_state_db_readable_by_its_owner_only(tmp_path):
    """UK-S1 (SI 2021/1467 Schedule 1 para 1, personal data): the store holds the owner's
    charging history, so state.db and SQLite's -wal / -shm files are mode 0600 whatever the
    umask, and a state.db left world-readable by an older gateway is made 0600 when opened."""
    old_umask = os.umask(0o022)
    try:
        store = Store(tmp_path / "state.db")
        store.set_meta("k", "v")
        modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
        store.close()
        assert {"state.db", "state.db-wal", "state.db-shm"} <= set(modes)
        assert set(modes.values()) == {0o600}, modes
        old = tmp_path / "old.db"
        sqlite3.connect(old).close()
        os.chmod(old, 0o644)
        Store(old).close()
        assert old.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old_umask)
