"""For businesses: check a webhook from hostgate and open the envelope inside it.

```python
from gateway.receiver import WebhookReceiver
from gateway.sealing import EndpointPrivateKey

receiver = WebhookReceiver(["whsec_..."], EndpointPrivateKey.from_text(open("endpoint.key").read()))
message = receiver.receive(request_headers, raw_body)  # WebhookRejected if forged, late or replayed
print(message.sender, message.plaintext)
```
"""

from __future__ import annotations

import hmac
import json
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from adapters.webhook_signing import sign
from gateway.encoding import b64url_decode
from gateway.errors import WebhookRejected
from gateway.sealing import EndpointPrivateKey

TOLERANCE_SECONDS = 300


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A user's message, opened."""

    webhook_id: str
    message_id: str
    sender: str
    business_id: str
    disclosure_revision: int
    plaintext: bytes


class WebhookReceiver:
    """Verifies Standard Webhooks signatures (any of several secrets), dedupes ids, opens envelopes."""

    def __init__(self, secrets: list[str], key: EndpointPrivateKey, *, remember: int = 100_000) -> None:
        self._secrets = [SecretStr(s) for s in secrets]
        self._key = key
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember = remember

    def verify(self, headers: Mapping[str, str], body: bytes, now: float | None = None) -> dict[str, object]:
        """Check signature and timestamp; return the parsed body."""
        lower = {k.lower(): v for k, v in headers.items()}
        webhook_id = lower.get("webhook-id")
        stamp = lower.get("webhook-timestamp")
        signatures = lower.get("webhook-signature")
        if not webhook_id or not stamp or not signatures:
            raise WebhookRejected("missing webhook-id, webhook-timestamp or webhook-signature")
        try:
            sent = int(stamp)
        except ValueError as exc:
            raise WebhookRejected("webhook-timestamp is not a number") from exc
        if abs((time.time() if now is None else now) - sent) > TOLERANCE_SECONDS:
            raise WebhookRejected("webhook-timestamp outside the accepted window")
        expected = sign(webhook_id, sent, body, self._secrets).split()
        given = [part for part in signatures.split() if part.startswith("v1,")]
        if not any(hmac.compare_digest(g, e) for g in given for e in expected):
            raise WebhookRejected("no valid v1 signature")
        parsed: dict[str, object] = json.loads(body)
        return parsed

    def receive(self, headers: Mapping[str, str], body: bytes) -> ReceivedMessage:
        """Verify, dedupe by webhook-id and open; raise WebhookRejected otherwise."""
        document = self.verify(headers, body)
        webhook_id = {k.lower(): v for k, v in headers.items()}["webhook-id"]
        if webhook_id in self._seen:
            raise WebhookRejected(f"replay of {webhook_id}")
        message = open_envelope(document, self._key)
        self._seen[webhook_id] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        return ReceivedMessage(
            webhook_id,
            message.message_id,
            message.sender,
            message.business_id,
            message.disclosure_revision,
            message.plaintext,
        )


def open_envelope(document: Mapping[str, object], key: EndpointPrivateKey) -> ReceivedMessage:
    """Open the envelope in a webhook or ingest body with the endpoint's private key."""
    if document.get("key_id") != key.public.kid:
        raise WebhookRejected("sealed to another key than this endpoint's")
    sealed = str(document["sealed"])
    business_id = str(document["business_id"])
    try:
        plaintext = key.open(b64url_decode(sealed), business_id)
    except Exception as exc:
        raise WebhookRejected("the envelope does not open with this key") from exc
    return ReceivedMessage(
        webhook_id=str(document["message_id"]),
        message_id=str(document["message_id"]),
        sender=str(document["sender"]),
        business_id=business_id,
        disclosure_revision=int(str(document["disclosure_revision"])),
        plaintext=plaintext,
    )
