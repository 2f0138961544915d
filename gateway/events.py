"""Every event type hostgate publishes, with the exchange it goes to.

docs/asyncapi.yaml documents each of these; a test fails when one is missing there.
"""

from __future__ import annotations

from gateway.broker.topology import AUDIT, DISCLOSURES, NOTICES

DISCLOSURE_PUBLISHED = "com.hostgate.disclosure.published"
NOTICE_PUBLISHED = "com.hostgate.notice.published"
AUDIT_CHECKPOINT = "com.hostgate.audit.checkpoint"

EXCHANGE_FOR: dict[str, str] = {
    DISCLOSURE_PUBLISHED: DISCLOSURES.exchange,
    NOTICE_PUBLISHED: NOTICES.exchange,
    AUDIT_CHECKPOINT: AUDIT.exchange,
}
