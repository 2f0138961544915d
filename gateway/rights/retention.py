"""Data about messages never outlives the business's declared retention.

Expired data stops being served at once (reads filter on the cutoff) and is then
deleted by a sweep: message metadata and status history, idempotency records,
notices sent, chats idle past the retention, and processed-event ids. Each
business's sweep is audited (``data.purged``). Outbound messages carry an AMQP
per-message expiration equal to the retention, so a copy waiting in a queue
expires too.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gateway.store import Unit


def cutoff(retention: timedelta, now: float | None = None) -> float:
    """The oldest timestamp still inside the retention."""
    return (time.time() if now is None else now) - retention.total_seconds()


# Rows a table per unit of work when deleting: a bounded hold on the store, however much expired.
PURGE_BATCH = 2000


@dataclass
class PurgeReport:
    """What a sweep removed (or would remove), per business and table."""

    dry_run: bool
    removed: dict[str, dict[str, int]] = field(default_factory=dict)
    # Deleting: some table gave a whole batch, so more may be waiting for the next one.
    more: bool = False

    def total(self, business_id: str) -> int:
        """Rows removed for one business."""
        return sum(self.removed.get(business_id, {}).values())

    def add(self, other: PurgeReport) -> None:
        """Count ``other``'s rows in too (the batches of one sweep)."""
        for business_id, counts in other.removed.items():
            mine = self.removed.setdefault(business_id, dict.fromkeys(counts, 0))
            for table, count in counts.items():
                mine[table] = mine.get(table, 0) + count


async def purge(
    tx: Unit,
    retentions: Mapping[str, timedelta],
    *,
    dry_run: bool,
    now: float | None = None,
    batch: int = PURGE_BATCH,
) -> PurgeReport:
    """Count everything past each business's retention (``dry_run``), or delete one batch of it.

    Deleting takes at most ``batch`` rows a table and business in the caller's unit;
    ``more`` says whether to call again (with the same ``now``) for the rest.
    """
    now = time.time() if now is None else now
    report = PurgeReport(dry_run)
    for business_id, retention in retentions.items():
        before = cutoff(retention, now)
        if dry_run:
            counts = await tx.retention.expired(business_id, before)
        else:
            counts = await tx.retention.delete_expired(business_id, before, batch)
            report.more = report.more or max(counts.values(), default=0) >= batch
        if any(counts.values()):
            report.removed[business_id] = counts
    if not dry_run and retentions:
        forgotten = await tx.retention.forget_processed(cutoff(max(retentions.values()), now), batch)
        report.more = report.more or forgotten >= batch
    return report


def older_than(retention: timedelta, now: float | None = None) -> datetime:
    """The cutoff as a time, for the audit record."""
    return datetime.fromtimestamp(cutoff(retention, now), UTC)
