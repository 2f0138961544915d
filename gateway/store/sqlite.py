"""The embedded engine: one SQLite file (WAL, synchronous=FULL), group commit, no hand-offs per statement.

A unit's statements run inline on the event loop: a statement on the hot path takes
microseconds, far less than a hop to a thread. Only what can wait on the disk —
``BEGIN IMMEDIATE`` (another process may hold the write lock) and ``COMMIT`` (an
fsync) — runs on the store's one thread. Units take turns on the one connection
(an asyncio lock, FIFO); each is a savepoint inside a transaction shared with the
units that came before the next COMMIT, so one fsync covers all of them, and no
unit returns before the COMMIT that holds its writes. ``read()`` uses a second,
read-only connection that sees only what is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

from gateway.errors import StoreConflict, StoreError
from gateway.store.sql import Row
from gateway.store.sqlite_checkpoint import SAFETY_PAGES, WalCheckpointer
from gateway.store.sqlite_schema import MIGRATIONS
from gateway.store.unit import SqlUnit

T = TypeVar("T")

ENGINE = "sqlite"
# How long the writer waits for another process's write lock before the unit fails.
BUSY_TIMEOUT_MS = 5000


def _translate(exc: sqlite3.Error, path: Path) -> StoreError:
    if isinstance(exc, sqlite3.IntegrityError):
        return StoreConflict(f"store {path}: {exc}")
    return StoreError(f"store {path}: {exc}")


class _SqliteSql:
    """:class:`~gateway.store.sql.Sql` over one sqlite3 connection, run right here."""

    for_update = ""  # units take turns on the one connection: nothing to lock
    now = "((julianday('now') - 2440587.5) * 86400.0)"
    row_id = "rowid"

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self._path = path

    async def hold(self, name: str) -> None:
        """Nothing to take: a unit runs inside BEGIN IMMEDIATE, the file's one write lock."""
        del name

    async def execute(self, sql: str, args: Sequence[object] = ()) -> int:
        try:
            return self._db.execute(sql, args).rowcount
        except sqlite3.Error as exc:
            raise _translate(exc, self._path) from exc

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        try:
            self._db.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise _translate(exc, self._path) from exc

    async def one(self, sql: str, args: Sequence[object] = ()) -> Row | None:
        try:
            row: Row | None = self._db.execute(sql, args).fetchone()
        except sqlite3.Error as exc:
            raise _translate(exc, self._path) from exc
        return row

    async def all(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise _translate(exc, self._path) from exc


def _connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    # First of all: switching a new file to WAL takes a lock another process opening it may hold.
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    if read_only:
        db.execute("PRAGMA query_only=ON")
        # A WAL reader is only ever busy while a crashed writer's WAL is recovered.
        db.execute("PRAGMA busy_timeout=1000")
        return db
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    # Deleted outbox rows (opaque payloads on their way out) are zeroed, not left in free pages.
    db.execute("PRAGMA secure_delete=ON")
    return db


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Apply the versions this file lacks; refuse a file newer than this code."""
    # BEGIN IMMEDIATE takes the write lock first, so two processes cannot both migrate.
    db.execute("BEGIN IMMEDIATE")
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            raise StoreError(  # noqa: TRY301 -- raised inside the transaction so the ROLLBACK below runs
                f"store {path} has schema version {version}, newer than this hostgate knows"
                f" ({len(MIGRATIONS)}); upgrade hostgate or point [store] url elsewhere"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in _statements(script):
                db.execute(statement)
            db.execute(f"PRAGMA user_version={number}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _statements(script: str) -> list[str]:
    # Our scripts hold no ';' inside literals, so splitting on it is exact.
    return [s.strip() for s in script.split(";") if s.strip()]


def _begin_if_free(db: sqlite3.Connection) -> bool:
    """BEGIN IMMEDIATE right here if no other process holds the write lock; False if one does.

    Taking a free lock costs microseconds; a hop to the store's thread and back costs the
    event loop far more (it hands the GIL over twice). Only a busy lock is waited for there.
    """
    db.execute("PRAGMA busy_timeout=0")
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode == sqlite3.SQLITE_BUSY:
            return False
        raise
    finally:
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return True


def _commit(db: sqlite3.Connection, *, begin_again: bool) -> None:
    db.execute("COMMIT")
    if begin_again:
        db.execute("BEGIN IMMEDIATE")


class SqliteStore:
    """One SQLite database file; the default engine."""

    engine = ENGINE

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._db: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._unit: SqlUnit | None = None
        self._read_unit: SqlUnit | None = None
        self._turn = asyncio.Lock()
        self._in_transaction = False
        self._waiting: list[asyncio.Future[None]] = []
        self._committer: asyncio.Task[None] | None = None
        self._queued = 0  # units waiting for their turn (they share the next COMMIT)
        self._checkpointer = WalCheckpointer(path)

    async def open(self) -> None:
        """Create the file and its directory (owner only), and bring the schema up to date."""
        await self._on_thread(self._open)

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not self.path.exists():
                # Phone-number pseudonyms and consent decisions live here: owner only, whatever the umask.
                fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            db, reader = self._connect_both()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"cannot open store {self.path}: {exc.strerror}") from exc
        self._db, self._reader = db, reader
        self._unit = SqlUnit(_SqliteSql(db, self.path))
        self._read_unit = SqlUnit(_SqliteSql(reader, self.path))

    def _connect_both(self) -> tuple[sqlite3.Connection, sqlite3.Connection]:
        # Switching a new file to WAL answers "locked" at once, without the busy timeout, while
        # another process (a replica, the CLI) does the same: retry for a few seconds.
        deadline = time.monotonic() + 5
        while True:
            try:
                db = _connect(self.path, read_only=False)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
                continue
            try:
                migrate(db, self.path)
                # Every unit is a savepoint in the shared transaction, and SQLite keeps what a
                # savepoint would roll back in a sub-journal that spills to a temporary file past
                # 64 KiB: ~20 page writes a request at load. In memory, it costs no system call;
                # it is bounded by the group commit, as every unit is small (the retention sweep
                # deletes in batches). Set after the migrations, whose index builds may sort a
                # whole table in temporary storage.
                db.execute("PRAGMA temp_store=MEMORY")
                # The WAL is copied back by the store's checkpointer, beside the writer; the
                # writer's own checkpoint only bounds the WAL if that falls behind.
                db.execute(f"PRAGMA wal_autocheckpoint={SAFETY_PAGES}")
                return db, _connect(self.path, read_only=True)
            except BaseException:
                db.close()
                raise

    async def _take_turn(self) -> None:
        self._queued += 1
        try:
            await self._turn.acquire()
        finally:
            self._queued -= 1

    async def _on_thread(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _connection(self) -> tuple[sqlite3.Connection, SqlUnit]:
        if self._db is None or self._unit is None:
            raise StoreError("store is not open")
        return self._db, self._unit

    def unit(self) -> _Unit:
        """A savepoint in the shared transaction; returns once the COMMIT holding it is on disk."""
        return _Unit(self)

    async def _begin(self, db: sqlite3.Connection) -> None:
        try:
            if not _begin_if_free(db):
                # Another process (a replica, the CLI) holds the write lock: wait for it on the thread.
                await self._on_thread(lambda: db.execute("BEGIN IMMEDIATE"))
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc
        self._in_transaction = True

    async def _commit_when_free(self, db: sqlite3.Connection) -> None:
        # Behind the units already waiting for their turn (the lock is FIFO), so they share this COMMIT.
        async with self._turn:
            waiting, self._waiting = self._waiting, []
            self._committer = None
            failure: StoreError | None = None
            # Units already waiting for their turn get the next transaction opened in the same
            # hop to the thread: one hop per group commit, not two.
            again = self._queued > 0
            try:
                await self._on_thread(partial(_commit, db, begin_again=again))
            except sqlite3.Error as exc:
                failure = _translate(exc, self.path)
                with contextlib.suppress(sqlite3.Error):
                    await self._on_thread(lambda: db.execute("ROLLBACK"))
            finally:
                self._in_transaction = db.in_transaction
            if failure is None:
                self._checkpointer.committed()
            for future in waiting:
                if future.done():
                    continue
                if failure is None:
                    future.set_result(None)
                else:
                    future.set_exception(failure)
            if self._in_transaction:
                # Opened for units that were waiting: whatever they do (even give up), it is ended.
                self._committer = asyncio.create_task(self._commit_when_free(db), name="sqlite-commit")

    def read(self) -> _Read:
        """The read-only connection, inline: it sees every COMMIT and never waits behind one."""
        if self._read_unit is None:
            raise StoreError("store is not open")
        return _Read(self._read_unit)

    async def aclose(self) -> None:
        """Close the connections and stop the thread."""
        async with self._turn:
            pass  # the last COMMIT, if one is pending, takes its turn first
        if self._committer is not None:
            await self._committer
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._db is not None:
            db, self._db = self._db, None
            await self._on_thread(db.close)
        self._unit = self._read_unit = None
        self._executor.shutdown(wait=True)
        self._checkpointer.close()


_SAVEPOINT, _RELEASE, _ROLLBACK_TO = "SAVEPOINT unit", "RELEASE unit", "ROLLBACK TO unit"

# Plain classes rather than @asynccontextmanager: a unit is the hot path's unit of cost, and a
# generator-based context manager costs a generator, a frame and a wrapper on every use.


class _Unit:
    """One unit of work on a :class:`SqliteStore`: its turn on the connection, a savepoint, its COMMIT."""

    __slots__ = ("_store",)

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    async def __aenter__(self) -> SqlUnit:
        store = self._store
        db, unit = store._connection()
        await store._take_turn()
        try:
            if not store._in_transaction:
                await store._begin(db)
            # One name for every unit: units take turns, so at most one savepoint is open, and
            # the same three statements stay prepared in the connection's cache (a numbered
            # name was a new statement to compile, twice a unit).
            db.execute(_SAVEPOINT)
        except sqlite3.Error as exc:
            self._let_go()
            raise _translate(exc, store.path) from exc
        except BaseException:
            self._let_go()
            raise
        return unit

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        store = self._store
        db = store._db
        assert db is not None  # noqa: S101 -- the store stays open while a unit holds its turn
        committed: asyncio.Future[None] | None = None
        try:
            if exc_type is None:
                db.execute(_RELEASE)
                committed = asyncio.get_running_loop().create_future()
                store._waiting.append(committed)
            else:
                db.execute(_ROLLBACK_TO)
                db.execute(_RELEASE)
        except sqlite3.Error as error:
            raise _translate(error, store.path) from error
        finally:
            self._let_go()
        if committed is not None:
            await committed

    def _let_go(self) -> None:
        store = self._store
        # Even a unit that rolled back leaves the shared transaction to be ended.
        if store._committer is None and store._in_transaction and store._db is not None:
            store._committer = asyncio.create_task(store._commit_when_free(store._db), name="sqlite-commit")
        store._turn.release()


class _Read:
    """A read on the read-only connection; nothing to take or give back."""

    __slots__ = ("_unit",)

    def __init__(self, unit: SqlUnit) -> None:
        self._unit = unit

    async def __aenter__(self) -> SqlUnit:
        return self._unit

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        return None
