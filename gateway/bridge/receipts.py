"""The network's delivery receipts for businesses' messages: status only ever moves forward."""

from __future__ import annotations

import sqlite3
from functools import partial

from gateway.bridge.models import DeliveryReceipt
from gateway.bridge.status import Status
from gateway.broker.cloudevents import CloudEvent
from gateway.errors import PoisonMessageError
from gateway.events import DELIVERY_RECEIPT
from gateway.store import messages
from gateway.store.sqlite import SqliteStore


class ReceiptHandler:
    """Applies ``com.hostgate.message.receipt`` events to message status."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self.applied = 0

    async def __call__(self, event: CloudEvent) -> None:
        """Apply one receipt, once (a redelivered event id changes nothing)."""
        if event.type != DELIVERY_RECEIPT:
            raise PoisonMessageError(f"unexpected event type {event.type!r}")
        receipt = DeliveryReceipt.model_validate_json(event.data)

        def work(db: sqlite3.Connection) -> Status | bool | None:
            if not messages.first_time(db, event.id):
                return False
            return messages.apply_status(
                db, receipt.business_id, receipt.message_id, Status(receipt.status), receipt.reason
            )

        result = await self._store.run(partial(self._store.transaction, work))
        if result is None:
            raise PoisonMessageError(f"receipt for unknown message {receipt.message_id!r}")
        self.applied += int(result is not False)
