"""Which notice each user was sent, with its revision and time (for exports; never content)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from gateway.store.sql import Sql


class SqlNotices:
    """Notices sent over :class:`Sql`."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def record_sent(
        self, business_id: str, revision: int, reason: str, sent: Iterable[tuple[str, str]]
    ) -> None:
        """Record notices confirmed by the broker: ``sent`` is (user id, notice id) pairs."""
        now = time.time()
        await self._sql.executemany(
            "INSERT INTO notices_sent (business_id, user_id, revision, reason, notice_id, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(business_id, user, revision, reason, notice_id, now) for user, notice_id in sent],
        )
