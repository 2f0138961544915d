"""The network's delivery receipts for businesses' messages: status only ever moves forward.

Applying a receipt and owing the business a status webhook happen in one unit of
work: the webhook is an outbox row beside the status change, so it is as durable
as the change itself and is sent (with retries) by ``StatusWebhookHandler``.
"""

from __future__ import annotations

import structlog

from gateway.bridge.models import DeliveryReceipt, StatusWebhook
from gateway.bridge.status import Status, apply_receipt
from gateway.broker.cloudevents import CloudEvent
from gateway.broker.topology import STATUSES
from gateway.disclosure.document import canonical_json
from gateway.errors import PoisonMessageError
from gateway.events import DELIVERY_RECEIPT, STATUS_WEBHOOK
from gateway.relay.relay import OutboxRelay
from gateway.relay.rows import outbox_row
from gateway.reload import ConfigHolder
from gateway.store import Store
from gateway.telemetry.tracing import TRACEPARENT, current_traceparent

log = structlog.get_logger("hostgate.receipts")


class ReceiptHandler:
    """Applies ``com.hostgate.message.receipt`` events to message status, then owes the business a webhook."""

    def __init__(self, store: Store, config: ConfigHolder, relay: OutboxRelay) -> None:
        self._store = store
        self._config = config
        self._relay = relay
        self.applied = 0

    async def __call__(self, event: CloudEvent) -> None:
        """Apply one receipt, once (a redelivered event id changes nothing)."""
        receipt = event.data_as(DELIVERY_RECEIPT, DeliveryReceipt)
        owed = False
        async with self._store.unit() as tx:
            if not await tx.processed.first_time(event.type, event.id):
                return
            result = await apply_receipt(
                tx.messages, receipt.business_id, receipt.message_id, Status(receipt.status), receipt.reason
            )
            if result is None:
                raise PoisonMessageError(f"receipt for unknown message {receipt.message_id!r}")
            if receipt.business_id in self._config.current.businesses:
                webhook = StatusWebhook(
                    update_id=event.id,
                    message_id=receipt.message_id,
                    business_id=receipt.business_id,
                    status=result.value,
                    reported=receipt.status,
                    reason=receipt.reason,
                    at=receipt.at,
                )
                owed_event = CloudEvent(
                    id=event.id,
                    type=STATUS_WEBHOOK,
                    subject=receipt.business_id,
                    time=receipt.at,
                    data=canonical_json(webhook.model_dump(mode="json")),
                    # With tracing on, the business's status webhook continues the message's trace.
                    extensions={TRACEPARENT: traced} if (traced := current_traceparent()) else {},
                )
                await tx.outbox.append(
                    outbox_row(
                        receipt.business_id, STATUSES.exchange, f"{receipt.business_id}.status", owed_event
                    )
                )
                owed = True
        self.applied += 1
        if owed:
            self._relay.wake()
