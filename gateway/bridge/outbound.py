"""Businesses' messages to users: accepted once durably queued, with the current revision attached."""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from gateway.audit.staging import stage
from gateway.audit.trail import AuditTrail
from gateway.bridge.models import outbound_message_json
from gateway.bridge.status import Status, chat_refresh_seconds
from gateway.broker.cloudevents import CloudEvent
from gateway.broker.topology import OUTBOUND
from gateway.disclosure.service import DisclosureService
from gateway.errors import DisclosurePending, IdempotencyKeyReused, RecipientBlocked
from gateway.events import OUTBOUND_MESSAGE
from gateway.ids import new_uuid7
from gateway.relay.relay import OutboxRelay
from gateway.relay.rows import outbox_row
from gateway.store import Store, Unit
from gateway.store.records import StoredResponse
from gateway.telemetry.tracing import TRACEPARENT

ACCEPTED = 202


@dataclass(frozen=True, slots=True)
class Idempotency:
    """A request's ``Idempotency-Key`` and what the key is bound to: the hash of the exact body."""

    key: str
    request_hash: str


@dataclass(frozen=True, slots=True)
class SendRequest:
    """A validated ``POST /v1/messages`` from one business."""

    business_id: str
    recipient: str
    payload: bytes
    content_type: str
    idempotency: Idempotency | None
    retention: timedelta
    # The request's span, carried to the network as the CloudEvents ``traceparent`` extension.
    traceparent: str | None = None


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
        self, store: Store, disclosures: DisclosureService, audit: AuditTrail, relay: OutboxRelay
    ) -> None:
        self._store = store
        self._disclosures = disclosures
        self._audit = audit
        self._relay = relay

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
        body = orjson.dumps({"message_id": message_id, "status": "accepted", "revision": latest.revision})
        async with self._store.unit() as tx:
            answer = await self._accept(tx, request, event, latest.revision, body)
        self._relay.wake()
        return answer

    async def _accept(
        self, tx: Unit, request: SendRequest, event: CloudEvent, revision: int, body: bytes
    ) -> Answer:
        idempotency = request.idempotency
        if idempotency is not None:
            earlier = await tx.messages.idempotent_response(request.business_id, idempotency.key)
            if earlier is not None:
                if earlier.request_hash != idempotency.request_hash:
                    raise IdempotencyKeyReused
                return Answer(earlier.status, earlier.body)
        # One read for the consent and the chat: a statement less per request.
        decision = await tx.decisions.outbound(request.business_id, request.recipient)
        if decision.blocked:
            raise RecipientBlocked
        await tx.messages.insert(
            request.business_id,
            event.id,
            user_id=request.recipient,
            direction="outbound",
            status=Status.ACCEPTED.value,
            revision=revision,
        )
        # A chat seen lately is not touched: a user's burst of messages does not rewrite its row.
        refresh = chat_refresh_seconds(request.retention.total_seconds())
        if decision.chat_seen is None or decision.chat_seen < time.time() - refresh:
            await tx.chats.open(request.business_id, request.recipient)
        # A copy waiting in a queue must not outlive the business's retention either.
        expiration_ms = max(1, int(request.retention.total_seconds() * 1000))
        await tx.outbox.append(
            outbox_row(
                request.business_id,
                OUTBOUND.exchange,
                f"{request.business_id}.message",
                event,
                expiration_ms=expiration_ms,
            )
        )
        await stage(
            tx,
            self._audit,
            "message.accepted",
            business=request.business_id,
            message_id=event.id,
            user=request.recipient,
            direction="outbound",
            revision=revision,
        )
        if idempotency is not None:
            await tx.messages.remember_response(
                request.business_id,
                idempotency.key,
                StoredResponse(request_hash=idempotency.request_hash, status=ACCEPTED, body=body),
            )
        return Answer(ACCEPTED, body)
