"""Standard Webhooks signatures: ``v1`` HMAC-SHA256 over ``id.timestamp.body``."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Iterable

from pydantic import SecretStr


def secret_bytes(secret: SecretStr) -> bytes:
    """Decode a ``whsec_`` secret to the HMAC key it stands for."""
    return base64.b64decode(secret.get_secret_value().removeprefix("whsec_"))


def sign(webhook_id: str, timestamp: int, body: bytes, secrets: Iterable[SecretStr]) -> str:
    """The ``webhook-signature`` header value: one ``v1,<b64>`` per secret, space-separated."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.digest(secret_bytes(s), signed, "sha256")).decode() for s in secrets
    )
