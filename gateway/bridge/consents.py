"""Users' consent decisions from the network: recorded durably, audited, enforced on sending."""

from __future__ import annotations

from gateway.audit.staging import stage
from gateway.audit.trail import AuditTrail
from gateway.bridge.models import ConsentDecision
from gateway.broker.cloudevents import CloudEvent
from gateway.errors import PoisonMessageError
from gateway.events import CONSENT_DECISION
from gateway.reload import ConfigHolder
from gateway.store import Store


class ConsentHandler:
    """Applies ``com.hostgate.consent.decision`` events."""

    def __init__(self, store: Store, config: ConfigHolder, audit: AuditTrail) -> None:
        self._store = store
        self._config = config
        self._audit = audit
        self.recorded = 0

    async def __call__(self, event: CloudEvent) -> None:
        """Record one decision (a decision older than the stored one changes nothing)."""
        decision = event.data_as(CONSENT_DECISION, ConsentDecision)
        if decision.business_id not in self._config.current.businesses:
            raise PoisonMessageError(f"unknown business {decision.business_id!r}")

        async with self._store.unit() as tx:
            if not await tx.processed.first_time(event.type, event.id):
                return
            applied = await tx.consents.record(
                decision.business_id, decision.user_id, decision.decision, decision.at.timestamp()
            )
            # Every decision is audited, including one that arrived after a later one.
            await stage(
                tx,
                self._audit,
                "consent.recorded",
                business=decision.business_id,
                user=decision.user_id,
                decision=decision.decision,
            )
        if applied:
            self.recorded += 1
