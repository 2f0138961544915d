"""A message's status and history, as a business may read it."""

from __future__ import annotations

from datetime import timedelta

from gateway.rights.retention import cutoff
from gateway.store import Store
from gateway.store.records import MessageRecord


async def find_message(
    store: Store, business_id: str, message_id: str, retention: timedelta
) -> MessageRecord | None:
    """The message of this business, or None when unknown or past the business's retention."""
    async with store.read() as tx:
        # Ids are per direction; a business asks first about what it sent.
        record = await tx.messages.get(business_id, message_id, direction="outbound")
        if record is None:
            record = await tx.messages.get(business_id, message_id, direction="inbound")
    # Past the business's retention a message is no longer served, purged or not yet.
    if record is None or record.created_at < cutoff(retention):
        return None
    return record
