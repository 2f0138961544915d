"""Everything hostgate holds about one user, as a machine-readable document (never content).

The document follows ``docs/export.schema.json``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.rights.retention import cutoff

SCHEMA_ID = "https://hostgate.example/schemas/user-export-v1.json"


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def build_export(
    db: sqlite3.Connection, user_id: str, retentions: Mapping[str, timedelta], operators: Mapping[str, str]
) -> dict[str, Any]:
    """The export for ``user_id``; data past a business's retention is not included."""

    def live(business_id: str, at: float) -> bool:
        window = retentions.get(business_id)
        return window is not None and at >= cutoff(window)

    chats = [
        {"business_id": b, "opened_at": _iso(o), "last_seen": _iso(s)}
        for b, o, s in db.execute(
            "SELECT business_id, opened_at, last_seen FROM chats WHERE user_id = ? ORDER BY business_id",
            (user_id,),
        )
        if live(b, s)
    ]
    consents = [
        {"business_id": b, "decision": d, "decided_at": _iso(at)}
        for b, d, at in db.execute(
            "SELECT business_id, decision, decided_at FROM consents WHERE user_id = ? ORDER BY business_id",
            (user_id,),
        )
    ]
    notices = [
        {"business_id": b, "revision": r, "reason": reason, "notice_id": n, "sent_at": _iso(at)}
        for b, r, reason, n, at in db.execute(
            "SELECT business_id, revision, reason, notice_id, at FROM notices_sent"
            " WHERE user_id = ? ORDER BY at",
            (user_id,),
        )
        if live(b, at)
    ]
    messages = [
        {
            "message_id": m,
            "business_id": b,
            "direction": d,
            "status": s,
            "revision": r,
            "host": operators.get(b),
            "created_at": _iso(c),
            "updated_at": _iso(u),
        }
        for m, b, d, s, r, c, u in db.execute(
            "SELECT message_id, business_id, direction, status, revision, created_at, updated_at"
            " FROM messages WHERE user_id = ? ORDER BY created_at",
            (user_id,),
        )
        if live(b, c)
    ]
    return {
        "$schema": SCHEMA_ID,
        "user_id": user_id,
        "generated_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "chats": chats,
        "consents": consents,
        "notices": notices,
        "messages": messages,
    }
