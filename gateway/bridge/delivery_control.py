"""What an operator may do about a business's deliveries: enable its endpoint, replay its dead letters.

Both are audited (``endpoint.enabled``, ``deliveries.replayed``) with where the
operator acted from; the console and the CLI go through here alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from aio_pika.abc import AbstractConnection

from gateway.audit.staging import stage
from gateway.audit.trail import AuditTrail
from gateway.broker import dead_letters
from gateway.errors import BrokerError
from gateway.store import Store

Actor = Literal["console", "cli"]


class DeliveryControl:
    """Operator actions on one gateway's store, trail and broker connection."""

    def __init__(self, store: Store, audit: AuditTrail) -> None:
        self._store = store
        self._audit = audit

    async def enable(self, business_id: str, by: Actor) -> bool:
        """Enable the business's endpoint again; False when it was not disabled (nothing audited)."""
        async with self._store.unit() as tx:
            changed = await tx.endpoints.enable(business_id)
            if changed:
                await stage(tx, self._audit, "endpoint.enabled", business=business_id, by=by)
        return changed

    async def replay(
        self,
        connection: AbstractConnection | None,
        business_id: str,
        by: Actor,
        message_id: str | None = None,
        also: Callable[[dead_letters.DeadLetter], bool] = lambda _letter: True,
    ) -> list[dead_letters.DeadLetter]:
        """Send the business's dead letters (the one named, those ``also`` picks) back as first attempts."""
        if connection is None:
            raise BrokerError("the broker is not connected; try again when /readyz is 200")
        swept = await dead_letters.sweep(
            connection,
            business_id,
            lambda d: (message_id is None or d.message_id == message_id) and also(d),
        )
        if swept.replayed:
            async with self._store.unit() as tx:
                await stage(
                    tx,
                    self._audit,
                    "deliveries.replayed",
                    business=business_id,
                    count=len(swept.replayed),
                    message_id=message_id,
                    by=by,
                )
        return swept.replayed
