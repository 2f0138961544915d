"""The JSON body an envelope travels in to a host (webhook or provider ingest)."""

from __future__ import annotations

import orjson

from adapters.base import Envelope, b64url


def envelope_body(envelope: Envelope, event_type: str = "message.received") -> bytes:
    """Serialize an envelope with its metadata; the ciphertext stays sealed."""
    return orjson.dumps(
        {
            "type": event_type,
            "message_id": envelope.message_id,
            "business_id": envelope.business_id,
            "sender": envelope.sender,
            "key_id": envelope.key_id,
            "suite": envelope.suite,
            "sealed": b64url(envelope.sealed),
            "sent_at": envelope.sent_at.isoformat(),
            "disclosure_revision": envelope.disclosure_revision,
            "chat_sequence": envelope.chat_sequence,
        }
    )
