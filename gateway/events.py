"""Every event type hostgate publishes, with the exchange it goes to.

docs/asyncapi.yaml documents each of these; a test fails when one is missing there.
"""

from __future__ import annotations

from gateway.broker.topology import (
    AUDIT,
    CONSENTS,
    DISCLOSURES,
    INBOUND,
    NOTICES,
    OUTBOUND,
    RECEIPTS,
    STATUSES,
)

DISCLOSURE_PUBLISHED = "com.hostgate.disclosure.published"
NOTICE_PUBLISHED = "com.hostgate.notice.published"
# A window of per-chat notices under one signature over a Merkle root (gateway.client splits it).
NOTICE_BATCH = "com.hostgate.notice.batch"
AUDIT_CHECKPOINT = "com.hostgate.audit.checkpoint"
OUTBOUND_MESSAGE = "com.hostgate.message.outbound"
INBOUND_RECEIPT = "com.hostgate.inbound.receipt"
ENDPOINT_DISABLED = "com.hostgate.endpoint.disabled"
# Internal: a status webhook owed to a business, consumed by hostgate itself.
STATUS_WEBHOOK = "com.hostgate.status.webhook"

# Consumed from the network (not published by hostgate).
INBOUND_MESSAGE = "com.hostgate.message.inbound"
DELIVERY_RECEIPT = "com.hostgate.message.receipt"
CONSENT_DECISION = "com.hostgate.consent.decision"
CONSUMED_FROM: dict[str, str] = {
    INBOUND_MESSAGE: INBOUND.queue,
    DELIVERY_RECEIPT: RECEIPTS.queue,
    CONSENT_DECISION: CONSENTS.queue,
}

EXCHANGE_FOR: dict[str, str] = {
    DISCLOSURE_PUBLISHED: DISCLOSURES.exchange,
    NOTICE_PUBLISHED: NOTICES.exchange,
    NOTICE_BATCH: NOTICES.exchange,
    AUDIT_CHECKPOINT: AUDIT.exchange,
    OUTBOUND_MESSAGE: OUTBOUND.exchange,
    INBOUND_RECEIPT: OUTBOUND.exchange,
    ENDPOINT_DISABLED: OUTBOUND.exchange,
    STATUS_WEBHOOK: STATUSES.exchange,
}
