"""Reads that decide one step of the product in a single statement, across tables.

A delivery decision needs several facts at once; on PostgreSQL each statement is
a round trip, and on SQLite each costs the loop's time. One statement of scalar
subqueries reads them all from one snapshot, including the two that let the
delivery's unit skip writes: whether the user's chat was seen recently, and
whether the endpoint is marked failing.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.store.records import InboundDecision, OutboundDecision
from gateway.store.sql import Row, Sql, padded_values

# Keyed by (business, message, user); the same reads for every message of a group in one statement.
# (VALUES …) names its columns column1, column2, … on both engines; a plain SELECT, so a read view runs it.
_INBOUND_MANY = (
    "SELECT asked.column1, asked.column2, asked.column3,"
    " (SELECT revision FROM disclosures WHERE business_id = asked.column1 ORDER BY revision DESC LIMIT 1),"
    " (SELECT status FROM messages"
    "  WHERE business_id = asked.column1 AND direction = 'inbound' AND message_id = asked.column2),"
    " (SELECT reason FROM endpoint_health WHERE business_id = asked.column1 AND disabled_at IS NOT NULL),"
    " (SELECT last_seen FROM chats WHERE business_id = asked.column1 AND user_id = asked.column3),"
    " (SELECT 1 FROM endpoint_health WHERE business_id = asked.column1 AND failing_since IS NOT NULL)"
    " FROM (VALUES {values}) AS asked"
)

_OUTBOUND = (
    "SELECT"
    " (SELECT decision FROM consents WHERE business_id = ? AND user_id = ?),"
    " (SELECT last_seen FROM chats WHERE business_id = ? AND user_id = ?)"
)

# The same two reads for a list of (business, user) pairs: one statement for a group of requests.
# (VALUES …) names its columns column1, column2 on both engines; a plain SELECT, so a read view runs it.
_OUTBOUND_MANY = (
    "SELECT asked.column1, asked.column2,"
    " (SELECT decision FROM consents WHERE business_id = asked.column1 AND user_id = asked.column2),"
    " (SELECT last_seen FROM chats WHERE business_id = asked.column1 AND user_id = asked.column2)"
    " FROM (VALUES {values}) AS asked"
)


def _outbound(decision: object, seen: float | None) -> OutboundDecision:
    return OutboundDecision(blocked=decision == "block", chat_seen=None if seen is None else float(seen))


class SqlDecisions:
    """Decisions over :class:`Sql`."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def inbound_many(
        self, asked: Sequence[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], InboundDecision]:
        """Per (business, message, user): newest revision, message status, endpoint state, chat seen."""
        if not asked:
            return {}
        values, args = padded_values(asked)
        rows: list[Row] = await self._sql.all(_INBOUND_MANY.format(values=values), args)
        return {
            (str(business), str(message), str(user)): InboundDecision(
                None if revision is None else int(revision),
                None if status is None else str(status),
                None if disabled is None else str(disabled),
                chat_seen=None if seen is None else float(seen),
                failing=failing is not None,
            )
            for business, message, user, revision, status, disabled, seen, failing in rows
        }

    async def outbound(self, business_id: str, user_id: str) -> OutboundDecision:
        """Whether the user's latest decision blocks the business, and when their chat was seen."""
        row = await self._sql.one(_OUTBOUND, (business_id, user_id, business_id, user_id))
        if row is None:  # a SELECT without FROM always answers one row
            return OutboundDecision(blocked=False, chat_seen=None)
        return _outbound(*row)

    async def outbound_many(
        self, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], OutboundDecision]:
        """:meth:`outbound` for many (business, user) pairs in one statement."""
        if not pairs:
            return {}
        values, args = padded_values(pairs)
        rows: list[Row] = await self._sql.all(_OUTBOUND_MANY.format(values=values), args)
        return {(str(r[0]), str(r[1])): _outbound(r[2], r[3]) for r in rows}
