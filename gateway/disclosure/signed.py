"""Wrap a signed document in a CloudEvent: the body is the document, the JWS rides in a header.

The JWS payload is exactly the body. Its protected header also carries the
event's CloudEvents attributes (``ce``), so a changed AMQP header is detected
too, while any JOSE library still verifies the signature as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from gateway.broker.cloudevents import PREFIXES, CloudEvent
from gateway.disclosure.jws import SignatureInvalid, sign_detached, verify_detached
from gateway.disclosure.keys import SigningKey

JWS_EXTENSION = "jws"


def signed_event(
    event_type: str, event_id: str, *, subject: str, body: bytes, key: SigningKey, when: datetime
) -> CloudEvent:
    """A CloudEvent whose ``jws`` extension is a detached JWS over exactly ``body``."""
    event = CloudEvent(id=event_id, type=event_type, subject=subject, time=when, data=body)
    jws = sign_detached(body, key.private, key.kid, {"ce": attributes(event.headers())})
    return replace(event, extensions={JWS_EXTENSION: jws})


def attributes(headers: Mapping[str, Any]) -> dict[str, str]:
    """The CloudEvents attributes in AMQP headers, as text, without the JWS itself."""
    found: dict[str, str] = {}
    for key, value in headers.items():
        for prefix in PREFIXES:
            if key.startswith(prefix) and key[len(prefix) :] != JWS_EXTENSION:
                found[key[len(prefix) :]] = (
                    value.decode() if isinstance(value, bytes) else str(value)
                )
    return found


def verify_event(headers: Mapping[str, Any], body: bytes, keys: Mapping[str, Any]) -> str:
    """Check the JWS over the body and that the headers are the ones signed; return the kid."""
    raw = headers.get(f"cloudEvents_{JWS_EXTENSION}", headers.get(f"cloudEvents:{JWS_EXTENSION}"))
    if raw is None:
        raise SignatureInvalid("event carries no jws")
    jws = raw.decode() if isinstance(raw, bytes) else str(raw)
    protected = verify_detached(jws, body, keys)
    if protected.get("ce") != attributes(headers):
        raise SignatureInvalid("CloudEvents headers differ from the signed ones")
    return str(protected["kid"])
