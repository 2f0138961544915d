"""Message status that never goes backwards, whatever order receipts arrive in.

Statuses form a chain ``accepted < sent < failed < delivered < read``; a
message's status is the highest one any receipt reported. So a late
``delivered`` after ``read`` changes nothing, and ``failed`` overrides ``sent``
but not a later proof of delivery. Every failure is kept in the history (and
in ``failure``) even when a delivery outranks it: it is never lost.
"""

from __future__ import annotations

from enum import StrEnum


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
