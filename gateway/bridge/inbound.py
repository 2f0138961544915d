"""Users' sealed messages to businesses: deliver only what was sealed to the current key.

A message sealed to the business's current endpoint key goes to its hosting
adapter. Any other key means the client was shown an older disclosure: the
message is not delivered; the network gets a ``disclosure_stale`` receipt and
the user a notice with the current disclosure, so the client shows it and
re-seals. Either way the chat is opened (or refreshed) for later notices.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import structlog

from adapters.base import DeliveryResult, Envelope
from gateway.audit.staging import render, stage
from gateway.audit.trail import AuditTrail
from gateway.bridge.bulkhead import Parking
from gateway.bridge.models import InboundMessage, ReceiptStatus, inbound_receipt_json
from gateway.bridge.recording import Finished, group_recorder
from gateway.bridge.status import Status, chat_needs_write, chat_refresh_seconds
from gateway.broker.cloudevents import CloudEvent
from gateway.broker.retries import RetryScheduler, attempt_of, next_delay
from gateway.broker.topology import NOTICES, OUTBOUND
from gateway.config.loader import Business
from gateway.disclosure.document import DisclosureDocument, canonical_json, notice_template
from gateway.disclosure.keys import KeyRing
from gateway.disclosure.service import DisclosureService
from gateway.disclosure.signed import signed_event
from gateway.errors import PoisonMessageError
from gateway.events import ENDPOINT_DISABLED, INBOUND_MESSAGE, INBOUND_RECEIPT, NOTICE_PUBLISHED
from gateway.ids import new_id
from gateway.relay.relay import OutboxRelay
from gateway.relay.rows import outbox_row
from gateway.reload import ConfigHolder
from gateway.store import Store, Unit
from gateway.store.group_reads import GroupReader
from gateway.store.records import FinishedMessage, InboundDecision
from gateway.telemetry.metrics import GatewayMetrics
from gateway.telemetry.tracing import TRACEPARENT, Tracing, current_traceparent

log = structlog.get_logger("hostgate.inbound")


class InboundHandler:
    """Handles one ``com.hostgate.message.inbound`` event at a time."""

    def __init__(
        self,
        config: ConfigHolder,
        store: Store,
        disclosures: DisclosureService,
        keys: KeyRing,
        audit: AuditTrail,
        relay: OutboxRelay,
        retries: RetryScheduler,
        parking: Parking,
        metrics: GatewayMetrics | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._config = config
        self._tracing = tracing or Tracing()
        self._metrics = metrics or GatewayMetrics()
        self._retrying: dict[str, int] = {}  # business -> retries scheduled here, not yet back
        self._retries = retries
        self._parking = parking
        self._rng = random.Random()  # noqa: S311 -- jitter, not a secret
        self._store = store
        self._disclosures = disclosures
        self._keys = keys
        self._audit = audit
        self._relay = relay
        self._recorder = group_recorder(store, relay.wake)
        self._decisions: GroupReader[tuple[str, str, str], InboundDecision] = GroupReader(
            store, _read_decisions, name="inbound-decisions"
        )
        self.delivered = 0
        self.stale = 0

    async def __call__(self, event: CloudEvent) -> None:
        """Process one inbound message event from the shared queue."""
        await self._handle(event, parked=False)

    async def parked(self, event: CloudEvent) -> None:
        """Process one event from the business's parking queue (waits for a slot)."""
        await self._handle(event, parked=True)

    async def _handle(self, event: CloudEvent, *, parked: bool) -> None:
        message = event.data_as(INBOUND_MESSAGE, InboundMessage)
        # One snapshot of the config: the key checked and the adapter used always agree.
        if event.subject is not None and event.subject != message.business_id:
            raise PoisonMessageError("cloudEvents_subject disagrees with the message's business_id")
        business = self._config.current.businesses.get(message.business_id)
        if business is None:
            raise PoisonMessageError(f"unknown business {message.business_id!r}")
        if not parked and attempt_of(event) > 1:
            self._count_retry(business.id, -1)
        # One read for the whole decision, shared with the messages taken off the queue with this
        # one. The revision is the store's newest, not this process's cache: another replica may
        # have made it.
        decision = await self._decisions.read((business.id, message.message_id, message.sender))
        latest = await self._disclosures.at_revision(business.id, decision.revision)
        if latest is None:
            raise PoisonMessageError(f"business {business.id!r} has no disclosure yet")
        disclosure = latest.document
        if message.key_id != business.facts.endpoint_key.kid or disclosure.endpoint_key.kid != message.key_id:
            await self._refuse_stale(event, message, disclosure)
            return
        if decision.status == Status.DELIVERED:
            return  # a redelivery of something already handed over
        await self._deliver(event, message, business, disclosure.revision, decision, parked=parked)

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

        business_id = message.business_id
        async with self._store.unit() as tx:
            if not await tx.processed.first_time(event.type, event.id):
                return
            await tx.chats.open(
                business_id, message.sender, refresh_after=chat_refresh_seconds(disclosure.retention_seconds)
            )
            await tx.notices.record_sent(
                business_id, disclosure.revision, "disclosure_stale", [(message.sender, notice_id)]
            )
            await tx.outbox.append(
                outbox_row(business_id, OUTBOUND.exchange, f"{business_id}.receipt", receipt)
            )
            await tx.outbox.append(
                outbox_row(business_id, NOTICES.exchange, f"{business_id}.disclosure_stale", notice)
            )
            await stage(
                tx,
                self._audit,
                "message.rejected",
                business=business_id,
                message_id=message.message_id,
                user=message.sender,
                reason="disclosure_stale",
            )
        self.stale += 1
        self._relay.wake()

    async def _deliver(
        self,
        event: CloudEvent,
        message: InboundMessage,
        business: Business,
        revision: int,
        decision: InboundDecision,
        *,
        parked: bool,
    ) -> None:
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
        if decision.disabled is not None:
            await self._give_up(event, message, business, revision, f"endpoint disabled: {decision.disabled}")
            return

        async def call() -> DeliveryResult:
            started = time.perf_counter()
            try:
                if self._tracing.enabled:
                    return await self._traced_delivery(event, business, envelope)
                return await business.adapter.deliver(envelope)
            finally:
                self._metrics.host_call(business.id, time.perf_counter() - started)

        # The business's bulkhead covers the host call alone: the store work is no host's to hold up.
        result = await self._parking.attempt(
            event,
            business.id,
            call,
            parked=parked,
            limit=business.file.delivery.max_in_flight,
            parked_handler=self.parked,
        )
        if result is None:
            self._metrics.delivery(business.id, "parked")
            return  # parked: it comes back from the business's parking queue
        if result.outcome == "delivered":
            await self._delivered(message, business, revision, decision)
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
        async with self._store.unit() as tx:
            since = await tx.endpoints.record_failure(business.id)
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
        await self._retries.later(event, business.id, delay, attempt + 1)
        self._metrics.delivery(business.id, "retry")
        self._count_retry(business.id, +1)

    def _count_retry(self, business_id: str, change: int) -> None:
        # Per process and never below zero: after a restart, retries scheduled before it come back too.
        pending = max(self._retrying.get(business_id, 0) + change, 0)
        self._retrying[business_id] = pending
        self._metrics.retries_waiting(business_id, pending)

    async def _disable(self, business: Business, reason: str) -> None:
        event = CloudEvent(
            id=new_id(),
            type=ENDPOINT_DISABLED,
            subject=business.id,
            time=datetime.now(UTC),
            data=canonical_json({"business_id": business.id, "reason": reason}),
        )

        async with self._store.unit() as tx:
            if not await tx.endpoints.disable(business.id, reason):
                return
            await tx.outbox.append(
                outbox_row(business.id, OUTBOUND.exchange, f"{business.id}.endpoint", event)
            )
            await stage(tx, self._audit, "endpoint.disabled", business=business.id, reason=reason)
        log.warning("endpoint.disabled", business=business.id, reason=reason)
        self._relay.wake()

    async def _give_up(
        self, event: CloudEvent, message: InboundMessage, business: Business, revision: int, reason: str
    ) -> None:
        """Dead-letter the delivery (kept for replay), mark the message failed, tell the network."""
        await self._retries.dead(event, business.id, reason)
        self._metrics.delivery(business.id, "dead_lettered")
        self._metrics.child(self._metrics.dead_letters, business.id).inc()
        audit = render(
            self._audit,
            "delivery.dead_lettered",
            business=message.business_id,
            message_id=message.message_id,
            attempts=attempt_of(event),
            reason=reason,
        )
        await self._recorder.write(_finished(message, business, revision, audit, reason=reason))

    async def _traced_delivery(
        self, event: CloudEvent, business: Business, envelope: Envelope
    ) -> DeliveryResult:
        """The host call in a client span; the adapter sends its traceparent to the host."""
        given = event.extensions.get(TRACEPARENT)
        parent = current_traceparent() or (given if isinstance(given, str) else None)
        with self._tracing.span(
            f"deliver {business.id}",
            parent=parent,
            kind="client",
            attributes={"hostgate.business": business.id},
        ):
            return await business.adapter.deliver(envelope)

    async def _delivered(
        self, message: InboundMessage, business: Business, revision: int, decision: InboundDecision
    ) -> None:
        audit = render(
            self._audit,
            "message.delivered",
            business=message.business_id,
            message_id=message.message_id,
            user=message.sender,
            host=business.facts.operator,
            revision=revision,
        )
        await self._recorder.write(_finished(message, business, revision, audit, decision=decision))
        self.delivered += 1
        self._metrics.delivery(business.id, "delivered")


