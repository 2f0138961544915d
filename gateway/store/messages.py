"""Message metadata (never content), its status history, idempotency records and processed event ids."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from gateway.bridge.status import Status, merge


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """What hostgate holds about one message."""

    business_id: str
    message_id: str
    user_id: str
    direction: str
    status: Status
    revision: int
    failure: str | None
    created_at: float
    updated_at: float
    history: tuple[tuple[str, str | None, float], ...]


def insert(
    db: sqlite3.Connection, business_id: str, message_id: str, *, user_id: str, direction: str, revision: int
) -> bool:
    """Record a new message as accepted; False when the id exists already."""
    now = time.time()
    cursor = db.execute(
        "INSERT OR IGNORE INTO messages (business_id, message_id, user_id, direction, status, revision,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (business_id, message_id, user_id, direction, Status.ACCEPTED.value, revision, now, now),
    )
    if cursor.rowcount == 0:
        return False
    db.execute(
        "INSERT INTO message_events (business_id, message_id, status, at) VALUES (?, ?, ?, ?)",
        (business_id, message_id, Status.ACCEPTED.value, now),
    )
    return True


def apply_status(
    db: sqlite3.Connection, business_id: str, message_id: str, reported: Status, reason: str | None
) -> Status | None:
    """Apply a receipt; return the resulting status, or None for an unknown message."""
    row = db.execute(
        "SELECT status, failure FROM messages WHERE business_id = ? AND message_id = ?",
        (business_id, message_id),
    ).fetchone()
    if row is None:
        return None
    now = time.time()
    new = merge(Status(row[0]), reported)
    failure = (reason or "failed") if reported is Status.FAILED else row[1]
    db.execute(
        "UPDATE messages SET status = ?, failure = ?, updated_at = ?"
        " WHERE business_id = ? AND message_id = ?",
        (new.value, failure, now, business_id, message_id),
    )
    db.execute(
        "INSERT INTO message_events (business_id, message_id, status, reason, at) VALUES (?, ?, ?, ?, ?)",
        (business_id, message_id, reported.value, reason, now),
    )
    return new


def get(db: sqlite3.Connection, business_id: str, message_id: str) -> MessageRecord | None:
    """One message of one business (another business's id is simply not found)."""
    row = db.execute(
        "SELECT user_id, direction, status, revision, failure, created_at, updated_at FROM messages"
        " WHERE business_id = ? AND message_id = ?",
        (business_id, message_id),
    ).fetchone()
    if row is None:
        return None
    history = db.execute(
        "SELECT status, reason, at FROM message_events"
        " WHERE business_id = ? AND message_id = ? ORDER BY rowid",
        (business_id, message_id),
    ).fetchall()
    return MessageRecord(
        business_id,
        message_id,
        row[0],
        row[1],
        Status(row[2]),
        int(row[3]),
        row[4],
        float(row[5]),
        float(row[6]),
        tuple((str(h[0]), h[1], float(h[2])) for h in history),
    )


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """An answer kept for an idempotency key."""

    request_hash: str
    status: int
    body: bytes


def idempotent_response(db: sqlite3.Connection, business_id: str, key: str) -> StoredResponse | None:
    """The answer given before under this key, if any."""
    row = db.execute(
        "SELECT request_hash, status, response FROM idempotency WHERE business_id = ? AND key = ?",
        (business_id, key),
    ).fetchone()
    return None if row is None else StoredResponse(str(row[0]), int(row[1]), bytes(row[2]))


def remember_response(
    db: sqlite3.Connection, business_id: str, key: str, *, request_hash: str, status: int, body: bytes
) -> None:
    """Keep the answer for this key (in the same transaction as the work it reports)."""
    db.execute(
        "INSERT INTO idempotency (business_id, key, request_hash, status, response, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (business_id, key, request_hash, status, body, time.time()),
    )


def first_time(db: sqlite3.Connection, event_id: str) -> bool:
    """Mark an incoming event processed; False when it was already (a redelivery)."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO processed_events (event_id, at) VALUES (?, ?)", (event_id, time.time())
    )
    return cursor.rowcount == 1
