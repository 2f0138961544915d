"""What is past a business's retention: message metadata and history, idempotency, notices, chats.

Deleting goes in batches of at most ``limit`` rows per table (a message counts with its
history), so a sweep after a busy week never becomes one huge transaction: it holds the
store for a bounded time and its rollback state stays small.
"""

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

# The oldest expired messages of a business, in a fixed order: the history and then the
# messages of one batch are the same messages, so no history is ever left without its message.
_BATCH_OF_MESSAGES = (
    "SELECT business_id, direction, message_id FROM messages WHERE business_id = ? AND created_at < ?"
    " ORDER BY created_at, direction, message_id LIMIT ?"
)
_MESSAGE_KEY = "(business_id, direction, message_id)"
# A table without a key of its own is batched by the engine's row address (``row_id``).
_DELETE_BATCH = {
    "message_events": f"DELETE FROM message_events WHERE {_MESSAGE_KEY} IN ({_BATCH_OF_MESSAGES})",  # noqa: S608
    "messages": f"DELETE FROM messages WHERE {_MESSAGE_KEY} IN ({_BATCH_OF_MESSAGES})",  # noqa: S608
    "idempotency": (
        "DELETE FROM idempotency WHERE (business_id, key) IN"
        " (SELECT business_id, key FROM idempotency WHERE business_id = ? AND created_at < ? LIMIT ?)"
    ),
    "notices_sent": (
        "DELETE FROM notices_sent WHERE {row_id} IN"
        " (SELECT {row_id} FROM notices_sent WHERE business_id = ? AND at < ? LIMIT ?)"
    ),
    "chats": (
        "DELETE FROM chats WHERE (business_id, user_id) IN"
        " (SELECT business_id, user_id FROM chats WHERE business_id = ? AND last_seen < ? LIMIT ?)"
    ),
}


class SqlRetention:
    """Retention over :class:`Sql`."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def expired(self, business_id: str, before: float) -> dict[str, int]:
        """Rows older than ``before`` per table (nothing deleted)."""
        counts: dict[str, int] = {}
        for table in TABLES:
            row = await self._sql.one(_COUNT[table], (business_id, before))
            counts[table] = 0 if row is None else int(row[0])
        return counts

    async def delete_expired(self, business_id: str, before: float, limit: int) -> dict[str, int]:
        """Delete up to ``limit`` rows a table older than ``before`` (a message with its history)."""
        counts: dict[str, int] = {}
        for table in TABLES:
            statement = _DELETE_BATCH[table].format(row_id=self._sql.row_id)
            counts[table] = await self._sql.execute(statement, (business_id, before, limit))
        return counts

    async def forget_processed(self, before: float, limit: int) -> int:
        """Drop at most ``limit`` processed-event ids older than ``before``; how many went."""
        return await self._sql.execute(
            "DELETE FROM processed_events WHERE (event_type, event_id) IN"
            " (SELECT event_type, event_id FROM processed_events WHERE at < ? LIMIT ?)",
            (before, limit),
        )
