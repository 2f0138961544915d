"""Whether a business's endpoint is healthy, failing since when, or disabled (and why)."""

from __future__ import annotations

import sqlite3
import time


def record_success(db: sqlite3.Connection, business_id: str) -> None:
    """A delivery went through: the endpoint is not failing."""
    db.execute("UPDATE endpoint_health SET failing_since = NULL WHERE business_id = ?", (business_id,))


def record_failure(db: sqlite3.Connection, business_id: str) -> float:
    """A delivery failed; return since when the endpoint has been failing."""
    now = time.time()
    db.execute(
        "INSERT INTO endpoint_health (business_id, failing_since) VALUES (?, ?)"
        " ON CONFLICT (business_id) DO UPDATE"
        " SET failing_since = coalesce(failing_since, excluded.failing_since)",
        (business_id, now),
    )
    (since,) = db.execute(
        "SELECT failing_since FROM endpoint_health WHERE business_id = ?", (business_id,)
    ).fetchone()
    return float(since)


def disable(db: sqlite3.Connection, business_id: str, reason: str) -> bool:
    """Disable the endpoint; False when it already was."""
    cursor = db.execute(
        "INSERT INTO endpoint_health (business_id, disabled_at, reason) VALUES (?, ?, ?)"
        " ON CONFLICT (business_id) DO UPDATE"
        " SET disabled_at = excluded.disabled_at, reason = excluded.reason"
        " WHERE endpoint_health.disabled_at IS NULL",
        (business_id, time.time(), reason),
    )
    return cursor.rowcount == 1


def enable(db: sqlite3.Connection, business_id: str) -> bool:
    """Re-enable the endpoint; False when it was not disabled."""
    cursor = db.execute(
        "UPDATE endpoint_health SET disabled_at = NULL, reason = NULL, failing_since = NULL"
        " WHERE business_id = ? AND disabled_at IS NOT NULL",
        (business_id,),
    )
    return cursor.rowcount == 1


def disabled_reason(db: sqlite3.Connection, business_id: str) -> str | None:
    """Why the endpoint is disabled, or None when it is not."""
    row = db.execute(
        "SELECT reason FROM endpoint_health WHERE business_id = ? AND disabled_at IS NOT NULL", (business_id,)
    ).fetchone()
    return None if row is None else str(row[0])
