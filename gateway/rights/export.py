"""Everything hostgate holds about one user, as a machine-readable document (never content).

The document follows ``docs/export.schema.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.audit.staging import stage
from gateway.audit.trail import AuditTrail
from gateway.rights.retention import cutoff
from gateway.store import Store
from gateway.store.records import UserData

SCHEMA_ID = "https://hostgate.example/schemas/user-export-v1.json"


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def build_export(
    data: UserData, user_id: str, retentions: Mapping[str, timedelta], operators: Mapping[str, str]
) -> dict[str, Any]:
    """The export for ``user_id``; data past a business's retention is not included."""

    def live(business_id: str, at: float) -> bool:
        window = retentions.get(business_id)
        return window is not None and at >= cutoff(window)

    return {
        "$schema": SCHEMA_ID,
        "user_id": user_id,
        "generated_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "chats": [
            {"business_id": c.business_id, "opened_at": _iso(c.opened_at), "last_seen": _iso(c.last_seen)}
            for c in data.chats
            if live(c.business_id, c.last_seen)
        ],
        "consents": [
            {"business_id": c.business_id, "decision": c.decision, "decided_at": _iso(c.decided_at)}
            for c in data.consents
        ],
        "notices": [
            {
                "business_id": n.business_id,
                "revision": n.revision,
                "reason": n.reason,
                "notice_id": n.notice_id,
                "sent_at": _iso(n.at),
            }
            for n in data.notices
            if live(n.business_id, n.at)
        ],
        "messages": [
            {
                "message_id": m.message_id,
                "business_id": m.business_id,
                "direction": m.direction,
                "status": m.status,
                "revision": m.revision,
                "host": operators.get(m.business_id),
                "created_at": _iso(m.created_at),
                "updated_at": _iso(m.updated_at),
            }
            for m in data.messages
            if live(m.business_id, m.created_at)
        ],
    }


async def export_user(
    store: Store,
    audit: AuditTrail,
    user_id: str,
    retentions: Mapping[str, timedelta],
    operators: Mapping[str, str],
    *,
    requester: str,
) -> dict[str, Any]:
    """Build the export and audit that it was served, in one unit of work."""
    async with store.unit() as tx:
        data = await tx.export.user_data(user_id)
        await stage(tx, audit, "export.served", user=user_id, requester=requester)
    return build_export(data, user_id, retentions, operators)
