"""What is past a business's retention: message metadata and history, idempotency, notices, chats."""

from __future__ import annotations

from gateway.store.sql import Sql

_WHERE = {
    "messages": "business_id = ? AND created_at < ?",
    "message_events": (
        "(business_id, direction, message_id) IN (SELECT business_id, direction, message_id FROM messages"
        " WHERE business_id = ? AND created_at < ?)"
    ),
    "idempotency": "business_id = ? AND created_at < ?",
    "notices_sent": "business_id = ? AND at < ?",
    "chats": "business_id = ? AND last_seen < ?",
}
# Children before parents: message events are found through their message.
TABLES = ("message_events", "messages", "idempotency", "notices_sent", "chats")
# Built once from the constants above; no caller input reaches the SQL text.
_COUNT = {t: f"SELECT count(*) FROM {t} WHERE {_WHERE[t]}" for t in TABLES}  # noqa: S608
_DELETE = {t: f"DELETE FROM {t} WHERE {_WHERE[t]}" for t in TABLES}  # noqa: S608


class SqlRetention:
    """Retention over :class:`Sql`."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def expired(self, business_id: str, before: float, *, delete: bool) -> dict[str, int]:
        """Rows older than ``before`` per table, deleted when ``delete``."""
        args = (business_id, before)
        counts: dict[str, int] = {}
        for table in TABLES:
            if delete:
                counts[table] = await self._sql.execute(_DELETE[table], args)
            else:
                row = await self._sql.one(_COUNT[table], args)
                counts[table] = 0 if row is None else int(row[0])
        return counts

    async def forget_processed(self, before: float) -> None:
        """Drop processed-event ids older than ``before``."""
        await self._sql.execute("DELETE FROM processed_events WHERE at < ?", (before,))
