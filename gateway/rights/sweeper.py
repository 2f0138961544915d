"""Run the retention purge on a schedule, and on demand; audit what it removed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from datetime import timedelta

import structlog

from gateway.audit.staging import stage
from gateway.audit.trail import AuditTrail
from gateway.leasing import Lease
from gateway.reload import ConfigHolder
from gateway.rights.retention import PURGE_BATCH, PurgeReport, older_than, purge
from gateway.store import Store

log = structlog.get_logger("hostgate.retention")


def retentions(config: ConfigHolder) -> dict[str, timedelta]:
    """Each business's declared retention, from the config in force."""
    return {b.id: b.facts.retention for b in config.current.businesses.values()}


async def purge_and_audit(
    store: Store, audit: AuditTrail, windows: Mapping[str, timedelta], *, batch: int = PURGE_BATCH
) -> PurgeReport:
    """Purge in batches, each in its own unit of work with its ``data.purged`` records staged in it."""
    now = time.time()  # one cutoff for every batch of this sweep
    report = PurgeReport(dry_run=False)
    while True:
        async with store.unit() as tx:
            part = await purge(tx, windows, dry_run=False, now=now, batch=batch)
            for business_id, counts in part.removed.items():
                await stage(
                    tx,
                    audit,
                    "data.purged",
                    business=business_id,
                    records=sum(counts.values()),
                    older_than=older_than(windows[business_id], now),
                )
        report.add(part)
        if not part.more:
            return report


# Longer than a sweep takes: the holder releases it when done, a dead holder's lapses.
SWEEP_LEASE_SECONDS = 600.0


class RetentionSweeper:
    """A background task that purges every ``interval`` seconds."""

    def __init__(
        self,
        store: Store,
        config: ConfigHolder,
        audit: AuditTrail,
        interval: float,
        lease: Lease | None = None,
    ) -> None:
        self._store = store
        # One sweep at a time across processes: whoever takes the lease at an interval sweeps.
        self._lease = lease or Lease(store, "retention-sweep", seconds=SWEEP_LEASE_SECONDS)
        self._config = config
        self._audit = audit
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> PurgeReport:
        """Purge now."""
        windows = retentions(self._config)
        report = await purge_and_audit(self._store, self._audit, windows)
        for business_id, counts in report.removed.items():
            log.info("data.purged", business=business_id, **counts)
        return report

    async def start(self) -> None:
        """Sweep in the background."""
        self._task = asyncio.create_task(self._run(), name="retention-sweeper")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                if not await self._lease.keep():
                    continue  # another process sweeps this time
                try:
                    await self.sweep()
                finally:
                    await self._lease.release()
            except Exception:  # a failed sweep is retried at the next interval
                log.exception("retention.sweep_failed")

    async def close(self) -> None:
        """Stop sweeping."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
