"""The gateway's durable state in one SQLite file (docs/gateway_link.md).

- firmware records (EVENT and SESSION, protocols/LINK.md §5.1) per EVSE, each committed
  exactly once: a per-EVSE cursor (epoch, last_seq) is moved in the same transaction that
  inserts the record, and (evse_id, epoch, seq) is unique;
- an outbound FIFO of transaction messages for the CSMS (enqueue, peek in order, count
  attempts, mark sent or discard), filled by the OCPP layer, with the state of the one
  being sent: `begin_send` (committed before its frame is written), `mark_written` (right
  after the frame went to the socket), `mark_answered` (right when its answer arrived),
  `complete` (the answer, and what it changes, in one transaction) or `refused` /
  `abandon_sends`; `in_flight` lists what a killed process left in between (docs/ocpp.md
  "Exactly once and kill -9");
- the link's generation counters per (EVSE, kind, entity) with the body last asked
  (LINK.md §5.2), re-sent after every HELLO exchange;
- small key/value metadata.

The marks of the message being sent, written right after its frame went to the socket
and right after its answer arrived (before the answer is validated and committed), are
not SQLite commits: each is one pwrite of a small fixed-size JSON record into the side
file `<db>-sending`, from the event loop (a commit waits for the lock and an fsync:
milliseconds in which a kill would leave a sent frame or a received answer unmarked). A
single write of one record is in the page cache when it returns, so it survives a kill
-9; it is not fsynced (after a power cut it may be gone, and the message is sent again).

Durability: WAL with synchronous=FULL. Every operation is one transaction, so a kill -9
at any moment leaves each operation either done or not done. FULL (not NORMAL) because an
EVENT_ACK tells the firmware to delete its copy of a record: with NORMAL a WAL commit
survives a process crash but can roll back on a power cut or OS crash, and the acked
record would be gone from both sides. One fsync per commit is cheap at event rates.

The methods are synchronous and thread-safe (one connection behind a lock); asyncio code
calls them through `await store.aio(store.method, ...)`, which runs them on the store's own
worker thread so the event loop never waits for an fsync.
"""

import asyncio
import dataclasses
import json
import os
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
    evse_id INTEGER PRIMARY KEY,
    epoch INTEGER NOT NULL,      -- numbering epochs of the firmware's record sequence
    last_seq INTEGER NOT NULL    -- last seq committed in this epoch, 0 = none yet
);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    evse_id INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    mtype INTEGER NOT NULL,      -- protocols.link_messages EVENT or SESSION
    code INTEGER NOT NULL,       -- EV_* for an EVENT, 0 for a SESSION
    unix_s INTEGER NOT NULL,     -- EVENT unix_s, SESSION stop_unix_s (0 = clock not valid)
    fields TEXT NOT NULL,        -- JSON of every decoded field
    received_unix_ms INTEGER NOT NULL,
    processed INTEGER NOT NULL DEFAULT 0,
    UNIQUE (evse_id, epoch, seq)
);
CREATE INDEX IF NOT EXISTS records_unprocessed ON records (id) WHERE processed = 0;
CREATE TABLE IF NOT EXISTS outbound (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,       -- JSON
    evse_id INTEGER,
    record_id INTEGER,           -- the firmware record it was made from, if any
    created_unix_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_attempt_unix_ms INTEGER,
    sent_unix_ms INTEGER,
    discarded TEXT,              -- why it was given up, NULL = not discarded
    sending INTEGER NOT NULL DEFAULT 0,   -- 1: a send began, its outcome is not stored
    refusals INTEGER NOT NULL DEFAULT 0,  -- CallErrors the CSMS answered it with
    note TEXT                    -- why it counts as sent without an answer
);
CREATE INDEX IF NOT EXISTS outbound_pending ON outbound (id)
    WHERE sent_unix_ms IS NULL AND discarded IS NULL;
