"""The PostgreSQL engine across a database crash: StoreUnavailable while it is down, working again after."""

from __future__ import annotations

import pytest

from gateway.errors import StoreError, StoreUnavailable
from gateway.store.postgres import PostgresStore
from tests.engines import drop_schema, new_schema_name, schema_url
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
