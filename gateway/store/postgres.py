"""The PostgreSQL engine (asyncpg): for more than one process sharing one state.

Each unit is one transaction on a pooled connection; PostgreSQL's own group commit
shares fsyncs between concurrent units. Migrations run under an advisory lock, so
replicas starting together apply each version exactly once. asyncpg was chosen over
psycopg 3 by measurement (``docs/architecture.md``): the same unit of work cost
171 µs of client CPU with asyncpg against 267 µs with psycopg's async pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

from gateway.errors import StoreConflict, StoreError, StoreUnavailable
from gateway.store.postgres_schema import MIGRATIONS
from gateway.store.sql import Row
from gateway.store.unit import SqlUnit

log = structlog.get_logger("hostgate.store")

ENGINE = "postgresql"

# Any 64-bit number of our own: serialises schema migrations across processes.
_MIGRATION_LOCK = 0x686F737467617465  # "hostgate"
_CLOSE_GRACE_SECONDS = 10.0
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
# The server is down, restarting or cut the connection: nothing about the work itself is wrong.
# (Class 08 connection exceptions; 57P01-03 shutdown and not-yet-accepting; the socket's own errors.)
_UNAVAILABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)


@lru_cache(maxsize=512)
def _numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2 …`` (our SQL has no ``?`` inside literals)."""
    parts = sql.split("?")
    out = [parts[0]]
    for index, part in enumerate(parts[1:], start=1):
        out.append(f"${index}{part}")
    return "".join(out)


def _rowcount(status: str) -> int:
    # asyncpg answers with the command tag: "INSERT 0 1", "UPDATE 3", "DELETE 0".
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


@dataclass(frozen=True, slots=True)
class PostgresUrl:
    """A ``postgresql://`` store URL, with hostgate's own ``schema`` parameter taken out."""

    dsn: str
    schema: str | None
    where: str  # host/database, never the password: safe for errors and logs

    @classmethod
    def parse(cls, url: str) -> PostgresUrl:
        """Split the URL; StoreError naming the setting when it is not one we can use."""
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        schema = query.pop("schema", None)
        if schema is not None and not _SCHEMA_NAME.match(schema):
            raise StoreError(f"[store] url: schema {schema!r} must be a lower-case SQL identifier")
        dsn = urlunsplit(parts._replace(query=urlencode(query)))
        where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"
        return cls(dsn, schema, where)


