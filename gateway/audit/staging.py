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
from gateway.errors import StoreUnavailable, TrailLocked
from gateway.leasing import Lease
from gateway.store import Store, Unit
from gateway.waiting import wait_event

log = structlog.get_logger("hostgate.audit")

BATCH = 2000
# How often a process that does not hold the audit lease looks whether it can take it.
LEASE_POLL = 1.0


def render(trail: AuditTrail, event: str, **fields: object) -> bytes:
    """The record as staged: validated through the audit pipeline, serialised (to stage in a unit)."""
    return orjson.dumps(trail.render(event, **fields))


async def stage(tx: Unit, trail: AuditTrail, event: str, **fields: object) -> None:
    """Validate through the audit pipeline and stage the record in the caller's unit."""
    await tx.audit.stage(render(trail, event, **fields))


class AuditDrain:
    """Moves staged records into the trail, in order.

    With a ``lease`` (the gateway), only the process holding it drains, so many
    processes feed one chain: it opens the chain writer when it takes the lease and
    closes it when it loses it; the others leave their records staged for it. The
    writer's file lock stays the last word: a new holder whose predecessor has not
    let go of the files yet retries. Without one (the CLI), the caller opens the writer.
    """

    def __init__(
        self, store: Store, trail: AuditTrail, idle: float = 0.05, lease: Lease | None = None
    ) -> None:
        self._store = store
        self._trail = trail
        self._idle = idle
        self._lease = lease
        self._writing = lease is None  # without a lease the caller has opened the writer
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Staged ids already in the trail whose forget failed (the store went away in between):
        # forgotten before anything is read again, or the next round would append them twice.
        self._written: list[int] = []

    def wake(self) -> None:
        """Staged records were committed."""
        self._wake.set()

    async def start(self) -> None:
        """Drop what the trail already holds (when writing), then drain in the background."""
        if self._writing:
            async with self._store.unit() as tx:
                await tx.audit.forget(self._trail.writer.recent_staged)
        self._task = asyncio.create_task(self._run(), name="audit-drain")

    async def _run(self) -> None:
        away = False
        while True:
            try:
                moved = await self.drain_once() if await self._may_write() else 0
            except StoreUnavailable as exc:  # the rows stay staged; the next round retries
                if not away:
                    log.warning("audit.waiting_for_store", reason=str(exc))  # once per outage
                away = True
                moved = 0
            except Exception:  # the rows stay staged; the next round retries
                log.exception("audit.drain_failed")
                moved = 0
            else:
                away = False
            if not moved:
                await wait_event(self._wake, self._idle if self._writing else LEASE_POLL)
                self._wake.clear()

    async def _may_write(self) -> bool:
        """Whether this process writes the chain now: opens or closes the writer as the lease goes."""
        if self._lease is None:
            return True
        held = await self._lease.keep()
        if held and not self._writing:
            try:
                await asyncio.to_thread(self._trail.writer.open)
            except TrailLocked:
                log.info("audit.waiting_for_previous_writer")
                return False
            self._writing = True
            async with self._store.unit() as tx:
                await tx.audit.forget(self._trail.writer.recent_staged)
            log.info("audit.writing", seq=self._trail.writer.seq)
        elif not held and self._writing:
            await self._stop_writing()
        return self._writing

    async def _take_over_to_stop(self) -> bool:
        """Stopping while records wait and another process writes: take the lease when it lets go.

        Processes of one gateway stop together; the holder may be stopping too, and records
        staged by the others must not wait for the next start. Bounded by the lease's length.
        """
        if self._lease is None:
            return False
        deadline = asyncio.get_running_loop().time() + self._lease.seconds + 1
        try:
            while asyncio.get_running_loop().time() < deadline:
                async with self._store.read() as tx:
                    if not await tx.audit.count():
                        return False
                if await self._may_write():
                    return True
                await asyncio.sleep(0.2)
        except Exception:  # noqa: BLE001 -- a store already gone: the records stay staged for the next holder
            log.info("audit.left_staged")
        return False

    async def _stop_writing(self) -> None:
        self._writing = False
        await asyncio.to_thread(self._trail.writer.close)
        log.info("audit.handed_over")

    async def drain_once(self) -> int:
        """Append one batch to the trail and forget it; return how many records moved."""
        if self._written:
            await self._forget_written()
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
        self._written = [row.id for row in staged]
        await self._forget_written()
        return len(staged)

    async def _forget_written(self) -> None:
        async with self._store.unit() as tx:
            await tx.audit.forget(self._written)
        self._written = []

    async def flush(self) -> None:
        """Drop what the trail already holds and drain everything staged, in the foreground (the CLI)."""
        async with self._store.unit() as tx:
            await tx.audit.forget(self._trail.writer.recent_staged)
        while await self.drain_once():
            pass

    async def close(self) -> None:
        """Drain what is staged (when writing), then stop; with a lease, close the writer and hand over."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if not self._writing and not await self._take_over_to_stop():
            return
        with contextlib.suppress(Exception):
            while await self.drain_once():
                pass
        if self._lease is not None:
            await self._stop_writing()
            with contextlib.suppress(Exception):  # a store already gone: the lease lapses on its own
                await self._lease.release()
