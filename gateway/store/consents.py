"""Users' decisions to allow or block a business: the latest decision (by when it was made) wins."""

from __future__ import annotations

import sqlite3
import time


def record(db: sqlite3.Connection, business_id: str, user_id: str, decision: str, decided_at: float) -> bool:
    """Store a decision unless a later one is already stored; True when it took effect."""
    cursor = db.execute(
        "INSERT INTO consents (business_id, user_id, decision, decided_at, recorded_at)"
        " VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (business_id, user_id) DO UPDATE SET decision = excluded.decision,"
        " decided_at = excluded.decided_at, recorded_at = excluded.recorded_at"
        " WHERE excluded.decided_at >= consents.decided_at",
        (business_id, user_id, decision, decided_at, time.time()),
    )
    return cursor.rowcount == 1


def is_blocked(db: sqlite3.Connection, business_id: str, user_id: str) -> bool:
    """Whether the user's latest decision about this business is to block it."""
    row = db.execute(
        "SELECT decision FROM consents WHERE business_id = ? AND user_id = ?", (business_id, user_id)
    ).fetchone()
    return row is not None and row[0] == "block"