class _PgSql:
    """:class:`~gateway.store.sql.Sql` over one asyncpg connection."""

    def __init__(self, conn: Connection, *, read_only: bool = False) -> None:
        self._conn = conn
        self._read_only = read_only
        # A read view locks no rows: it has no update to protect.
        self.for_update = "" if read_only else " FOR UPDATE"
        self.now = "CAST(extract(epoch FROM clock_timestamp()) AS DOUBLE PRECISION)"
        self.row_id = "ctid"

    def _check(self, sql: str) -> str:
        # A read view runs in autocommit (two round trips fewer than BEGIN READ ONLY ... ROLLBACK),
        # so it refuses anything but a query here.
        if self._read_only and not sql.lstrip().upper().startswith("SELECT"):
            raise StoreError("a read view cannot write; writes go through store.unit()")
        return _numbered(sql)

    async def hold(self, name: str) -> None:
        """A transaction-scoped advisory lock on ``name``: released by the unit's COMMIT or ROLLBACK."""
        await self.one("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (name,))

    async def execute(self, sql: str, args: Sequence[object] = ()) -> int:
        try:
            return _rowcount(await self._conn.execute(self._check(sql), *args))
        except _DRIVER_ERRORS as exc:
            raise _translate(exc) from exc

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        try:
            await self._conn.executemany(self._check(sql), list(rows))
        except _DRIVER_ERRORS as exc:
            raise _translate(exc) from exc

    async def one(self, sql: str, args: Sequence[object] = ()) -> Row | None:
        try:
            row = await self._conn.fetchrow(self._check(sql), *args)
        except _DRIVER_ERRORS as exc:
            raise _translate(exc) from exc
        return None if row is None else tuple(row)

    async def all(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        try:
            return [tuple(r) for r in await self._conn.fetch(self._check(sql), *args)]
        except _DRIVER_ERRORS as exc:
            raise _translate(exc) from exc


def _translate(exc: BaseException) -> StoreError:
    if isinstance(exc, asyncpg.UniqueViolationError):
        return StoreConflict(f"postgresql: {exc}")
    if isinstance(exc, _UNAVAILABLE):
        return StoreUnavailable(f"postgresql unreachable: {type(exc).__name__}")
    if isinstance(exc, asyncpg.PostgresError):
        return StoreError(f"postgresql: {type(exc).__name__}: {exc}")
    return StoreError(f"postgresql: {type(exc).__name__}")


class PostgresStore:
    """Shared state in PostgreSQL."""

    engine = ENGINE

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = PostgresUrl.parse(url)
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        """Connect and bring the schema up to date; StoreError naming the setting when it cannot."""
        # Named, so an operator sees hostgate's sessions in pg_stat_activity. Every statement and
        # lock wait is bounded, so a stuck database surfaces as StoreError. Given at connect time,
        # these are the session's defaults: nothing can reset them away.
        settings = {"application_name": "hostgate", "statement_timeout": "30s", "lock_timeout": "10s"}
        if self.url.schema:
            settings["search_path"] = self.url.schema
        try:
            if self.url.schema:
                await self._create_schema()
            self._pool = await asyncpg.create_pool(
                self.url.dsn,
                min_size=1,
                max_size=self._pool_size,
                server_settings=settings,
                reset=_keep_session,
                timeout=10,
            )
        except _DRIVER_ERRORS as exc:
            raise StoreError(
                f"cannot reach PostgreSQL at {self.url.where} ([store] url or HOSTGATE_STORE_URL):"
                f" {type(exc).__name__}: {exc}"
            ) from exc
        try:
            async with self._pool.acquire() as conn:
                await self._migrate(conn)
        except BaseException:
            await self.aclose()
            raise

    async def _create_schema(self) -> None:
        conn = await asyncpg.connect(self.url.dsn, timeout=10)
        try:
            # The name matched _SCHEMA_NAME; identifiers cannot be parameters.
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.url.schema}")
        except asyncpg.UniqueViolationError:
            pass  # another process created it between our IF NOT EXISTS and CREATE
        finally:
            await conn.close()

    async def _migrate(self, conn: Connection) -> None:
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                await conn.execute("CREATE TABLE IF NOT EXISTS hostgate_schema (version INTEGER NOT NULL)")
                version = await conn.fetchval("SELECT max(version) FROM hostgate_schema") or 0
                if version > len(MIGRATIONS):
                    raise StoreError(
                        f"PostgreSQL at {self.url.where} has schema version {version}, newer than this"
                        f" hostgate knows ({len(MIGRATIONS)});"
                        " upgrade hostgate or point [store] url elsewhere"
                    )
                for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                    await conn.execute(script)
                    await conn.execute("INSERT INTO hostgate_schema (version) VALUES ($1)", number)
        except _DRIVER_ERRORS as exc:
            raise _translate(exc) from exc

    def _require_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("store is not open")
        return self._pool

    @contextlib.asynccontextmanager
    async def unit(self) -> AsyncIterator[SqlUnit]:
        """One transaction on a pooled connection."""
        pool = self._require_pool()
        async with contextlib.AsyncExitStack() as stack:
            try:
                conn = await stack.enter_async_context(pool.acquire())
                transaction = conn.transaction()
                await transaction.start()
            except _DRIVER_ERRORS as exc:
                raise _translate(exc) from exc
            try:
                yield SqlUnit(_PgSql(conn))
            except BaseException:
                with contextlib.suppress(*_DRIVER_ERRORS):
                    await transaction.rollback()
                raise
            try:
                await transaction.commit()
            except _DRIVER_ERRORS as exc:
                raise _translate(exc) from exc

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[SqlUnit]:
        """A pooled connection in autocommit: each query sees what is committed; writes are refused."""
        pool = self._require_pool()
        async with contextlib.AsyncExitStack() as stack:
            try:
                conn = await stack.enter_async_context(pool.acquire())
            except _DRIVER_ERRORS as exc:
                raise _translate(exc) from exc
            yield SqlUnit(_PgSql(conn, read_only=True))

    async def aclose(self) -> None:
        """Close the pool; connections still busy after a grace period are cut (shutdown never hangs)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                async with asyncio.timeout(_CLOSE_GRACE_SECONDS):
                    await pool.close()
            except TimeoutError:
                log.warning("store.close_forced", engine=ENGINE, grace_seconds=_CLOSE_GRACE_SECONDS)
                pool.terminate()


async def _keep_session(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """Nothing to undo when a connection goes back to the pool (asyncpg has rolled back any open unit).

    asyncpg's default runs ``pg_advisory_unlock_all(); UNLISTEN *; RESET ALL; CLOSE ALL`` on every
    release: a round trip per unit and per read, for state hostgate never leaves behind (its
    advisory locks are transaction-scoped, it never LISTENs, SETs or opens cursors), and RESET ALL
    undid the statement timeouts an ``init`` hook had set.
    """


async def drop_schema(url: str) -> None:
    """Drop the schema a ``?schema=`` URL names, with everything in it (scratch state of benchmarks)."""
    parsed = PostgresUrl.parse(url)
    if parsed.schema is None:
        raise StoreError("[store] url: drop_schema needs a ?schema= URL; it never drops a whole database")
    try:
        conn = await asyncpg.connect(parsed.dsn, timeout=10)
    except _DRIVER_ERRORS as exc:
        raise _translate(exc) from exc
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {parsed.schema} CASCADE")
    finally:
        await conn.close()
