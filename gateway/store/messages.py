"""Message metadata (never content), its status history, idempotency records and processed event ids."""

from __future__ import annotations

import time
from collections.abc import Sequence

from gateway.store.records import (
    AcceptedMessage,
    FinishedMessage,
    MessageRecord,
    MessageState,
    StoredResponse,
)
from gateway.store.sql import Sql, padded_values

# Every message's first status, implied by its row (see the v11 migration): never a history row.
ACCEPTED = "accepted"
_INSERT = (
    "INSERT INTO messages (business_id, message_id, user_id, direction, status, revision, failure,"
    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_HISTORY = (
    "INSERT INTO message_events (business_id, direction, message_id, status, reason, at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_REMEMBER = (
    "INSERT INTO idempotency (business_id, key, request_hash, status, response, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
# (VALUES …) names its columns column1, column2 on both engines; a plain SELECT, so a read view runs it.
_ANSWERS = (
    "SELECT i.business_id, i.key, i.request_hash, i.status, i.response FROM (VALUES {values}) AS asked"
    " JOIN idempotency i ON i.business_id = asked.column1 AND i.key = asked.column2"
)


class SqlMessages:
    """Messages over :class:`Sql`."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def insert(
        self,
        business_id: str,
        message_id: str,
        *,
        user_id: str,
        direction: str,
        status: str,
        revision: int,
        failure: str | None = None,
        after_accepted: Sequence[tuple[str, str | None]] = (),
    ) -> bool:
        """Record a new message in ``status``; False when the id exists already.

        Its history is ``accepted`` at ``created_at``, then ``after_accepted`` (statuses and
        reasons, oldest first; ``status`` alone when that is empty and ``status`` is not ``accepted``).
        """
        now = time.time()
        added = await self._sql.execute(
            _INSERT + " ON CONFLICT DO NOTHING",
            (business_id, message_id, user_id, direction, status, revision, failure, now, now),
        )
        if added == 0:
            return False
        rows = after_accepted or ([] if status == ACCEPTED else [(status, None)])
        if not rows:
            # Every message begins accepted at its created_at: the row says so, no history row needed.
            return True
        # One statement for the whole history: executemany costs more per call than it saves for two rows.
        await self._sql.execute(
            "INSERT INTO message_events (business_id, direction, message_id, status, reason, at) VALUES "  # noqa: S608 -- placeholders only
            + ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(rows)),
            [
                v
                for reported, reason in rows
                for v in (business_id, direction, message_id, reported, reason, now)
            ],
        )
        return True

    async def accept_many(self, messages: Sequence[AcceptedMessage]) -> None:
        """Record new messages in ``accepted`` in one statement; StoreConflict if any exists."""
        now = time.time()
        await self._sql.executemany(
            _INSERT,
            [
                (m.business_id, m.message_id, m.user_id, m.direction, ACCEPTED, m.revision, None, now, now)
                for m in messages
            ],
        )

    async def insert_many(self, messages: Sequence[FinishedMessage]) -> None:
        """Record new messages, each in its status with its one history entry; StoreConflict if any exists."""
        now = time.time()
        await self._sql.executemany(
            _INSERT,
            [
                (
                    m.business_id,
                    m.message_id,
                    m.user_id,
                    m.direction,
                    m.status,
                    m.revision,
                    m.failure,
                    now,
                    now,
                )
                for m in messages
            ],
        )
        await self._sql.executemany(
            _HISTORY, [(m.business_id, m.direction, m.message_id, m.status, m.reason, now) for m in messages]
        )

    async def state(self, business_id: str, message_id: str, *, direction: str) -> MessageState | None:
        """The status and failure of a message, or None when unknown."""
        # Locked until the unit ends: two receipts for one message merge one after the other.
        row = await self._sql.one(
            "SELECT status, failure FROM messages WHERE business_id = ? AND direction = ? AND message_id = ?"  # noqa: S608 -- a constant suffix
            + self._sql.for_update,
            (business_id, direction, message_id),
        )
        return None if row is None else MessageState(str(row[0]), row[1])

    async def set_state(
        self,
        business_id: str,
        message_id: str,
        state: MessageState,
        *,
        direction: str,
        reported: str,
        reason: str | None,
    ) -> None:
        """Store the new state and append what was reported to the history."""
        now = time.time()
        await self._sql.execute(
            "UPDATE messages SET status = ?, failure = ?, updated_at = ?"
            " WHERE business_id = ? AND direction = ? AND message_id = ?",
            (state.status, state.failure, now, business_id, direction, message_id),
        )
        await self._sql.execute(_HISTORY, (business_id, direction, message_id, reported, reason, now))

    async def get(self, business_id: str, message_id: str, *, direction: str) -> MessageRecord | None:
        """One message of one business in one direction (another business's id is simply not found)."""
        row = await self._sql.one(
            "SELECT user_id, direction, status, revision, failure, created_at, updated_at FROM messages"
            " WHERE business_id = ? AND direction = ? AND message_id = ?",
            (business_id, direction, message_id),
        )
        if row is None:
            return None
        history = await self._sql.all(
            "SELECT status, reason, at FROM message_events"
            " WHERE business_id = ? AND direction = ? AND message_id = ? ORDER BY id",
            (business_id, direction, message_id),
        )
        created_at = float(row[5])
        return MessageRecord(
            business_id,
            message_id,
            str(row[0]),
            str(row[1]),
            str(row[2]),
            int(row[3]),
            row[4],
            created_at,
            float(row[6]),
            ((ACCEPTED, None, created_at), *((str(h[0]), h[1], float(h[2])) for h in history)),
        )

    async def idempotent_response(self, business_id: str, key: str) -> StoredResponse | None:
        """The answer given before under this key, if any."""
        row = await self._sql.one(
            "SELECT request_hash, status, response FROM idempotency WHERE business_id = ? AND key = ?",
            (business_id, key),
        )
        return None if row is None else StoredResponse(str(row[0]), int(row[1]), bytes(row[2]))

    async def remember_response(self, business_id: str, key: str, response: StoredResponse) -> None:
        """Keep the answer for this key (in the same unit as the work it reports)."""
        await self._sql.execute(
            _REMEMBER, (business_id, key, response.request_hash, response.status, response.body, time.time())
        )

    async def idempotent_responses(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], StoredResponse]:
        """The answers given before under any of these (business, key) pairs, in one statement."""
        if not keys:
            return {}
        values, args = padded_values(keys)
        rows = await self._sql.all(_ANSWERS.format(values=values), args)
        return {(str(r[0]), str(r[1])): StoredResponse(str(r[2]), int(r[3]), bytes(r[4])) for r in rows}

    async def remember_responses(self, answers: Sequence[tuple[str, str, StoredResponse]]) -> None:
        """Keep answers for (business, key) pairs in one statement; StoreConflict if a key is kept."""
        now = time.time()
        await self._sql.executemany(
            _REMEMBER, [(b, k, r.request_hash, r.status, r.body, now) for b, k, r in answers]
        )


class SqlProcessedEvents:
    """Processed event ids over :class:`Sql`."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def first_time(self, event_type: str, event_id: str) -> bool:
        """Mark (type, id) processed; False when it already was (a redelivery)."""
        added = await self._sql.execute(
            "INSERT INTO processed_events (event_type, event_id, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (event_type, event_id, time.time()),
        )
        return added == 1
