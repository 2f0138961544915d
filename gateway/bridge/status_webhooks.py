"""Status webhooks to businesses, sent from the ``hostgate.statuses`` queue with durable retries.

A receipt that moves a message's status leaves a ``com.hostgate.status.webhook``
event in the outbox (same unit of work). This handler sends it through the
business's adapter under the business's bulkhead; a failure waits on the
business's retry schedule in a delay queue, and one out of attempts goes to the
business's dead-delivery queue, from which ``hostgate deliveries replay`` sends it
again, exactly like a delivery.
"""

from __future__ import annotations

import random

import structlog

from adapters.base import StatusUpdate
from gateway.bridge.bulkhead import Parking
from gateway.bridge.models import StatusWebhook
from gateway.broker.cloudevents import CloudEvent
from gateway.broker.retries import RetryScheduler, attempt_of, next_delay
from gateway.errors import PoisonMessageError
from gateway.events import STATUS_WEBHOOK
from gateway.reload import ConfigHolder

log = structlog.get_logger("hostgate.status_webhooks")


class StatusWebhookHandler:
    """Sends one owed status webhook; retries and dead-letters it like a delivery."""

    def __init__(self, config: ConfigHolder, retries: RetryScheduler, parking: Parking) -> None:
        self._config = config
        self._retries = retries
        self._parking = parking
        self._rng = random.Random()  # noqa: S311 -- jitter, not a secret
        self.sent = 0
        self.dead = 0

    async def __call__(self, event: CloudEvent) -> None:
        """Send the webhook once, or schedule the next attempt, or give up on it."""
        await self._handle(event, parked=False)

    async def parked(self, event: CloudEvent) -> None:
        """The same for an event from the business's parking queue (waits for a slot)."""
        await self._handle(event, parked=True)

    async def _handle(self, event: CloudEvent, *, parked: bool) -> None:
        webhook = event.data_as(STATUS_WEBHOOK, StatusWebhook)
        if event.subject is not None and event.subject != webhook.business_id:
            raise PoisonMessageError("cloudEvents_subject disagrees with the webhook's business_id")
        business = self._config.current.businesses.get(webhook.business_id)
        if business is None:
            raise PoisonMessageError(f"unknown business {webhook.business_id!r}")
        update = StatusUpdate(
            update_id=webhook.update_id,
            message_id=webhook.message_id,
            business_id=webhook.business_id,
            status=webhook.status,
            reported=webhook.reported,
            reason=webhook.reason,
            at=webhook.at,
        )
        result = await self._parking.attempt(
            event,
            business.id,
            lambda: business.adapter.notify_status(update),
            parked=parked,
            limit=business.file.delivery.max_in_flight,
            parked_handler=self.parked,
        )
        if result is None:
            return  # parked
        if result.outcome == "delivered":
            self.sent += 1
            return
        attempt = attempt_of(event)
        policy = business.file.delivery
        delay = None
        if result.outcome == "retry":
            delay = next_delay(policy.retry_seconds, attempt, policy.jitter, result.retry_after, self._rng)
        if delay is not None:
            await self._retries.later(event, business.id, delay, attempt + 1)
            return
        reason = f"{attempt} attempts failed: {result.detail}" if result.outcome == "retry" else result.detail
        await self._retries.dead(event, business.id, reason)
        self.dead += 1
        log.warning("status.dead_lettered", business=business.id, attempts=attempt, reason=reason[:200])
