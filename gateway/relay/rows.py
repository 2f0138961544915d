"""CloudEvents in and out of outbox rows (the store keeps plain headers and bytes)."""

from __future__ import annotations

from gateway.broker.cloudevents import CloudEvent, parse
from gateway.store.records import NewOutboxRow, OutboxRow, RowKind


def outbox_row(
    business_id: str,
    exchange: str,
    routing_key: str,
    event: CloudEvent,
    *,
    kind: RowKind = RowKind.EVENT,
    expiration_ms: int | None = None,
) -> NewOutboxRow:
    """The row that publishes ``event`` to ``exchange`` with ``routing_key``."""
    return NewOutboxRow(
        business_id=business_id,
        kind=kind,
        exchange=exchange,
        routing_key=routing_key,
        event_id=event.id,
        event_type=event.type,
        headers=dict(event.headers()),
        body=event.data,
        expiration_ms=expiration_ms,
    )


def event_of(row: OutboxRow) -> CloudEvent:
    """The CloudEvent a stored row carries."""
    return parse(row.headers, row.body)
