"""Users' decisions to allow or block a business: the latest decision (by when it was made) wins."""

from __future__ import annotations

import time

from gateway.store.sql import Sql


class SqlConsents:
    """Consents over :class:`Sql`."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def record(self, business_id: str, user_id: str, decision: str, decided_at: float) -> bool:
        """Store a decision unless a later one is already stored; True when it took effect."""
        changed = await self._sql.execute(
            "INSERT INTO consents (business_id, user_id, decision, decided_at, recorded_at)"
            " VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (business_id, user_id) DO UPDATE SET decision = excluded.decision,"
            " decided_at = excluded.decided_at, recorded_at = excluded.recorded_at"
            " WHERE excluded.decided_at >= consents.decided_at",
            (business_id, user_id, decision, decided_at, time.time()),
        )
        return changed == 1
