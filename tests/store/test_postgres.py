"""The PostgreSQL engine across a database crash: StoreUnavailable while it is down, working again after."""

from __future__ import annotations

import pytest

from gateway.errors import StoreError, StoreUnavailable
from gateway.store.postgres import PostgresStore
from tests.engines import PG_URL, drop_schema, new_schema_name, schema_url
from tests.pg_instance import private_postgres
from tests.support import closed_port

pytestmark = pytest.mark.postgresql_only


async def test_a_server_that_is_not_there_names_the_setting() -> None:
    """Opening against a closed port: StoreError naming [store] url and the host, never the password."""
    with closed_port() as port:
        store = PostgresStore(f"postgresql://postgres:s3cret@127.0.0.1:{port}/postgres")
        with pytest.raises(StoreError) as raised:
            await store.open()
    assert "[store] url" in str(raised.value)
    assert f"127.0.0.1:{port}" in str(raised.value)
    assert "s3cret" not in str(raised.value)


async def test_a_crashed_server_is_unavailable_then_serves_again_with_every_commit_kept() -> None:
    """Kill the server (-m immediate): StoreUnavailable, not a plain StoreError; after restart the pool heals."""
    with private_postgres() as pg:
        store = PostgresStore(pg.url)
        await store.open()
        try:
            async with store.unit() as tx:
                await tx.leases.claim("chaos", "holder-a", 60)
            pg.stop("immediate")
            for _ in range(3):  # the pooled connections are dead, then new ones are refused
                with pytest.raises(StoreUnavailable):
                    async with store.unit() as tx:
                        await tx.leases.holds("chaos", "holder-a")
            pg.start()
            async with store.read() as tx:
                kept = await tx.leases.holds("chaos", "holder-a")
        finally:
            await store.aclose()
    assert kept, "the lease committed before the crash survived crash recovery"


async def test_statement_timeouts_hold_on_a_reused_connection() -> None:
    """Every pooled session keeps its bounds, however often it was handed out and given back."""
    schema = new_schema_name()
    store = PostgresStore(schema_url(schema), pool_size=1)  # one connection: every unit reuses it
    await store.open()
    query = "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')"
    try:
        seen = []
        for _ in range(3):
            async with store.unit() as tx:
                await tx.leases.claim("reuse", "me", 1)
            # The session settings belong to the pool's connections, not to any repository.
            async with store._require_pool().acquire() as conn:
                row = await conn.fetchrow(query)
                assert row is not None
                seen.append(tuple(row))
    finally:
        await store.aclose()
        drop_schema(schema)
    assert set(seen) == {("30s", "10s")}, seen


async def test_an_older_schema_is_upgraded_with_its_history_intact() -> None:
    """A schema made by version 5 (first history entries stored) reads the same history after the upgrade."""
    import asyncpg  # noqa: PLC0415 -- building an old schema by hand

    from gateway.store.postgres_schema import MIGRATIONS  # noqa: PLC0415 -- the scripts of the past

    schema = new_schema_name()
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}; SET search_path TO {schema}")
        await conn.execute("CREATE TABLE hostgate_schema (version INTEGER NOT NULL)")
        for number, script in enumerate(MIGRATIONS[:5], start=1):
            await conn.execute(script)
            await conn.execute("INSERT INTO hostgate_schema (version) VALUES ($1)", number)
        await conn.execute(
            "INSERT INTO messages (business_id, message_id, user_id, direction, status, revision,"
            " created_at, updated_at) VALUES ('b', 'm-1', 'u', 'outbound', 'read', 1, 1.0, 3.0)"
        )
        for status, at in (("accepted", 1.0), ("delivered", 2.0), ("read", 3.0)):
            await conn.execute(
                "INSERT INTO message_events (business_id, direction, message_id, status, at)"
                " VALUES ('b', 'outbound', 'm-1', $1, $2)",
                status,
                at,
            )
    finally:
        await conn.close()
    store = PostgresStore(schema_url(schema))
    try:
        await store.open()
        async with store.read() as tx:
            found = await tx.messages.get("b", "m-1", direction="outbound")
        assert found is not None
        assert [(s, at) for s, _, at in found.history] == [
            ("accepted", 1.0),
            ("delivered", 2.0),
            ("read", 3.0),
        ]
    finally:
        await store.aclose()
        drop_schema(schema)
