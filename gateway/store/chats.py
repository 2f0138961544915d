"""Open chats: which users talk to which business, so a hosting change reaches each of them."""

from __future__ import annotations

import time
from collections.abc import Sequence

from gateway.store.sql import Sql

_OPEN = (
    "INSERT INTO chats (business_id, user_id, opened_at, last_seen) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (business_id, user_id) DO UPDATE SET last_seen = excluded.last_seen"
)


class SqlChats:
    """Chats over :class:`Sql`."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def open(self, business_id: str, user_id: str, *, refresh_after: float = 0.0) -> bool:
        """Open (or refresh) a chat; True when it is new. Seen within ``refresh_after`` s: no write at all."""
        now = time.time()
        if refresh_after > 0:
            # A read takes no lock: a user's burst of messages does not queue on their chat's row.
            seen = await self._sql.one(
                "SELECT last_seen FROM chats WHERE business_id = ? AND user_id = ?", (business_id, user_id)
            )
            if seen is not None and float(seen[0]) >= now - refresh_after:
                return False
        row = await self._sql.one(_OPEN + " RETURNING opened_at", (business_id, user_id, now, now))
        assert row is not None  # noqa: S101 -- an upsert with RETURNING always returns its row
        return bool(row[0] == now)

    async def open_many(self, business_id: str, user_ids: Sequence[str]) -> None:
        """Open many chats at once (bulk onboarding, tests and benchmarks)."""
        now = time.time()
        await self._sql.executemany(_OPEN, [(business_id, user, now, now) for user in user_ids])

    async def users_after(self, business_id: str, after: str | None, limit: int) -> list[str]:
        """Users with an open chat, in user-id (byte) order, after ``after``."""
        rows = await self._sql.all(
            "SELECT user_id FROM chats WHERE business_id = ? AND user_id > ? ORDER BY user_id LIMIT ?",
            (business_id, after or "", limit),
        )
        return [str(r[0]) for r in rows]
