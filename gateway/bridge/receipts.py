"""The network's delivery receipts for businesses' messages: status only ever moves forward."""

from __future__ import annotations

from typing import Literal

import structlog

from adapters.base import StatusUpdate
from gateway.bridge.models import DeliveryReceipt
from gateway.bridge.status import Status, apply_receipt
from gateway.broker.cloudevents import CloudEvent
from gateway.errors import PoisonMessageError
from gateway.events import DELIVERY_RECEIPT
from gateway.reload import ConfigHolder
from gateway.store import Store

log = structlog.get_logger("hostgate.receipts")


class ReceiptHandler:
    """Applies ``com.hostgate.message.receipt`` events to message status, then tells the business."""

    def __init__(self, store: Store, config: ConfigHolder) -> None:
        self._store = store
        self._config = config
        self.applied = 0
        self.notify_failures = 0

    async def __call__(self, event: CloudEvent) -> None:
        """Apply one receipt, once (a redelivered event id changes nothing)."""
        receipt = event.data_as(DELIVERY_RECEIPT, DeliveryReceipt)

        result: Status | Literal[False] | None
        async with self._store.unit() as tx:
            if not await tx.processed.first_time(event.type, event.id):
                result = False
            else:
                result = await apply_receipt(
                    tx.messages,
                    receipt.business_id,
                    receipt.message_id,
                    Status(receipt.status),
                    receipt.reason,
                )
        if result is None:
            raise PoisonMessageError(f"receipt for unknown message {receipt.message_id!r}")
        if result is False:
            return
        self.applied += 1
        business = self._config.current.businesses.get(receipt.business_id)
        if business is None:
            return
        update = StatusUpdate(
            update_id=event.id,
            message_id=receipt.message_id,
            business_id=receipt.business_id,
            status=result.value,
            reported=receipt.status,
            reason=receipt.reason,
            at=receipt.at,
        )
        outcome = await business.adapter.notify_status(update)
        if outcome.outcome != "delivered":
            # The status is stored and readable at GET /v1/messages/{id}; durable retries of
            # status webhooks come with the adapters' retry schedule.
            self.notify_failures += 1
            log.warning("status.notify_failed", business=receipt.business_id, outcome=outcome.outcome)
