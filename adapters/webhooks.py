"""Signed Standard Webhooks to a business's own endpoint: envelopes and status updates."""

from __future__ import annotations

import json
import time

import aiohttp

from adapters import http_delivery
from adapters.base import DeliveryResult, StatusUpdate, WebhookTarget
from adapters.egress import EgressPolicy
from adapters.webhook_signing import sign


async def post_webhook(
    session: aiohttp.ClientSession, target: WebhookTarget, webhook_id: str, body: bytes, policy: EgressPolicy
) -> DeliveryResult:
    """POST ``body`` once, signed with every current secret; the id stays the same across retries."""
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(webhook_id, timestamp, body, target.secrets),
    }
    return await http_delivery.post(session, target.url, body, headers, policy)


def status_body(update: StatusUpdate) -> bytes:
    """The JSON a business receives for a status update."""
    return json.dumps(
        {
            "type": "message.status",
            "message_id": update.message_id,
            "business_id": update.business_id,
            "status": update.status,
            "reported": update.reported,
            "reason": update.reason,
            "at": update.at.isoformat(),
        },
        separators=(",", ":"),
    ).encode()
