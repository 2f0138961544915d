"""Users' sealed messages to businesses: deliver only what was sealed to the current key.

A message sealed to the business's current endpoint key goes to its hosting
adapter. Any other key means the client was shown an older disclosure: the
message is not delivered; the network gets a ``disclosure_stale`` receipt and
the user a notice with the current disclosure, so the client shows it and
re-seals. Either way the chat is opened (or refreshed) for later notices.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Literal

import structlog

from adapters.base import Envelope
from gateway.audit.trail import AuditTrail
from gateway.bridge.models import InboundMessage, InboundReceipt
from gateway.bridge.status import Status
from gateway.broker.cloudevents import CloudEvent
from gateway.broker.relay import OutboxRelay
from gateway.broker.topology import NOTICES, OUTBOUND
from gateway.config.loader import Business
from gateway.disclosure.document import DisclosureDocument, canonical_json, notice_template
from gateway.disclosure.keys import KeyRing
from gateway.disclosure.service import DisclosureService
from gateway.disclosure.signed import signed_event
from gateway.errors import PoisonMessageError
from gateway.events import INBOUND_MESSAGE, INBOUND_RECEIPT, NOTICE_PUBLISHED
from gateway.reload import ConfigHolder
from gateway.store import chats, messages, notices, outbox
from gateway.store.sqlite import SqliteStore

log = structlog.get_logger("hostgate.inbound")


class InboundHandler:
    """Handles one ``com.hostgate.message.inbound`` event at a time."""

    def __init__(
        self,
        config: ConfigHolder,
        store: SqliteStore,
        disclosures: DisclosureService,
        keys: KeyRing,
        audit: AuditTrail,
        relay: OutboxRelay,
    ) -> None:
        self._config = config
        self._store = store
        self._disclosures = disclosures
        self._keys = keys
        self._audit = audit
        self._relay = relay
        self.delivered = 0
        self.stale = 0

    async def __call__(self, event: CloudEvent) -> None:
        """Process one inbound message event."""
        if event.type != INBOUND_MESSAGE:
            raise PoisonMessageError(f"unexpected event type {event.type!r}")
        message = InboundMessage.model_validate_json(event.data)
        # One snapshot of the config: the key checked and the adapter used always agree.
        business = self._config.current.businesses.get(message.business_id)
        if business is None:
            raise PoisonMessageError(f"unknown business {message.business_id!r}")
        latest = await self._disclosures.latest(business.id)
        if latest is None:
            raise PoisonMessageError(f"business {business.id!r} has no disclosure yet")
        disclosure = DisclosureDocument.model_validate_json(latest.body)
        if message.key_id != business.facts.endpoint_key.kid or disclosure.endpoint_key.kid != message.key_id:
            await self._refuse_stale(event, message, disclosure)
            return
        await self._deliver(event, message, business, disclosure.revision)

    async def _refuse_stale(
        self, event: CloudEvent, message: InboundMessage, disclosure: DisclosureDocument
    ) -> None:
        now = datetime.now(UTC)
        receipt = _receipt(
            message, "disclosure_stale", revision=disclosure.revision, key_id=disclosure.endpoint_key.kid
        )
        notice_id = str(uuid.uuid4())
        notice = signed_event(
            NOTICE_PUBLISHED,
            notice_id,
            subject=message.business_id,
            document={
                **notice_template(disclosure, "disclosure_stale"),
                "user_id": message.sender,
                "notice_id": notice_id,
            },
            key=self._keys.active,
            when=now,
        )

        def work(db: sqlite3.Connection) -> bool:
            if not messages.first_time(db, event.id):
                return False
            chats.open_chat(db, message.business_id, message.sender)
            notices.record_sent(
                db,
                message.business_id,
                disclosure.revision,
                "disclosure_stale",
                [(message.sender, notice_id)],
            )
            outbox.insert(
                db,
                message.business_id,
                kind=outbox.RowKind.EVENT,
                exchange=OUTBOUND.exchange,
                routing_key=f"{message.business_id}.receipt",
                event=receipt,
            )
            outbox.insert(
                db,
                message.business_id,
                kind=outbox.RowKind.EVENT,
                exchange=NOTICES.exchange,
                routing_key=f"{message.business_id}.disclosure_stale",
                event=notice,
            )
            self._store.defer(
                self._audit.submit(
                    "message.rejected",
                    business=message.business_id,
                    message_id=message.message_id,
                    user=message.sender,
                    reason="disclosure_stale",
                )
            )
            return True

        if await self._store.transact(work):
            self.stale += 1
            self._relay.wake()

    async def _deliver(
        self, event: CloudEvent, message: InboundMessage, business: Business, revision: int
    ) -> None:
        existing = await self._store.run(
            partial(messages.get, self._store.db, message.business_id, message.message_id)
        )
        if existing is not None and existing.status is Status.DELIVERED:
            return  # a redelivery of something already handed over
        envelope = Envelope(
            message_id=message.message_id,
            business_id=message.business_id,
            sender=message.sender,
            key_id=message.key_id,
            suite=message.suite,
            sealed=message.sealed,
            sent_at=message.sent_at,
            disclosure_revision=revision,
            chat_sequence=0,
        )
        result = await business.adapter.deliver(envelope)
        if result.outcome == "retry":
            # Retried through the queue for now; durable retry schedules come with the adapters.
            raise RuntimeError(f"delivery to {business.id} to be retried: {result.detail}")
        delivered = result.outcome == "delivered"
        receipt = _receipt(
            message,
            "delivered" if delivered else "rejected",
            revision=revision,
            key_id=business.facts.endpoint_key.kid,
            reason=None if delivered else result.detail,
        )

        def work(db: sqlite3.Connection) -> None:
            messages.first_time(db, event.id)
            chats.open_chat(db, message.business_id, message.sender)
            messages.insert(
                db,
                message.business_id,
                message.message_id,
                user_id=message.sender,
                direction="inbound",
                revision=revision,
            )
            messages.apply_status(
                db,
                message.business_id,
                message.message_id,
                Status.DELIVERED if delivered else Status.FAILED,
                None if delivered else result.detail,
            )
            outbox.insert(
                db,
                message.business_id,
                kind=outbox.RowKind.EVENT,
                exchange=OUTBOUND.exchange,
                routing_key=f"{message.business_id}.receipt",
                event=receipt,
            )
            if delivered:
                self._store.defer(
                    self._audit.submit(
                        "message.delivered",
                        business=message.business_id,
                        message_id=message.message_id,
                        user=message.sender,
                        host=business.facts.operator,
                        revision=revision,
                    )
                )
            else:
                self._store.defer(
                    self._audit.submit(
                        "message.rejected",
                        business=message.business_id,
                        message_id=message.message_id,
                        user=message.sender,
                        reason=f"host refused: {result.outcome}",
                    )
                )

        await self._store.transact(work)
        self.delivered += int(delivered)
        self._relay.wake()


ReceiptStatus = Literal["delivered", "disclosure_stale", "rejected"]


def _receipt(
    message: InboundMessage, status: ReceiptStatus, *, revision: int, key_id: str, reason: str | None = None
) -> CloudEvent:
    now = datetime.now(UTC)
    body = InboundReceipt(
        message_id=message.message_id,
        business_id=message.business_id,
        sender=message.sender,
        status=status,
        reason=reason,
        current_revision=revision,
        current_key_id=key_id,
        at=now,
    )
    return CloudEvent(
        id=str(uuid.uuid4()),
        type=INBOUND_RECEIPT,
        subject=message.business_id,
        time=now,
        data=canonical_json(body.model_dump(mode="json")),
    )
