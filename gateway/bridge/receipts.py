"""The network's delivery receipts for businesses' messages: status only ever moves forward."""

from __future__ import annotations

import sqlite3
from typing import Literal

import structlog

from adapters.base import StatusUpdate
from gateway.bridge.models import DeliveryReceipt
from gateway.bridge.status import Status
from gateway.broker.cloudevents import CloudEvent
from gateway.errors import PoisonMessageError
from gateway.events import DELIVERY_RECEIPT
from gateway.reload import ConfigHolder
from gateway.store import messages
from gateway.store.sqlite import SqliteStore

log = structlog.get_logger("hostgate.receipts")


class ReceiptHandler:
    """Applies ``com.hostgate.message.receipt`` events to message status, then tells the business."""

    def __init__(self, store: SqliteStore, config: ConfigHolder) -> None:
        self._store = store
        self._config = config
        self.applied = 0
        self.notify_failures = 0

    async def __call__(self, event: CloudEvent) -> None:
        """Apply one receipt, once (a redelivered event id changes nothing)."""
        receipt = event.data_as(DELIVERY_RECEIPT, DeliveryReceipt)

        def work(db: sqlite3.Connection) -> Status | Literal[False] | None:
            if not messages.first_time(db, event.id):
                return False
            return messages.apply_status(
                db, receipt.business_id, receipt.message_id, Status(receipt.status), receipt.reason
            )

        result = await self._store.transact(work)
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
