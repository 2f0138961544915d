"""Message status that never goes backwards, whatever order receipts arrive in.

Statuses form a chain ``accepted < sent < failed < delivered < read``; a
message's status is the highest one any receipt reported. So a late
``delivered`` after ``read`` changes nothing, and ``failed`` overrides ``sent``
but not a later proof of delivery. Every failure is kept in the history (and
in ``failure``) even when a delivery outranks it: it is never lost.
"""

from __future__ import annotations

from enum import StrEnum

from gateway.store.port import Messages
from gateway.store.records import MessageState


class Status(StrEnum):
    """Where a message stands."""

    ACCEPTED = "accepted"
    SENT = "sent"
    FAILED = "failed"
    DELIVERED = "delivered"
    READ = "read"


RANK = {status: rank for rank, status in enumerate(Status)}


def merge(current: Status, reported: Status) -> Status:
    """The status after a receipt: the higher of the two."""
    return reported if RANK[reported] > RANK[current] else current


def chat_refresh_seconds(retention_seconds: float) -> float:
    """How long a chat's last_seen may lag: an hour, or a tenth of a short retention.

    Writing it on every message would make one user's burst queue on their chat's row; a
    lag of a tenth of the retention can at most purge an idle-looking chat that early.
    """
    return min(3600.0, retention_seconds / 10)


def chat_needs_write(seen: float | None, refresh_seconds: float, now: float) -> bool:
    """Whether a chat last seen at ``seen`` (None: no chat yet) is written now (opened or refreshed)."""
    return seen is None or seen < now - refresh_seconds


async def apply_receipt(
    messages: Messages,
    business_id: str,
    message_id: str,
    reported: Status,
    reason: str | None,
    *,
    direction: str = "outbound",
) -> Status | None:
    """Apply a receipt in the caller's unit; return the resulting status, or None for an unknown message."""
    current = await messages.state(business_id, message_id, direction=direction)
    if current is None:
        return None
    new = merge(Status(current.status), reported)
    failure = (reason or "failed") if reported is Status.FAILED else current.failure
    await messages.set_state(
        business_id,
        message_id,
        MessageState(new.value, failure),
        direction=direction,
        reported=reported.value,
        reason=reason,
    )
    return new
