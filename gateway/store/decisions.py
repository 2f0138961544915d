"""Reads that decide one step of the product in a single statement, across tables.

A delivery decision needs several facts at once; on PostgreSQL each statement is
a round trip, and on SQLite each costs the loop's time. One statement of scalar
subqueries reads them all from one snapshot, including the two that let the
delivery's unit skip writes: whether the user's chat was seen recently, and
whether the endpoint is marked failing.
"""

from __future__ import annotations

from gateway.store.records import InboundDecision, OutboundDecision
from gateway.store.sql import Sql

_INBOUND = (
    "SELECT"
    " (SELECT revision FROM disclosures WHERE business_id = ? ORDER BY revision DESC LIMIT 1),"
    " (SELECT status FROM messages WHERE business_id = ? AND direction = 'inbound' AND message_id = ?),"
    " (SELECT reason FROM endpoint_health WHERE business_id = ? AND disabled_at IS NOT NULL),"
    " (SELECT last_seen FROM chats WHERE business_id = ? AND user_id = ?),"
    " (SELECT 1 FROM endpoint_health WHERE business_id = ? AND failing_since IS NOT NULL)"
)

_OUTBOUND = (
    "SELECT"
    " (SELECT decision FROM consents WHERE business_id = ? AND user_id = ?),"
    " (SELECT last_seen FROM chats WHERE business_id = ? AND user_id = ?)"
)


class SqlDecisions:
    """Decisions over :class:`Sql`."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def inbound(self, business_id: str, message_id: str, user_id: str) -> InboundDecision:
        """The business's newest revision, the message's status, the endpoint, when the chat was seen."""
        row = await self._sql.one(
            _INBOUND, (business_id, business_id, message_id, business_id, business_id, user_id, business_id)
        )
        if row is None:  # a SELECT without FROM always answers one row
            return InboundDecision(None, None, None)
        revision, status, disabled, seen, failing = row
        return InboundDecision(
            None if revision is None else int(revision),
            None if status is None else str(status),
            None if disabled is None else str(disabled),
            chat_seen=None if seen is None else float(seen),
            failing=failing is not None,
        )

    async def outbound(self, business_id: str, user_id: str) -> OutboundDecision:
        """Whether the user's latest decision blocks the business, and when their chat was seen."""
        row = await self._sql.one(_OUTBOUND, (business_id, user_id, business_id, user_id))
        if row is None:  # a SELECT without FROM always answers one row
            return OutboundDecision(blocked=False, chat_seen=None)
        decision, seen = row
        return OutboundDecision(blocked=decision == "block", chat_seen=None if seen is None else float(seen))
