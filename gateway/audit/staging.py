"""Audit records staged in the store, inside the transaction of the work they record.

The hot paths (a message accepted, delivered, refused; a consent; a notice) do
not wait for the trail's own fsync: their record is written to ``audit_staged``
in the same SQLite transaction as the work, so it is on disk, durably, before
the work counts as done, with one fsync for both. A drain task appends staged
records to the hash chain in id order, each carrying its ``staged_id``, and
deletes them once the trail has them on disk. After a crash, rows the trail
already holds (id ≤ the last ``staged_id`` in it) are dropped, the rest are
appended: none is lost, none appears twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from typing import Any

import orjson
import structlog

from gateway.audit.trail import AuditTrail
from gateway.store.sqlite import SqliteStore

log = structlog.get_logger("hostgate.audit")

BATCH = 2000


def stage(db: sqlite3.Connection, trail: AuditTrail, event: str, **fields: object) -> None:
    """Validate through the audit pipeline and stage the record in the caller's transaction."""
    record = trail.render(event, **fields)
    db.execute("INSERT INTO audit_staged (record) VALUES (?)", (orjson.dumps(record),))


class AuditDrain:
    """Moves staged records into the trail, in order."""

    def __init__(self, store: SqliteStore, trail: AuditTrail, idle: float = 0.05) -> None:
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
        already = self._trail.writer.last_staged
        await self._store.transact(
            lambda db: db.execute("DELETE FROM audit_staged WHERE id <= ?", (already,))
        )
        self._task = asyncio.create_task(self._run(), name="audit-drain")

    async def _run(self) -> None:
        while True:
            try:
                moved = await self.drain_once()
            except Exception:  # the rows stay staged; the next round retries
                log.exception("audit.drain_failed")
                moved = 0
            if not moved:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._idle)
                self._wake.clear()

    async def drain_once(self) -> int:
        """Append one batch to the trail and forget it; return how many records moved."""
        rows: list[tuple[int, bytes]] = await self._store.run(
            lambda: self._store.db.execute(
                "SELECT id, record FROM audit_staged ORDER BY id LIMIT ?", (BATCH,)
            ).fetchall()
        )
        if not rows:
            return 0
        records: list[dict[str, Any]] = []
        for staged_id, raw in rows:
            record = orjson.loads(raw)
            record["staged_id"] = staged_id
            records.append(record)
        await asyncio.wrap_future(self._trail.writer.submit_many(records))
        last = rows[-1][0]
        await self._store.transact(lambda db: db.execute("DELETE FROM audit_staged WHERE id <= ?", (last,)))
        return len(rows)

    async def close(self) -> None:
        """Drain what is staged, then stop."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(Exception):
            while await self.drain_once():
                pass