def _finished(
    message: InboundMessage,
    business: Business,
    revision: int,
    audit: bytes,
    *,
    reason: str | None = None,
    decision: InboundDecision | None = None,
) -> Finished:
    """A delivery's end, ready to write: handed over (no ``reason``) or given up because of ``reason``.

    ``decision`` is the read the delivery was decided on; without one (a give-up, which may
    follow earlier attempts that recorded the message) the row is inserted or merged.
    """
    status = Status.DELIVERED if reason is None else Status.FAILED
    receipt = _receipt(
        message,
        "delivered" if reason is None else "rejected",
        revision=revision,
        key_id=business.facts.endpoint_key.kid,
        reason=reason,
    )
    refresh = chat_refresh_seconds(business.facts.retention.total_seconds())
    business_id = message.business_id
    return Finished(
        FinishedMessage(
            business_id, message.message_id, message.sender, "inbound", status.value, revision, reason, reason
        ),
        known=decision is None or decision.status is not None,
        # The decision's read spares the unit a write in the common case: a chat seen lately
        # is not touched.
        open_chat=chat_needs_write(decision.chat_seen if decision else None, refresh, time.time()),
        refresh_seconds=refresh,
        # A healthy endpoint is not "cleared"; a failure recorded by another worker since
        # the read is cleared by the next success.
        clears_failing=decision is not None and decision.failing,
        receipt=outbox_row(business_id, OUTBOUND.exchange, f"{business_id}.receipt", receipt),
        audit=audit,
    )


async def _read_decisions(
    tx: Unit, asked: Sequence[tuple[str, str, str]]
) -> dict[tuple[str, str, str], InboundDecision]:
    return await tx.decisions.inbound_many(asked)


def _receipt(
    message: InboundMessage, status: ReceiptStatus, *, revision: int, key_id: str, reason: str | None = None
) -> CloudEvent:
    now = datetime.now(UTC)
    return CloudEvent(
        id=new_id(),
        type=INBOUND_RECEIPT,
        subject=message.business_id,
        time=now,
        data=inbound_receipt_json(message, status, revision=revision, key_id=key_id, reason=reason, at=now),
    )
