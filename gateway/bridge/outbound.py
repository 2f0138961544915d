"""Businesses' messages to users: accepted once durably queued, with the current revision attached.

Each request is prepared here (its event, outbox row and audit record) and written
by :func:`~gateway.bridge.accepting.group_accept` with the requests that arrived
alongside it, in one unit.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import orjson

from gateway.audit.staging import render
from gateway.audit.trail import AuditTrail
from gateway.bridge.accepting import Answer, Idempotency, Prepared, SendRequest, group_accept
from gateway.bridge.models import outbound_message_json
from gateway.broker.cloudevents import CloudEvent
from gateway.broker.topology import OUTBOUND
from gateway.disclosure.service import DisclosureService
from gateway.errors import DisclosurePending
from gateway.events import OUTBOUND_MESSAGE
from gateway.ids import new_uuid7
from gateway.relay.relay import OutboxRelay
from gateway.relay.rows import outbox_row
from gateway.store import Store
from gateway.store.records import AcceptedMessage
from gateway.telemetry.tracing import TRACEPARENT

__all__ = ["Answer", "Idempotency", "OutboundService", "SendRequest", "request_hash"]


def request_hash(raw_body: bytes) -> str:
    """What an idempotency key is bound to: the exact request body."""
    return hashlib.sha256(raw_body).hexdigest()


class OutboundService:
    """Accepts businesses' messages into the outbox."""

    def __init__(
        self, store: Store, disclosures: DisclosureService, audit: AuditTrail, relay: OutboxRelay
    ) -> None:
        self._store = store
        self._disclosures = disclosures
        self._audit = audit
        self._groups = group_accept(store, relay.wake)

    async def send(self, request: SendRequest) -> Answer:
        """Queue the message durably; answer 202 with its id (or the earlier answer for the same key)."""
        latest = await self._disclosures.latest(request.business_id)
        if latest is None:
            raise DisclosurePending
        now = datetime.now(UTC)
        message_id = "msg_" + new_uuid7().hex
        data = outbound_message_json(
            message_id=message_id,
            business_id=request.business_id,
            recipient=request.recipient,
            payload=base64.b64encode(request.payload).decode(),
            content_type=request.content_type,
            revision=latest.revision,
            sent_at=now,
        )
        event = CloudEvent(
            id=message_id,
            type=OUTBOUND_MESSAGE,
            subject=request.business_id,
            time=now,
            data=data,
            extensions={TRACEPARENT: request.traceparent} if request.traceparent else {},
        )
        # A copy waiting in a queue must not outlive the business's retention either.
        expiration_ms = max(1, int(request.retention.total_seconds() * 1000))
        row = outbox_row(
            request.business_id,
            OUTBOUND.exchange,
            f"{request.business_id}.message",
            event,
            expiration_ms=expiration_ms,
        )
        # Rendered (and checked against its schema) here, outside the unit that stages it.
        audit = render(
            self._audit,
            "message.accepted",
            business=request.business_id,
            message_id=message_id,
            user=request.recipient,
            direction="outbound",
            revision=latest.revision,
        )
        message = AcceptedMessage(
            request.business_id, message_id, request.recipient, "outbound", latest.revision
        )
        body = orjson.dumps({"message_id": message_id, "status": "accepted", "revision": latest.revision})
        return await self._groups.write(Prepared.of(request, message, row, audit, body))
