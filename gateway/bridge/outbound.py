"""Businesses' messages to users: accepted once durably queued, with the current revision attached."""

from __future__ import annotations

import base64
import hashlib
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import orjson

from gateway.audit.staging import stage
from gateway.audit.trail import AuditTrail
from gateway.bridge.models import OutboundMessage
from gateway.broker.cloudevents import CloudEvent
from gateway.broker.relay import OutboxRelay
from gateway.broker.topology import OUTBOUND
from gateway.disclosure.document import canonical_json
from gateway.disclosure.service import DisclosureService
from gateway.errors import RequestError
from gateway.events import OUTBOUND_MESSAGE
from gateway.ids import new_uuid
from gateway.store import chats, consents, messages, outbox
from gateway.store.sqlite import SqliteStore

ACCEPTED = 202


@dataclass(frozen=True, slots=True)
class SendRequest:
    """A validated ``POST /v1/messages`` from one business."""

    business_id: str
    recipient: str
    payload: bytes
    content_type: str
    idempotency_key: str | None
    request_hash: str
    retention: timedelta


@dataclass(frozen=True, slots=True)
class Answer:
    """The HTTP status and JSON body to return (the same again for a repeated idempotency key)."""

    status: int
    body: bytes


def request_hash(raw_body: bytes) -> str:
    """What an idempotency key is bound to: the exact request body."""
    return hashlib.sha256(raw_body).hexdigest()


class OutboundService:
    """Accepts businesses' messages into the outbox."""

    def __init__(
        self, store: SqliteStore, disclosures: DisclosureService, audit: AuditTrail, relay: OutboxRelay
    ) -> None:
        self._store = store
        self._disclosures = disclosures
        self._audit = audit
        self._relay = relay

    async def send(self, request: SendRequest) -> Answer:
        """Queue the message durably; answer 202 with its id (or the earlier answer for the same key)."""
        latest = await self._disclosures.latest(request.business_id)
        if latest is None:
            raise RequestError(503, "disclosure_pending", "the business has no published disclosure yet")
        now = datetime.now(UTC)
        message_id = "msg_" + new_uuid().hex
        data = OutboundMessage(
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
            data=canonical_json(data.model_dump(mode="json")),
        )
        body = orjson.dumps({"message_id": message_id, "status": "accepted", "revision": latest.revision})
        answer = await self._store.transact(partial(self._accept, request, event, latest.revision, body))
        self._relay.wake()
        return answer

    def _accept(
        self, request: SendRequest, event: CloudEvent, revision: int, body: bytes, db: sqlite3.Connection
    ) -> Answer:
        if request.idempotency_key is not None:
            earlier = messages.idempotent_response(db, request.business_id, request.idempotency_key)
            if earlier is not None:
                if earlier.request_hash != request.request_hash:
                    raise RequestError(
                        409, "idempotency_key_reused", "this Idempotency-Key was used with a different body"
                    )
                return Answer(earlier.status, earlier.body)
        if consents.is_blocked(db, request.business_id, request.recipient):
            raise RequestError(
                403, "user_blocked", "the recipient has blocked this business; nothing was sent"
            )
        messages.insert(
            db,
            request.business_id,
            event.id,
            user_id=request.recipient,
            direction="outbound",
            revision=revision,
        )
        chats.open_chat(db, request.business_id, request.recipient)
        # A copy waiting in a queue must not outlive the business's retention either.
        expiration_ms = max(1, int(request.retention.total_seconds() * 1000))
        outbox.queue(
            db, request.business_id, OUTBOUND.exchange, f"{request.business_id}.message", event, expiration_ms
        )
        stage(
            db,
            self._audit,
            "message.accepted",
            business=request.business_id,
            message_id=event.id,
            user=request.recipient,
            direction="outbound",
            revision=revision,
        )
        if request.idempotency_key is not None:
            messages.remember_response(
                db,
                request.business_id,
                request.idempotency_key,
                request_hash=request.request_hash,
                status=ACCEPTED,
                body=body,
            )
        return Answer(ACCEPTED, body)
