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


@dataclass
class PurgeReport:
    """What a sweep removed (or would remove), per business and table."""

    dry_run: bool
    removed: dict[str, dict[str, int]] = field(default_factory=dict)

    def total(self, business_id: str) -> int:
        """Rows removed for one business."""
        return sum(self.removed.get(business_id, {}).values())


async def purge(
    tx: Unit, retentions: Mapping[str, timedelta], *, dry_run: bool, now: float | None = None
) -> PurgeReport:
    """Delete (or count, with ``dry_run``) everything past each business's retention, in the caller's unit."""
    report = PurgeReport(dry_run)
    for business_id, retention in retentions.items():
        counts = await tx.retention.expired(business_id, cutoff(retention, now), delete=not dry_run)
        if any(counts.values()):
            report.removed[business_id] = counts
    if not dry_run and retentions:
        await tx.retention.forget_processed(cutoff(max(retentions.values()), now))
    return report


def older_than(retention: timedelta) -> datetime:
    """The cutoff as a time, for the audit record."""
    return datetime.now(UTC) - retention