CREATE TABLE IF NOT EXISTS generations (
    evse_id INTEGER NOT NULL,
    kind INTEGER NOT NULL,       -- LIMIT or SCHEDULE message type
    entity INTEGER NOT NULL,     -- SRC_CSMS, SRC_HEMS, ...
    generation INTEGER NOT NULL, -- u32, latest wins (LINK.md §5.2)
    body TEXT,                   -- JSON of what was last asked, NULL = nothing
    updated_unix_ms INTEGER NOT NULL,
    PRIMARY KEY (evse_id, kind, entity)
);
"""

_MIGRATIONS = {  # from schema N to N + 1
    1: ("ALTER TABLE outbound ADD COLUMN sending INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE outbound ADD COLUMN refusals INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE outbound ADD COLUMN note TEXT"),
}


@dataclass(frozen=True)
class Cursor:
    epoch: int
    last_seq: int  # 0: nothing committed in this epoch


@dataclass(frozen=True)
class Record:
    id: int
    evse_id: int
    epoch: int
    seq: int
    mtype: int
    code: int
    unix_s: int
    fields: dict
    received_unix_ms: int
    processed: bool


@dataclass(frozen=True)
class Outbound:
    id: int
    action: str
    payload: object
    evse_id: int | None
    record_id: int | None
    created_unix_ms: int
    attempts: int
    last_attempt_unix_ms: int | None
    refusals: int = 0
    written: bool = False  # in_flight() only: its frame had gone to the socket
    answer: object = None  # in_flight() only: the CSMS's answer payload, if it came


@dataclass(frozen=True)
class Request:
    kind: int
    entity: int
    generation: int
    body: object  # None: only the counter is known


def _now_ms():
    return time.time_ns() // 1_000_000


def _record(row):
    return Record(row[0], row[1], row[2], row[3], row[4], row[5], row[6], json.loads(row[7]),
                  row[8], bool(row[9]))


_RECORD_COLS = ("id, evse_id, epoch, seq, mtype, code, unix_s, fields, received_unix_ms, "
                "processed")


def _owner_only(path):
    """The database holds the owner's charging history and idTokens (personal data, SI
    2021/1467 Schedule 1 para 1): readable by the gateway's user only. SQLite gives its -wal
    and -shm files the database file's mode."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)


