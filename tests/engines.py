"""The store engines the suite runs on: SQLite always, PostgreSQL with a private schema per test.

``HOSTGATE_TEST_STORE=postgresql`` runs the whole suite on PostgreSQL: every test's
config directory gets ``[store] url`` pointing at a schema of its own, dropped after
the test. ``HOSTGATE_TEST_PG_URL`` names the server (default: the local one, database ``test``).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import asyncpg

from gateway.store import Store, open_store_at

ENGINES = ("sqlite", "postgresql")
SUITE_ENGINE = os.environ.get("HOSTGATE_TEST_STORE", "sqlite")
PG_URL = os.environ.get("HOSTGATE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
_PREFIX = "hgt_"
_counter = itertools.count()

if SUITE_ENGINE not in ENGINES:
    raise SystemExit(f"HOSTGATE_TEST_STORE must be one of {ENGINES}, not {SUITE_ENGINE!r}")


def _run_elsewhere(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` on a loop of its own (sync fixtures may be called while a test's loop runs)."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 -- re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    if failure:
        raise failure[0]


def new_schema_name() -> str:
    """A schema name no other test in this run uses."""
    return f"{_PREFIX}{os.getpid()}_{next(_counter)}"


def schema_url(schema: str) -> str:
    """The store URL of one private schema."""
    return f"{PG_URL}?schema={schema}"


def drop_schema(schema: str) -> None:
    """Drop a test's schema and everything in it."""
    from gateway.store.postgres import drop_schema as drop  # noqa: PLC0415 -- PostgreSQL runs only

    _run_elsewhere(drop(schema_url(schema)))


def drop_leftover_schemas() -> None:
    """Drop schemas an earlier, interrupted run left behind."""

    async def drop() -> None:
        conn = await asyncpg.connect(PG_URL)
        try:
            rows = await conn.fetch(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", _PREFIX.replace("_", r"\_") + "%"
            )
            for row in rows:
                await conn.execute(f"DROP SCHEMA IF EXISTS {row[0]} CASCADE")
        finally:
            await conn.close()

    _run_elsewhere(drop())


def make_store(engine: str, tmp_path: Path, schema: str | None = None) -> Store:
    """An unopened store of ``engine``: a file under ``tmp_path``, or a private PostgreSQL schema."""
    if engine == "sqlite":
        return open_store_at(None, tmp_path / "state")
    return open_store_at(schema_url(schema or new_schema_name()), tmp_path)


@asynccontextmanager
async def opened_store(tmp_path: Path, name: str) -> AsyncIterator[Store]:
    """An open store of the suite's engine (its own file under ``tmp_path / name``, or schema), closed after."""
    schema = new_schema_name() if SUITE_ENGINE == "postgresql" else None
    store = make_store(SUITE_ENGINE, tmp_path / name, schema)
    await store.open()
    try:
        yield store
    finally:
        await store.aclose()
        if schema is not None:
            drop_schema(schema)


@contextmanager
def two_stores(tmp_path: Path) -> Iterator[tuple[asyncio.AbstractEventLoop, Store, Store]]:
    """A loop of its own and two open stores on it, for a property test to compare (hypothesis runs sync)."""
    loop = asyncio.new_event_loop()
    stack = AsyncExitStack()

    async def open_both() -> tuple[Store, Store]:
        return (
            await stack.enter_async_context(opened_store(tmp_path, "first")),
            await stack.enter_async_context(opened_store(tmp_path, "second")),
        )

    try:
        first, second = loop.run_until_complete(open_both())
        yield loop, first, second
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()


async def break_store(store: Store) -> None:
    """Make every later call fail inside the driver, the way a lost disk or database does."""
    from gateway.store.postgres import PostgresStore  # noqa: PLC0415 -- reaching under the port on purpose
    from gateway.store.sqlite import SqliteStore  # noqa: PLC0415 -- same

    if isinstance(store, SqliteStore):
        # The connections stay referenced, so each statement meets sqlite3's own "closed database" error.
        # Closed in the store's turn and on its thread, never under a COMMIT in flight.
        db, reader = store._db, store._reader
        assert db is not None
        assert reader is not None

        def close_both() -> None:
            db.close()
            reader.close()

        async with store._turn:
            await store._on_thread(close_both)
    else:
        assert isinstance(store, PostgresStore)
        assert store.url.schema is not None, "the suite gives every PostgreSQL store a schema of its own"
        conn = await asyncpg.connect(PG_URL)
        try:
            # The tables vanish under the running gateway: every statement fails in the server.
            await conn.execute(f"DROP SCHEMA {store.url.schema} CASCADE")
        finally:
            await conn.close()
