"""Staged audit records survive a crash of the gateway: every 202 has its record in the trail, once."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import cast

import aiohttp
import pytest

from gateway.audit.pseudonym import Pseudonymizer
from gateway.audit.staging import AuditDrain, stage
from gateway.audit.trail import AuditTrail
from gateway.disclosure.keys import KeyRing
from gateway.errors import StoreUnavailable
from gateway.store import Store, Unit
from tests.audit.trails import writer_for
from tests.conftest import without_rate_limit
from tests.engines import SUITE_ENGINE, drop_schema, make_store, new_schema_name
from tests.support import serving, trail_text, wait_for_trail, wait_status

pytestmark = [pytest.mark.broker, pytest.mark.reliability]
WARUNG_KEY = "hg_OaJgRLK3o0V2k_HGoBNpsFEVC6Ha_fdaRIb3flcB36Y"


async def test_kill_9_after_accepting_keeps_every_record(config_dir: Path) -> None:
    """300 messages accepted, then kill -9: after a restart the trail holds one message.accepted per 202."""
    without_rate_limit(config_dir)
    accepted: list[str] = []
    with serving(config_dir) as (process, port, _):
        wait_status(port, "/readyz", 200, 15)
        headers = {"Authorization": f"Bearer {WARUNG_KEY}"}
        async with aiohttp.ClientSession() as session:

            async def send(i: int) -> None:
                body = {"recipient": f"user-{i}", "payload": base64.b64encode(b"sealed").decode()}
                async with session.post(
                    f"http://127.0.0.1:{port}/v1/messages", json=body, headers=headers
                ) as response:
                    if response.status == 202:
                        accepted.append((await response.json())["message_id"])

            await asyncio.gather(*(send(i) for i in range(300)))
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    var = config_dir.parent / "var"
    before = trail_text(var).count('"event":"message.accepted"')
    with serving(config_dir) as (process, port, _):
        trail = await wait_for_trail(var, '"event":"message.accepted"', within=20, count=len(accepted))
        process.send_signal(signal.SIGTERM)
        process.wait(15)
    records = [json.loads(line) for line in trail.splitlines() if '"event":"message.accepted"' in line]
    ids = [r["message_id"] for r in records]
    print(f"accepted={len(accepted)} in trail before restart={before} after={len(ids)}")
    assert len(accepted) == 300
    assert sorted(ids) == sorted(accepted), "each 202 has exactly one record"


async def test_a_record_committed_late_with_a_smaller_id_is_not_lost(tmp_path: Path) -> None:
    """PostgreSQL hands out ids at insert and commits in any order: id N may show up after N+1 was drained.

    Unit A stages (id N) and stays open; unit B stages (N+1) and commits; the drain writes
    N+1; A commits; the gateway restarts. Record N must still reach the trail, once.
    """
    schema = new_schema_name()
    store = make_store("postgresql", tmp_path, schema)
    await store.open()
    ring = KeyRing.open(tmp_path / "keys")
    trail = AuditTrail(writer_for(tmp_path / "audit", ring), Pseudonymizer(b"k" * 32))
    try:
        trail.writer.open()
        drain = AuditDrain(store, trail)
        a_staged, a_commit = asyncio.Event(), asyncio.Event()

        async def unit_a() -> None:
            async with store.unit() as tx:
                await stage(tx, trail, "endpoint.enabled", business="a-late", by="cli")
                a_staged.set()
                await a_commit.wait()

        late = asyncio.create_task(unit_a())
        await a_staged.wait()
        async with store.unit() as tx:
            await stage(tx, trail, "endpoint.enabled", business="b-early", by="cli")
        assert await drain.drain_once() == 1  # only B is visible yet
        a_commit.set()
        await late
        trail.writer.close()
        # A restart: the writer reads back what it holds; the drain forgets only that, then drains.
        trail.writer.open()
        await drain.flush()
        text = "".join(p.read_text() for p in sorted((tmp_path / "audit").glob("audit-*.jsonl")))
    finally:
        trail.writer.close()
        await store.aclose()
        drop_schema(schema)
    print(f"trail: b-early {text.count('b-early')}, a-late {text.count('a-late')}")
    assert (text.count('"b-early"'), text.count('"a-late"')) == (1, 1)


class _GoesAwayOnce:
    """A real store whose next unit fails the way an unreachable database does (then it is back)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.away = False

    def read(self) -> AbstractAsyncContextManager[Unit]:
        return self._store.read()

    def unit(self) -> AbstractAsyncContextManager[Unit]:
        if self.away:
            self.away = False
            raise StoreUnavailable("the database went away (test)")
        return self._store.unit()


async def test_records_written_before_the_store_went_away_are_not_written_twice(
    tmp_path: Path,
) -> None:
    """A batch in the trail whose forget failed (the store went away) is forgotten, not appended again."""
    store = make_store(SUITE_ENGINE, tmp_path)
    await store.open()
    ring = KeyRing.open(tmp_path / "keys")
    trail = AuditTrail(writer_for(tmp_path / "audit", ring), Pseudonymizer(b"k" * 32))
    flaky = _GoesAwayOnce(store)
    try:
        trail.writer.open()
        drain = AuditDrain(cast(Store, flaky), trail)
        async with store.unit() as tx:
            for name in ("first", "second", "third"):
                await stage(tx, trail, "endpoint.enabled", business=name, by="cli")
        flaky.away = True
        with pytest.raises(StoreUnavailable):
            await drain.drain_once()  # in the trail, still staged
        async with store.unit() as tx:
            await stage(tx, trail, "endpoint.enabled", business="fourth", by="cli")
        while await drain.drain_once():
            pass
        async with store.read() as tx:
            left = await tx.audit.count()
        trail.writer.close()
        text = "".join(p.read_text() for p in sorted((tmp_path / "audit").glob("audit-*.jsonl")))
    finally:
        trail.writer.close()
        await store.aclose()
    counts = [text.count(f'"{name}"') for name in ("first", "second", "third", "fourth")]
    print(f"trail: each record {counts} time(s), staged left {left}")
    assert counts == [1, 1, 1, 1]
    assert left == 0