class Store:
    """One SQLite file; see the module docstring. `Store(":memory:")` for throwaway use."""

    def __init__(self, path):
        self.path = str(path)
        if self.path != ":memory:":
            _owner_only(self.path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        with self._tx() as db:
            has_meta = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND "
                                  "name = 'meta'").fetchone()
            row = has_meta and db.execute(
                "SELECT value FROM meta WHERE key = 'schema'").fetchone()
            version = int(row[0]) if row else SCHEMA_VERSION
            if version != SCHEMA_VERSION and version not in _MIGRATIONS:
                raise RuntimeError("%s: schema %s, this gateway reads %d"
                                   % (self.path, version, SCHEMA_VERSION))
            while version < SCHEMA_VERSION:
                for sql in _MIGRATIONS[version]:
                    db.execute(sql)
                version += 1
            for sql in _SCHEMA.split(";"):
                if sql.strip():
                    db.execute(sql)
            db.execute("INSERT INTO meta (key, value) VALUES ('schema', ?) ON CONFLICT (key) "
                       "DO UPDATE SET value = excluded.value", (str(SCHEMA_VERSION),))
        self._executor = None
        self._mark_fd = None  # the side file of the written mark; None: in memory
        self._mark = None
        if self.path != ":memory:" and not self.path.startswith("file:"):
            self._mark_fd = os.open(self.path + "-sending", os.O_RDWR | os.O_CREAT, 0o600)

    # --- plumbing ---------------------------------------------------------------------

    class _Tx:
        def __init__(self, store):
            self.store = store

        def __enter__(self):
            self.store._lock.acquire()
            try:
                self.store._db.execute("BEGIN IMMEDIATE")
            except BaseException:
                self.store._lock.release()
                raise
            return self.store._db

        def __exit__(self, exc_type, exc, tb):
            try:
                self.store._db.execute("ROLLBACK" if exc_type else "COMMIT")
            finally:
                self.store._lock.release()
            return False

    def _tx(self):
        """One transaction under the lock: committed on success, rolled back on error."""
        return Store._Tx(self)

    def _read(self, sql, args=()):
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    async def aio(self, fn, *args, **kwargs):
        """Run fn(*args, **kwargs) (a method of this store) on the store's worker thread."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args, **kwargs))

    def close(self):
        if self._mark_fd is not None:
            os.close(self._mark_fd)
            self._mark_fd = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        with self._lock:
            self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # --- metadata ---------------------------------------------------------------------

    def get_meta(self, key, default=None):
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def set_meta(self, key, value):
        with self._tx() as db:
            self._set_meta(db, {key: value})

    def set_meta_many(self, meta):
        """meta as _set_meta's, in one transaction."""
        with self._tx() as db:
            self._set_meta(db, meta)

    @staticmethod
    def _set_meta(db, meta):
        """meta: {key: value, or a function old value -> new value}, in the caller's
        transaction (so a change of state commits with what it belongs to)."""
        for key, value in (meta or {}).items():
            if callable(value):
                row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
                value = value(json.loads(row[0]) if row else None)
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                       (key, json.dumps(value)))

    # --- firmware records (LINK.md §5.1) ------------------------------------------------

    def cursor(self, evse_id):
        """Where the record sequence of this EVSE stands: Cursor(epoch, last_seq)."""
        rows = self._read("SELECT epoch, last_seq FROM cursors WHERE evse_id = ?", (evse_id,))
        return Cursor(rows[0][0], rows[0][1]) if rows else Cursor(0, 0)

    def new_epoch(self, evse_id):
        """The firmware's numbering restarted (log reset, controller replaced): later
        records are a new sequence. Returns the new Cursor (epoch + 1, last_seq 0)."""
        with self._tx() as db:
            row = db.execute("SELECT epoch FROM cursors WHERE evse_id = ?",
                             (evse_id,)).fetchone()
            epoch = row[0] + 1 if row else 1
            db.execute("INSERT INTO cursors (evse_id, epoch, last_seq) VALUES (?, ?, 0) "
                       "ON CONFLICT (evse_id) DO UPDATE SET epoch = excluded.epoch, "
                       "last_seq = 0", (evse_id, epoch))
        return Cursor(epoch, 0)

    def commit_record(self, evse_id, epoch, seq, mtype, fields, received_unix_ms=None):
        """Insert one record and move the cursor to it, in one transaction. Refused (None)
        unless epoch is the current one and seq is above last_seq: a record is never stored
        twice. Returns the new Record."""
        code = fields.get("code", 0)
        unix_s = fields.get("unix_s", fields.get("stop_unix_s", 0))
        received = _now_ms() if received_unix_ms is None else received_unix_ms
        body = json.dumps(fields, sort_keys=True)
        with self._tx() as db:
            row = db.execute("SELECT epoch, last_seq FROM cursors WHERE evse_id = ?",
                             (evse_id,)).fetchone()
            cur_epoch, last_seq = row if row else (0, 0)
            if epoch != cur_epoch or seq <= last_seq:
                return None
            rid = db.execute(
                "INSERT INTO records (evse_id, epoch, seq, mtype, code, unix_s, fields, "
                "received_unix_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (evse_id, epoch, seq, mtype, code, unix_s, body, received)).lastrowid
            db.execute("INSERT INTO cursors (evse_id, epoch, last_seq) VALUES (?, ?, ?) "
                       "ON CONFLICT (evse_id) DO UPDATE SET last_seq = excluded.last_seq",
                       (evse_id, epoch, seq))
        return Record(rid, evse_id, epoch, seq, mtype, code, unix_s, json.loads(body),
                      received, False)

    def record_at(self, evse_id, epoch, seq):
        rows = self._read("SELECT %s FROM records WHERE evse_id = ? AND epoch = ? AND seq = ?"
                          % _RECORD_COLS, (evse_id, epoch, seq))
        return _record(rows[0]) if rows else None

    def records(self, evse_id=None, unprocessed=False, after_id=0, limit=1000):
        """Records in commit order (by id), optionally of one EVSE / not yet processed."""
        sql = "SELECT %s FROM records WHERE id > ?" % _RECORD_COLS
        args = [after_id]
        if evse_id is not None:
            sql += " AND evse_id = ?"
            args.append(evse_id)
        if unprocessed:
            sql += " AND processed = 0"
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        return [_record(r) for r in self._read(sql, args)]

    def mark_processed(self, record_id, enqueue=(), meta=None):
        """The OCPP layer has dealt with a record: mark it, enqueue the messages made
        from it and set the metadata it changes (meta, as in _set_meta) in ONE
        transaction, so a crash never loses or doubles them. enqueue is a list of
        (action, payload) or (action, payload, evse_id). Returns their ids ([] if the
        record was already processed: nothing is enqueued or set twice)."""
        now = _now_ms()
        with self._tx() as db:
            row = db.execute("SELECT processed, evse_id FROM records WHERE id = ?",
                             (record_id,)).fetchone()
            if row is None:
                raise KeyError("no record %d" % record_id)
            if row[0]:
                return []
            db.execute("UPDATE records SET processed = 1 WHERE id = ?", (record_id,))
            self._set_meta(db, meta)
            ids = []
            for item in enqueue:
                action, payload = item[0], item[1]
                evse_id = item[2] if len(item) > 2 else row[1]
                ids.append(self._insert_outbound(db, action, payload, evse_id, record_id, now))
            return ids

    # --- outbound FIFO for the CSMS -----------------------------------------------------

    @staticmethod
    def _insert_outbound(db, action, payload, evse_id, record_id, now):
        return db.execute(
            "INSERT INTO outbound (action, payload, evse_id, record_id, created_unix_ms) "
            "VALUES (?, ?, ?, ?, ?)",
            (action, json.dumps(payload, sort_keys=True), evse_id, record_id, now)).lastrowid

    def enqueue(self, action, payload, evse_id=None, record_id=None, meta=None):
        """Append a message (payload: JSON-serialisable) to the FIFO, and set meta (as in
        _set_meta) in the same transaction; returns its id."""
        with self._tx() as db:
            self._set_meta(db, meta)
            return self._insert_outbound(db, action, payload, evse_id, record_id, _now_ms())

    _OUTBOUND_COLS = ("id, action, payload, evse_id, record_id, created_unix_ms, attempts, "
                      "last_attempt_unix_ms, refusals")

    def _outbound(self, where, args):
        rows = self._read("SELECT %s FROM outbound WHERE %s" % (self._OUTBOUND_COLS, where),
                          args)
        return [Outbound(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6], r[7], r[8])
                for r in rows]

    def peek(self, limit=1):
        """The oldest messages neither sent nor discarded, in enqueue order."""
        return self._outbound("sent_unix_ms IS NULL AND discarded IS NULL ORDER BY id "
                              "LIMIT ?", (limit,))

    def record_attempt(self, msg_id):
        """Count one send attempt (before sending it); returns the attempts so far."""
        with self._tx() as db:
            db.execute("UPDATE outbound SET attempts = attempts + 1, last_attempt_unix_ms = ? "
                       "WHERE id = ?", (_now_ms(), msg_id))
            row = db.execute("SELECT attempts FROM outbound WHERE id = ?", (msg_id,)).fetchone()
        if row is None:
            raise KeyError("no outbound message %d" % msg_id)
        return row[0]

    def mark_sent(self, msg_id):
        """The CSMS answered it: it leaves the queue. Idempotent."""
        self.complete(msg_id)

    # The send of one message, in the states a kill -9 can leave it in (docs/ocpp.md):
    # begin_send -> mark_written -> complete | refused | abandon_sends.

    _MARK_SIZE = 512  # one record, well inside a page: a single write, never torn

    def _set_mark(self, mark):
        """mark: None, or {"id": msg_id, "written": 1[, "answer": payload]}."""
        if self._mark_fd is None:
            self._mark = mark
            return
        data = json.dumps(mark, separators=(",", ":")).encode()
        if len(data) >= self._MARK_SIZE:  # an answer too big to keep: only "written"
            data = json.dumps({"id": mark["id"], "written": 1}).encode()
        os.pwrite(self._mark_fd, data.ljust(self._MARK_SIZE - 1) + b"\n", 0)

    def _get_mark(self):
        if self._mark_fd is None:
            return self._mark
        try:
            mark = json.loads(os.pread(self._mark_fd, self._MARK_SIZE, 0) or b"null")
        except ValueError:
            return None
        return mark if isinstance(mark, dict) and isinstance(mark.get("id"), int) else None

    def begin_send(self, msg_id):
        """Its frame is about to be written: count the attempt, mark it sending and not
        written; returns the attempts so far."""
        self._set_mark(None)
        with self._tx() as db:
            n = db.execute("UPDATE outbound SET attempts = attempts + 1, sending = 1, "
                           "last_attempt_unix_ms = ? WHERE id = ?",
                           (_now_ms(), msg_id)).rowcount
            if n == 0:
                raise KeyError("no outbound message %d" % msg_id)
            return db.execute("SELECT attempts FROM outbound WHERE id = ?",
                              (msg_id,)).fetchone()[0]

    def mark_written(self, msg_id):
        """Its frame went to the CSMS connection's socket: call it right after the write,
        from any thread (one pwrite into the side file, no lock, no fsync)."""
        self._set_mark({"id": msg_id, "written": 1})

    def mark_answered(self, msg_id, answer):
        """Its answer (the CALLRESULT payload, as received) arrived: call it at once, before
        the answer is validated and committed with `complete` (like mark_written)."""
        self._set_mark({"id": msg_id, "written": 1, "answer": answer})

    def complete(self, msg_id, meta=None, note=None):
        """It counts as delivered (the CSMS answered it, or note says why without an
        answer): it leaves the queue, and meta (as in _set_meta: e.g. the transactionId
        the answer carried) is set in the same transaction. Idempotent."""
        with self._tx() as db:
            self._set_meta(db, meta)
            db.execute("UPDATE outbound SET sent_unix_ms = ?, sending = 0, note = ? "
                       "WHERE id = ? AND sent_unix_ms IS NULL", (_now_ms(), note, msg_id))

    def last_answered_unix_ms(self):
        """When the CSMS last answered a queued message (not one a restart took as
        delivered without an answer), or None."""
        rows = self._read("SELECT MAX(sent_unix_ms) FROM outbound WHERE note IS NULL")
        return rows[0][0] if rows else None

    def refused(self, msg_id):
        """The CSMS answered it with a CallError: count it; returns the refusals so far."""
        with self._tx() as db:
            db.execute("UPDATE outbound SET refusals = refusals + 1, sending = 0 "
                       "WHERE id = ?", (msg_id,))
            row = db.execute("SELECT refusals FROM outbound WHERE id = ?",
                             (msg_id,)).fetchone()
        if row is None:
            raise KeyError("no outbound message %d" % msg_id)
        return row[0]

    def abandon_sends(self):
        """The connection ended with no answer to what was being sent: it goes again on
        the next connection. Returns how many."""
        self._set_mark(None)
        with self._tx() as db:
            return db.execute("UPDATE outbound SET sending = 0 WHERE sending = 1 "
                              "AND sent_unix_ms IS NULL").rowcount

    def in_flight(self):
        """Messages a send began for and whose outcome was never stored (a process killed
        in between), with `written` (its frame had gone to the socket) and `answer` (the
        CSMS's answer had arrived); in queue order."""
        mark = self._get_mark() or {}
        return [dataclasses.replace(m, written=bool(mark.get("written")),
                                    answer=mark.get("answer")) if m.id == mark.get("id")
                else m
                for m in self._outbound("sending = 1 AND sent_unix_ms IS NULL AND "
                                        "discarded IS NULL ORDER BY id", ())]

    def update_payload(self, msg_id, payload):
        """Rewrite a queued message (e.g. the transactionId the CSMS gave later)."""
        with self._tx() as db:
            db.execute("UPDATE outbound SET payload = ? WHERE id = ? AND sent_unix_ms IS NULL",
                       (json.dumps(payload, sort_keys=True), msg_id))

    def discard(self, msg_id, reason, meta=None):
        """Give a message up (e.g. TransactionMessageAttempts exhausted), with why; meta (as
        in _set_meta) is set in the same transaction."""
        with self._tx() as db:
            self._set_meta(db, meta)
            db.execute("UPDATE outbound SET discarded = ?, sending = 0 WHERE id = ? AND "
                       "sent_unix_ms IS NULL", (reason, msg_id))

    def pending_count(self):
        return self._read("SELECT COUNT(*) FROM outbound WHERE sent_unix_ms IS NULL AND "
                          "discarded IS NULL")[0][0]

    def pending_actions(self, evse_id=None):
        """The actions of the messages waiting to be sent, in order (of one EVSE)."""
        where = "" if evse_id is None else " AND evse_id = %d" % int(evse_id)
        return [r[0] for r in self._read(
            "SELECT action FROM outbound WHERE sent_unix_ms IS NULL AND discarded IS NULL"
            + where + " ORDER BY id")]

    def purge_sent(self, older_than_ms):
        """Delete sent or discarded messages finished before older_than_ms (unix ms)."""
        with self._tx() as db:
            return db.execute(
                "DELETE FROM outbound WHERE (sent_unix_ms IS NOT NULL AND sent_unix_ms < ?) "
                "OR (discarded IS NOT NULL AND created_unix_ms < ?)",
                (older_than_ms, older_than_ms)).rowcount

    # --- link generations (LINK.md §5.2) -------------------------------------------------

    def next_generation(self, evse_id, kind, entity, body):
        """Count the next generation of (kind, entity) and remember body as what it asks,
        in one transaction; returns the generation (u32, 1 first, wraps)."""
        with self._tx() as db:
            row = db.execute("SELECT generation FROM generations WHERE evse_id = ? AND "
                             "kind = ? AND entity = ?", (evse_id, kind, entity)).fetchone()
            gen = ((row[0] if row else 0) + 1) & 0xFFFFFFFF
            db.execute(
                "INSERT INTO generations (evse_id, kind, entity, generation, body, "
                "updated_unix_ms) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (evse_id, kind, entity) "
                "DO UPDATE SET generation = excluded.generation, body = excluded.body, "
                "updated_unix_ms = excluded.updated_unix_ms",
                (evse_id, kind, entity, gen, json.dumps(body, sort_keys=True), _now_ms()))
        return gen

    def requests(self, evse_id):
        """Every (kind, entity) asked of this EVSE with its generation and body."""
        rows = self._read("SELECT kind, entity, generation, body FROM generations WHERE "
                          "evse_id = ? ORDER BY kind, entity", (evse_id,))
        return [Request(r[0], r[1], r[2], json.loads(r[3]) if r[3] else None) for r in rows]
