"""SQLite opened for durability (WAL, synchronous=FULL), driven from one worker thread.

Every write runs on a single dedicated thread, so the event loop never blocks on
an fsync and the writing connection is never shared between threads. Point
reads on the hot path use a second, read-only connection inline (``lookup``).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from gateway.errors import HostgateError

T = TypeVar("T")

_SCHEMA = [
    # version 1
    """
    CREATE TABLE disclosures (
        business_id TEXT NOT NULL,
        revision INTEGER NOT NULL,
        fingerprint TEXT NOT NULL,
        hosting_fingerprint TEXT NOT NULL,
        document BLOB NOT NULL,
        jws TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (business_id, revision)
    ) WITHOUT ROWID;
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        business_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        exchange TEXT NOT NULL,
        routing_key TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        headers TEXT NOT NULL,
        body BLOB NOT NULL,
        cursor TEXT,
        created_at REAL NOT NULL
    );
    CREATE TABLE chats (
        business_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        opened_at REAL NOT NULL,
        last_seen REAL NOT NULL,
        PRIMARY KEY (business_id, user_id)
    ) WITHOUT ROWID;
    """,
    # version 2: the network bridge
    """
    CREATE TABLE messages (
        business_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        direction TEXT NOT NULL,
        status TEXT NOT NULL,
        revision INTEGER NOT NULL,
        failure TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (business_id, message_id)
    ) WITHOUT ROWID;
    CREATE TABLE message_events (
        business_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT,
        at REAL NOT NULL
    );
    CREATE INDEX message_events_by_message ON message_events (business_id, message_id);
    CREATE TABLE idempotency (
        business_id TEXT NOT NULL,
        key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        status INTEGER NOT NULL,
        response BLOB NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (business_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE processed_events (
        event_id TEXT PRIMARY KEY,
        at REAL NOT NULL
    ) WITHOUT ROWID;
    """,
    # version 3: users' rights
    """
    CREATE TABLE consents (
        business_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        decision TEXT NOT NULL,
        decided_at REAL NOT NULL,
        recorded_at REAL NOT NULL,
        PRIMARY KEY (business_id, user_id)
    ) WITHOUT ROWID;
    CREATE TABLE notices_sent (
        business_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        revision INTEGER NOT NULL,
        reason TEXT NOT NULL,
        notice_id TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX notices_sent_by_user ON notices_sent (user_id);
    CREATE INDEX notices_sent_by_business ON notices_sent (business_id, at);
    CREATE INDEX messages_by_user ON messages (user_id);
    CREATE INDEX messages_by_age ON messages (business_id, created_at);
    CREATE INDEX chats_by_user ON chats (user_id);
    """,
    # version 4: endpoint health
    """
    CREATE TABLE endpoint_health (
        business_id TEXT PRIMARY KEY,
        failing_since REAL,
        disabled_at REAL,
        reason TEXT
    ) WITHOUT ROWID;
    """,
    # version 5: audit records staged with the work they record, drained into the trail in order
    """
    CREATE TABLE audit_staged (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        record BLOB NOT NULL
    );
    """,
]


class StoreError(HostgateError):
    """The embedded store could not be opened or written."""

    code = "store_error"


class _Batch(threading.local):
    """The audit records the transaction now running on the store's thread must wait for."""

    def __init__(self) -> None:
        self.pending: list[Future[int]] | None = None


class SqliteStore:
    """One SQLite database file and the single thread that touches it.

    ``transact`` is the hot path: work from concurrent callers is run in one
    transaction (each in its own savepoint), with one COMMIT and one fsync for
    all of it, and the audit records the work deferred are awaited together
    (one fsync of the trail) just before that COMMIT.

    ``lookup`` runs point reads inline with a second, read-only connection:
    under WAL it sees every committed transaction and never waits behind a
    COMMIT's fsync, so hot-path lookups do not queue behind writes.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._reader: sqlite3.Connection | None = None
        self._db: sqlite3.Connection | None = None
        self._queue: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._draining = False
        self._batch = _Batch()

    async def open(self) -> None:
        """Create the file and schema if needed."""
        await self.run(self._open)

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            # Deleted outbox rows (opaque payloads on their way out) are zeroed, not left in free pages.
            db.execute("PRAGMA secure_delete=ON")
            db.execute("PRAGMA busy_timeout=5000")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(_SCHEMA[version:], start=version + 1):
                db.executescript(f"BEGIN;{script};PRAGMA user_version={number};COMMIT;")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc
        self._db = db

    @property
    def db(self) -> sqlite3.Connection:
        """The connection; only for functions passed to ``run``."""
        if self._db is None:
            raise StoreError("store is not open")
        return self._db

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the store's thread and return its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn)

    def lookup(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read-only ``fn`` right here, on the caller's thread; it sees everything committed.

        For point reads on the hot path (a primary-key lookup takes microseconds): a hop to a
        thread costs more than the read itself, and under WAL a reader never waits for the
        writer's COMMIT. Scans and anything slow belong on the store's thread (``run``).
        """
        if self._db is None:
            raise StoreError("store is not open")
        if self._reader is None:
            try:
                reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                reader.execute("PRAGMA query_only=ON")
                # A WAL reader is only ever busy while a crashed writer's WAL is recovered.
                reader.execute("PRAGMA busy_timeout=1000")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open store {self.path} for reading: {exc}") from exc
            self._reader = reader
        try:
            return fn(self._reader)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read store {self.path}: {exc}") from exc

    def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` inside BEGIN IMMEDIATE ... COMMIT (on the store's thread)."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        self._batch.pending = []
        try:
            result = fn(db)
            for record in self._batch.pending:
                record.result()
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            self._batch.pending = None
        db.execute("COMMIT")
        return result

    def defer(self, record: Future[int]) -> None:
        """Hold the COMMIT of the running transaction until ``record`` (an audit record) is on disk."""
        if self._batch.pending is None:
            record.result()
        else:
            self._batch.pending.append(record)

    async def transact(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in a transaction shared with concurrent callers (group commit); its own savepoint."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((fn, future))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                outcomes = await self.run(partial(self._run_batch, [fn for fn, _ in batch]))
                for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        finally:
            self._draining = False

    def _run_batch(self, work: list[Callable[[sqlite3.Connection], Any]]) -> list[tuple[bool, Any]]:
        db = self.db
        outcomes: list[tuple[bool, Any]] = []
        self._batch.pending = []
        try:
            db.execute("BEGIN IMMEDIATE")
            for index, fn in enumerate(work):
                db.execute(f"SAVEPOINT s{index}")
                try:
                    outcomes.append((True, fn(db)))
                except Exception as exc:  # noqa: BLE001 -- handed to that caller; the others go on
                    db.execute(f"ROLLBACK TO s{index}")
                    outcomes.append((False, exc))
                db.execute(f"RELEASE s{index}")
            for record in self._batch.pending:
                record.result()
            db.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 -- the batch failed as a whole: every caller hears of it
            if db.in_transaction:
                db.execute("ROLLBACK")
            return [(False, exc)] * len(work)
        finally:
            self._batch.pending = None
        return outcomes

    async def close(self) -> None:
        """Close the connections and stop the threads."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._db is not None:
            await self.run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)
