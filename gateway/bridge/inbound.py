"""Users' sealed messages to businesses: deliver only what was sealed to the current key.

A message sealed to the business's current endpoint key goes to its hosting
adapter. Any other key means the client was shown an older disclosure: the
message is not delivered; the network gets a ``disclosure_stale`` receipt and
the user a notice with the current disclosure, so the client shows it and
re-seals. Either way the chat is opened (or refreshed) for later notices.
"""

from __future__ import annotations

import random
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Literal

import structlog

from adapters.base import DeliveryResult, Envelope
from gateway.audit.staging import stage
from gateway.audit.trail import AuditTrail
from gateway.bridge.models import InboundMessage, InboundReceipt
from gateway.bridge.retries import RetryScheduler, attempt_of, next_delay
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
from gateway.events import ENDPOINT_DISABLED, INBOUND_MESSAGE, INBOUND_RECEIPT, NOTICE_PUBLISHED
from gateway.ids import new_id
from gateway.reload import ConfigHolder
from gateway.store import chats, endpoints, messages, notices, outbox
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
        retries: RetryScheduler,
    ) -> None:
        self._config = config
        self._retries = retries
        self._rng = random.Random()  # noqa: S311 -- jitter, not a secret
        self._store = store
        self._disclosures = disclosures
        self._keys = keys
        self._audit = audit
        self._relay = relay
        self.delivered = 0
        self.stale = 0

    async def __call__(self, event: CloudEvent) -> None:
        """Process one inbound message event."""
        message = event.data_as(INBOUND_MESSAGE, InboundMessage)
        # One snapshot of the config: the key checked and the adapter used always agree.
        business = self._config.current.businesses.get(message.business_id)
        if business is None:
            raise PoisonMessageError(f"unknown business {message.business_id!r}")
        latest = await self._disclosures.latest(business.id)
        if latest is None:
            raise PoisonMessageError(f"business {business.id!r} has no disclosure yet")
        disclosure = latest.document
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
        notice_id = new_id()
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
            outbox.queue(
                db, message.business_id, OUTBOUND.exchange, f"{message.business_id}.receipt", receipt
            )
            outbox.queue(
                db, message.business_id, NOTICES.exchange, f"{message.business_id}.disclosure_stale", notice
            )
            stage(
                db,
                self._audit,
                "message.rejected",
                business=message.business_id,
                message_id=message.message_id,
                user=message.sender,
                reason="disclosure_stale",
            )
            return True

        if await self._store.transact(work):
            self.stale += 1
            self._relay.wake()

    async def _deliver(
        self, event: CloudEvent, message: InboundMessage, business: Business, revision: int
    ) -> None:
        existing, reason = self._store.lookup(
            lambda db: (
                messages.get(db, message.business_id, message.message_id),
                endpoints.disabled_reason(db, business.id),
            )
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
        if reason is not None:
            await self._give_up(event, message, business, revision, f"endpoint disabled: {reason}")
            return
        result = await business.adapter.deliver(envelope)
        if result.outcome == "delivered":
            await self._delivered(event, message, business, revision)
        elif result.outcome == "retry":
            await self._retry_later(event, message, business, revision, result)
        else:
            if result.outcome == "gone":
                await self._disable(business, "the endpoint answered 410 Gone")
            await self._give_up(event, message, business, revision, f"host refused: {result.detail}")

    async def _retry_later(
        self,
        event: CloudEvent,
        message: InboundMessage,
        business: Business,
        revision: int,
        result: DeliveryResult,
    ) -> None:
        since = await self._store.transact(partial(endpoints.record_failure, business_id=business.id))
        policy = business.file.delivery
        if time.time() - since > policy.disable_after_hours * 3600:
            await self._disable(business, f"failing for more than {policy.disable_after_hours:g} h")
            await self._give_up(
                event, message, business, revision, f"endpoint disabled after: {result.detail}"
            )
            return
        attempt = attempt_of(event)
        delay = next_delay(policy.retry_seconds, attempt, policy.jitter, result.retry_after, self._rng)
        # Retention wins over retries: nothing is kept for a later attempt past the business's retention.
        wait = timedelta(seconds=delay.seconds if delay is not None else 0)
        expired = message.sent_at + business.facts.retention < datetime.now(UTC) + wait
        if delay is not None and expired:
            await self._give_up(event, message, business, revision, "retention ends before the next attempt")
            return
        if delay is None:
            await self._give_up(
                event, message, business, revision, f"{attempt} attempts failed: {result.detail}"
            )
            return
        await self._retries.later(event, delay, attempt + 1)

    async def _disable(self, business: Business, reason: str) -> None:
        event = CloudEvent(
            id=new_id(),
            type=ENDPOINT_DISABLED,
            subject=business.id,
            time=datetime.now(UTC),
            data=canonical_json({"business_id": business.id, "reason": reason}),
        )

        def work(db: sqlite3.Connection) -> None:
            if not endpoints.disable(db, business.id, reason):
                return
            outbox.queue(db, business.id, OUTBOUND.exchange, f"{business.id}.endpoint", event)
            stage(db, self._audit, "endpoint.disabled", business=business.id, reason=reason)

        await self._store.transact(work)
        log.warning("endpoint.disabled", business=business.id, reason=reason)
        self._relay.wake()

    async def _give_up(
        self, event: CloudEvent, message: InboundMessage, business: Business, revision: int, reason: str
    ) -> None:
        """Dead-letter the delivery (kept for replay), mark the message failed, tell the network."""
        await self._retries.dead(event, reason)
        receipt = _receipt(
            message, "rejected", revision=revision, key_id=business.facts.endpoint_key.kid, reason=reason
        )
        attempts = attempt_of(event)

        def work(db: sqlite3.Connection) -> None:
            self._record(db, event, message, revision, Status.FAILED, reason, receipt)
            stage(
                db,
                self._audit,
                "delivery.dead_lettered",
                business=message.business_id,
                message_id=message.message_id,
                attempts=attempts,
                reason=reason,
            )

        await self._store.transact(work)
        self._relay.wake()

    async def _delivered(
        self, event: CloudEvent, message: InboundMessage, business: Business, revision: int
    ) -> None:
        receipt = _receipt(message, "delivered", revision=revision, key_id=business.facts.endpoint_key.kid)

        def work(db: sqlite3.Connection) -> None:
            self._record(db, event, message, revision, Status.DELIVERED, None, receipt)
            endpoints.record_success(db, business.id)
            stage(
                db,
                self._audit,
                "message.delivered",
                business=message.business_id,
                message_id=message.message_id,
                user=message.sender,
                host=business.facts.operator,
                revision=revision,
            )

        await self._store.transact(work)
        self.delivered += 1
        self._relay.wake()

    @staticmethod
    def _record(
        db: sqlite3.Connection,
        event: CloudEvent,
        message: InboundMessage,
        revision: int,
        status: Status,
        reason: str | None,
        receipt: CloudEvent,
    ) -> None:
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
        messages.apply_status(db, message.business_id, message.message_id, status, reason)
        outbox.queue(db, message.business_id, OUTBOUND.exchange, f"{message.business_id}.receipt", receipt)


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
        id=new_id(),
        type=INBOUND_RECEIPT,
        subject=message.business_id,
        time=now,
        data=canonical_json(body.model_dump(mode="json")),
    )
