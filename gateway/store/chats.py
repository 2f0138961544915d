"""Open chats: which users talk to which business, so a hosting change reaches each of them."""

from __future__ import annotations

import sqlite3
import time


def open_chat(db: sqlite3.Connection, business_id: str, user_id: str) -> bool:
    """Open (or refresh) a chat; return True when it is new."""
    now = time.time()
    cursor = db.execute(
        "INSERT INTO chats (business_id, user_id, opened_at, last_seen) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (business_id, user_id) DO UPDATE SET last_seen = excluded.last_seen"
        " RETURNING opened_at",
        (business_id, user_id, now, now),
    )
    (opened_at,) = cursor.fetchone()
    return bool(opened_at == now)


def open_chats_many(db: sqlite3.Connection, business_id: str, user_ids: list[str]) -> None:
    """Open many chats at once (bulk onboarding, tests and benchmarks)."""
    now = time.time()
    db.executemany(
        "INSERT INTO chats (business_id, user_id, opened_at, last_seen) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (business_id, user_id) DO UPDATE SET last_seen = excluded.last_seen",
        [(business_id, user, now, now) for user in user_ids],
    )


def users_after(db: sqlite3.Connection, business_id: str, after: str | None, limit: int) -> list[str]:
    """Users with an open chat, in user-id order, after ``after``."""
    rows = db.execute(
        "SELECT user_id FROM chats WHERE business_id = ? AND user_id > ? ORDER BY user_id LIMIT ?",
        (business_id, after or "", limit),
    ).fetchall()
    return [str(r[0]) for r in rows]
