"""The embedded engine: group commit across units, and a unit returns only once it is on disk."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import structlog

from gateway.store.sqlite import SqliteStore
from gateway.store.sqlite_checkpoint import MIN_INTERVAL, SAFETY_PAGES, WalCheckpointer


async def _open(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "state" / "hostgate.sqlite3")
    await store.open()
    return store


async def test_concurrent_units_share_commits(tmp_path: Path) -> None:
    """200 units at once are committed by far fewer COMMITs (one fsync for many), none lost."""
    store = await _open(tmp_path)
    statements: list[str] = []
    assert store._db is not None
    store._db.set_trace_callback(statements.append)
    try:

        async def one(n: int) -> None:
            async with store.unit() as tx:
                await tx.chats.open("b", f"user-{n:03d}")

        await asyncio.gather(*(one(n) for n in range(200)))
    finally:
        store._db.set_trace_callback(None)
        await store.aclose()
    commits = statements.count("COMMIT")
    print(f"200 units, {commits} COMMITs")
    assert 1 <= commits <= 20
    other = sqlite3.connect(tmp_path / "state" / "hostgate.sqlite3")
    assert other.execute("SELECT count(*) FROM chats").fetchone()[0] == 200
    other.close()


async def test_a_unit_returns_after_its_commit(tmp_path: Path) -> None:
    """Once a unit has returned, another connection (another process) sees its write."""
    store = await _open(tmp_path)
    other = sqlite3.connect(tmp_path / "state" / "hostgate.sqlite3")
    try:
        for n in range(20):
            async with store.unit() as tx:
                await tx.chats.open("b", f"user-{n}")
            assert other.execute("SELECT count(*) FROM chats").fetchone()[0] == n + 1
    finally:
        other.close()
        await store.aclose()


async def test_a_unit_waits_for_another_process_holding_the_write_lock(tmp_path: Path) -> None:
    """With the file's write lock free a unit begins on the loop; held elsewhere, it waits off the loop."""
    store = await _open(tmp_path)
    statements: list[str] = []
    assert store._db is not None
    store._db.set_trace_callback(statements.append)
    other = sqlite3.connect(tmp_path / "state" / "hostgate.sqlite3", isolation_level=None)
    try:
        async with store.unit() as tx:
            await tx.chats.open("b", "first")
        other.execute("BEGIN IMMEDIATE")  # another process writing: it holds the lock a while
        began = asyncio.get_running_loop().time()
        writing = asyncio.create_task(_open_chat(store, "second"))
        ticks = 0
        while asyncio.get_running_loop().time() - began < 0.3:
            await asyncio.sleep(0.01)  # the loop goes on serving while the unit waits
            ticks += 1
        assert not writing.done()
        other.execute("COMMIT")
        await asyncio.wait_for(writing, 5)
        assert ticks >= 10
    finally:
        store._db.set_trace_callback(None)
        other.close()
        await store.aclose()
    assert statements.count("BEGIN IMMEDIATE") == 3  # free once; busy, then waited for on the thread
    check = sqlite3.connect(tmp_path / "state" / "hostgate.sqlite3")
    assert check.execute("SELECT count(*) FROM chats").fetchone()[0] == 2
    check.close()


async def _open_chat(store: SqliteStore, user: str) -> None:
    async with store.unit() as tx:
        await tx.chats.open("b", user)


async def test_files_are_private(tmp_path: Path) -> None:
    """The state directory and database file are readable by their owner only, whatever the umask."""
    store = await _open(tmp_path)
    await store.aclose()
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "state" / "hostgate.sqlite3").stat().st_mode & 0o777 == 0o600


async def test_a_file_from_before_the_port_is_upgraded(tmp_path: Path) -> None:
    """A version-5 file (the last release) keeps its messages, their history in order, and its dedup."""
    from gateway.store.sqlite_schema import MIGRATIONS  # noqa: PLC0415 -- building an old file by hand

    path = tmp_path / "state" / "hostgate.sqlite3"
    path.parent.mkdir()
    old = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:5]:
        old.executescript(script)
    old.execute("PRAGMA user_version=5")
    old.execute("INSERT INTO messages VALUES ('b', 'm-1', 'u', 'outbound', 'read', 1, NULL, 1.0, 3.0)")
    for status, at in (("accepted", 1.0), ("delivered", 2.0), ("read", 3.0)):
        old.execute(
            "INSERT INTO message_events (business_id, message_id, status, at) VALUES ('b', 'm-1', ?, ?)",
            (status, at),
        )
    old.execute("INSERT INTO processed_events VALUES ('ev-1', 1.0)")
    old.close()
    store = SqliteStore(path)
    await store.open()
    try:
        async with store.read() as tx:
            found = await tx.messages.get("b", "m-1", direction="outbound")
        assert found is not None
        assert [h[0] for h in found.history] == ["accepted", "delivered", "read"]
        async with store.unit() as tx:
            assert await tx.processed.first_time("com.hostgate.message.receipt", "ev-1")
    finally:
        await store.aclose()


async def test_the_wal_is_copied_back_beside_the_writer(tmp_path: Path) -> None:
    """Commits leave the copy into the database file to the checkpointer's own thread and connection."""
    store = await _open(tmp_path)
    path = tmp_path / "state" / "hostgate.sqlite3"
    try:
        assert store._db is not None
        # The writer checkpoints itself only as a bound, far past SQLite's default of 1,000 pages.
        assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == SAFETY_PAGES
        for batch in range(40):
            async with store.unit() as tx:
                await tx.chats.open_many("b", [f"user-{batch:02d}-{n:05d}" for n in range(1000)])
            await asyncio.sleep(MIN_INTERVAL)  # let the checkpointer run between commits
        await asyncio.sleep(0.5)
        assert store._checkpointer.runs > 0
        # The database file alone, without its WAL, already holds every committed row.
        alone = tmp_path / "alone.sqlite3"
        shutil.copyfile(path, alone)
        copy = sqlite3.connect(alone)
        try:
            rows = copy.execute("SELECT count(*) FROM chats").fetchone()[0]
        finally:
            copy.close()
        print(f"checkpointer runs {store._checkpointer.runs}; rows in the file alone {rows}")
        assert rows == 40_000
    finally:
        await store.aclose()
    # After close the file alone holds everything (the WAL may be gone).
    reopened = sqlite3.connect(path)
    assert reopened.execute("SELECT count(*) FROM chats").fetchone()[0] == 40_000
    reopened.close()


def test_a_failing_checkpoint_is_logged_once_and_never_raises(tmp_path: Path) -> None:
    """A copy that fails leaves the pages in the WAL, says so once (no path or data beyond the file), and goes on."""
    broken = tmp_path / "not-a-database.sqlite3"
    broken.write_bytes(b"this is not an SQLite file" * 200)
    checkpointer = WalCheckpointer(broken, min_interval=0)
    try:
        with structlog.testing.capture_logs() as logs:
            for _ in range(3):
                checkpointer.committed()
                checkpointer.wait()
    finally:
        checkpointer.close()
    assert checkpointer.runs == 0
    assert [entry["event"] for entry in logs] == ["store.checkpoint_failed"]
