"""Audit records staged in the store, inside the unit of work of what they record.

This is the one way hostgate writes an audit record: ``await stage(tx, trail, event,
**fields)`` in the unit that does the work, so the record is durable exactly when the
work is, with one commit for both. A drain task appends staged records to the hash
chain in id order, each carrying its ``staged_id``, and forgets them once the trail
has them on disk. After a crash, rows the trail already holds (id ≤ the last
``staged_id`` in it) are dropped, the rest are appended: none is lost, none twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
import structlog

from gateway.audit.trail import AuditTrail
from gateway.store import Store, Unit
from gateway.waiting import wait_event

log = structlog.get_logger("hostgate.audit")

BATCH = 2000


async def stage(tx: Unit, trail: AuditTrail, event: str, **fields: object) -> None:
    """Validate through the audit pipeline and stage the record in the caller's unit."""
    await tx.audit.stage(orjson.dumps(trail.render(event, **fields)))


class AuditDrain:
    """Moves staged records into the trail, in order."""

    def __init__(self, store: Store, trail: AuditTrail, idle: float = 0.05) -> None:
        self._store = store
        self._trail = trail
        self._idle = idle
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Staged records were committed."""
        self._wake.set()

    async def start(self) -> None:
        """Drop what the trail already holds, then drain in the background."""
        async with self._store.unit() as tx:
            await tx.audit.forget(self._trail.writer.last_staged)
        self._task = asyncio.create_task(self._run(), name="audit-drain")

    async def _run(self) -> None:
        while True:
            try:
                moved = await self.drain_once()
            except Exception:  # the rows stay staged; the next round retries
                log.exception("audit.drain_failed")
                moved = 0
            if not moved:
                await wait_event(self._wake, self._idle)
                self._wake.clear()

    async def drain_once(self) -> int:
        """Append one batch to the trail and forget it; return how many records moved."""
        async with self._store.read() as tx:
            staged = await tx.audit.pending(BATCH)
        if not staged:
            return 0
        records: list[dict[str, Any]] = []
        for row in staged:
            record = orjson.loads(row.record)
            record["staged_id"] = row.id
            records.append(record)
        await asyncio.wrap_future(self._trail.writer.submit_many(records))
        async with self._store.unit() as tx:
            await tx.audit.forget(staged[-1].id)
        return len(staged)

    async def flush(self) -> None:
        """Drop what the trail already holds and drain everything staged, in the foreground (the CLI)."""
        async with self._store.unit() as tx:
            await tx.audit.forget(self._trail.writer.last_staged)
        while await self.drain_once():
            pass

    async def close(self) -> None:
        """Drain what is staged, then stop."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(Exception):
            while await self.drain_once():
                pass
