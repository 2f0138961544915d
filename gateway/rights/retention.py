"""Data about messages never outlives the business's declared retention.

Expired data stops being served at once (reads filter on the cutoff) and is then
deleted by a sweep: message metadata and status history, idempotency records,
notices sent, chats idle past the retention, and processed-event ids. Each
business's sweep is audited (``data.purged``). Outbound messages carry an AMQP
per-message expiration equal to the retention, so a copy waiting in a queue
expires too.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

TABLES = ("messages", "message_events", "idempotency", "notices_sent", "chats")


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


_WHERE = {
    "messages": "business_id = ? AND created_at < ?",
    "message_events": (
        "(business_id, message_id) IN (SELECT business_id, message_id FROM messages"
        " WHERE business_id = ? AND created_at < ?)"
    ),
    "idempotency": "business_id = ? AND created_at < ?",
    "notices_sent": "business_id = ? AND at < ?",
    "chats": "business_id = ? AND last_seen < ?",
}
# Children before parents: message events are found through their message.
_ORDER = ("message_events", "messages", "idempotency", "notices_sent", "chats")
# Built once from the constants above; no caller input reaches the SQL text.
_COUNT = {t: f"SELECT count(*) FROM {t} WHERE {_WHERE[t]}" for t in _ORDER}  # noqa: S608
_DELETE = {t: f"DELETE FROM {t} WHERE {_WHERE[t]}" for t in _ORDER}  # noqa: S608


def purge(
    db: sqlite3.Connection, retentions: Mapping[str, timedelta], *, dry_run: bool, now: float | None = None
) -> PurgeReport:
    """Delete (or count, with ``dry_run``) everything past each business's retention."""
    report = PurgeReport(dry_run)
    for business_id, retention in retentions.items():
        args = (business_id, cutoff(retention, now))
        counts = {
            table: int(db.execute(_COUNT[table], args).fetchone()[0])
            if dry_run
            else db.execute(_DELETE[table], args).rowcount
            for table in _ORDER
        }
        if any(counts.values()):
            report.removed[business_id] = counts
    if not dry_run and retentions:
        db.execute("DELETE FROM processed_events WHERE at < ?", (cutoff(max(retentions.values()), now),))
    return report


def older_than(retention: timedelta) -> datetime:
    """The cutoff as a time, for the audit record."""
    return datetime.now(UTC) - retention
