"""Wrap a signed document in a CloudEvent: the body is the document, the JWS rides in a header.

The JWS payload is exactly the body. The body repeats the event's CloudEvents
attributes under ``event``, so a changed AMQP header is detected too, while any
JOSE library verifies the signature with nothing but ``alg`` and ``kid``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from gateway.broker.cloudevents import PREFIXES, CloudEvent
from gateway.disclosure.document import canonical_json
from gateway.disclosure.jws import SignatureInvalid, sign_detached, verify_detached
from gateway.disclosure.keys import SigningKey

JWS_EXTENSION = "jws"


def signed_event(
    event_type: str,
    event_id: str,
    *,
    subject: str,
    document: Mapping[str, object],
    key: SigningKey,
    when: datetime,
) -> CloudEvent:
    """A CloudEvent whose body is ``document`` plus its attributes, signed by a detached JWS."""
    event = CloudEvent(id=event_id, type=event_type, subject=subject, time=when, data=b"")
    body = canonical_json({**document, "event": attributes(event.headers())})
    jws = sign_detached(body, key.private, key.kid)
    return replace(event, data=body, extensions={JWS_EXTENSION: jws})


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
    try:
        signed = json.loads(body).get("event")
    except (ValueError, AttributeError) as exc:
        raise SignatureInvalid("body is not a JSON object") from exc
    if signed != attributes(headers):
        raise SignatureInvalid("CloudEvents headers differ from the signed ones")
    return str(protected["kid"])
