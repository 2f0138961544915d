"""SQLite opened for durability (WAL, synchronous=FULL), driven from one worker thread.

Every call runs on a single dedicated thread, so the event loop never blocks on
an fsync and the connection is never shared between threads.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

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
]


class StoreError(HostgateError):
    """The embedded store could not be opened or written."""

    code = "store_error"


class SqliteStore:
    """One SQLite database file and the single thread that touches it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._db: sqlite3.Connection | None = None

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

    def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` inside BEGIN IMMEDIATE ... COMMIT (on the store's thread)."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    async def close(self) -> None:
        """Close the connection and stop the thread."""
        if self._db is not None:
            await self.run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)
