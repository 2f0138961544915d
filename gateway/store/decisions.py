"""Reads that decide one step of the product in a single statement, across tables.

A delivery decision needs three facts at once; on PostgreSQL each statement is a
round trip, and a delivery makes several already. One statement of scalar
subqueries reads all three from one snapshot.
"""

from __future__ import annotations

from gateway.store.records import InboundDecision
from gateway.store.sql import Sql

_INBOUND = (
    "SELECT"
    " (SELECT revision FROM disclosures WHERE business_id = ? ORDER BY revision DESC LIMIT 1),"
    " (SELECT status FROM messages WHERE business_id = ? AND direction = 'inbound' AND message_id = ?),"
    " (SELECT reason FROM endpoint_health WHERE business_id = ? AND disabled_at IS NOT NULL)"
)


class SqlDecisions:
    """Decisions over :class:`Sql`."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def inbound(self, business_id: str, message_id: str) -> InboundDecision:
        """The newest revision of the business, the status of the message if seen, why its endpoint is off."""
        row = await self._sql.one(_INBOUND, (business_id, business_id, message_id, business_id))
        if row is None:  # a SELECT without FROM always answers one row
            return InboundDecision(None, None, None)
        revision, status, disabled = row
        return InboundDecision(
            None if revision is None else int(revision),
            None if status is None else str(status),
            None if disabled is None else str(disabled),
        )
