"""Run the retention purge on a schedule, and on demand; audit what it removed."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Mapping
from datetime import timedelta
from functools import partial

import structlog

from gateway.audit.trail import AuditTrail
from gateway.reload import ConfigHolder
from gateway.rights.retention import PurgeReport, older_than, purge
from gateway.store.sqlite import SqliteStore

log = structlog.get_logger("hostgate.retention")


def retentions(config: ConfigHolder) -> dict[str, timedelta]:
    """Each business's declared retention, from the config in force."""
    return {b.id: b.facts.retention for b in config.current.businesses.values()}


def purge_and_audit(store: SqliteStore, audit: AuditTrail, windows: Mapping[str, timedelta]) -> PurgeReport:
    """One purge in one transaction; its audit records are on disk before it commits."""

    def work(conn: sqlite3.Connection) -> PurgeReport:
        report = purge(conn, windows, dry_run=False)
        for business_id, counts in report.removed.items():
            store.defer(
                audit.submit(
                    "data.purged",
                    business=business_id,
                    records=sum(counts.values()),
                    older_than=older_than(windows[business_id]),
                )
            )
        return report

    return store.transaction(work)


class RetentionSweeper:
    """A background task that purges every ``interval`` seconds."""

    def __init__(self, store: SqliteStore, config: ConfigHolder, audit: AuditTrail, interval: float) -> None:
        self._store = store
        self._config = config
        self._audit = audit
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> PurgeReport:
        """Purge now."""
        windows = retentions(self._config)
        report = await self._store.run(partial(purge_and_audit, self._store, self._audit, windows))
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
                await self.sweep()
            except Exception:  # a failed sweep is retried at the next interval
                log.exception("retention.sweep_failed")

    async def close(self) -> None:
        """Stop sweeping."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
