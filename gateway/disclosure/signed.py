"""Wrap a signed document in a CloudEvent: the body is the document, the JWS rides in a header.

The JWS payload is exactly the body. The body repeats the event's CloudEvents
attributes under ``event``, so a changed AMQP header is detected too, while any
JOSE library verifies the signature with nothing but ``alg`` and ``kid``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gateway.broker.cloudevents import PREFIX, PREFIXES, CloudEvent
from gateway.disclosure.document import canonical_json
from gateway.disclosure.jws import DetachedSigner, verify_detached
from gateway.disclosure.keys import SigningKey
from gateway.errors import SignatureInvalid

JWS_EXTENSION = "jws"
# The disclosure's transparency-log proof (leaf index, checkpoint, inclusion proof) as JSON: added
# after signing, so outside the signed attributes; it verifies itself against the log's key.
LOG_EXTENSION = "hostgatelog"
UNSIGNED_EXTENSIONS = frozenset({JWS_EXTENSION, LOG_EXTENSION})


class EventSigner:
    """Signs many events of one type, subject and time, doing their shared work once."""

    def __init__(self, event_type: str, subject: str, key: SigningKey, when: datetime) -> None:
        template = CloudEvent(id="", type=event_type, subject=subject, time=when, data=b"")
        self._attributes = {name.removeprefix(PREFIX): str(v) for name, v in template.headers().items()}
        self._jws = DetachedSigner(key.private, key.kid)

    def prepare(self, event_id: str, document: Mapping[str, object]) -> tuple[dict[str, str | int], bytes]:
        """AMQP headers (still without ``cloudEvents_jws``) and the body to sign, for one event."""
        signed_attributes = {**self._attributes, "id": event_id}
        body = canonical_json({**document, "event": signed_attributes})
        headers: dict[str, str | int] = {PREFIX + name: value for name, value in signed_attributes.items()}
        return headers, body

    def sign(self, event_id: str, document: Mapping[str, object]) -> tuple[dict[str, str | int], bytes]:
        """AMQP headers (with ``cloudEvents_jws``) and body for one event."""
        headers, body = self.prepare(event_id, document)
        headers[PREFIX + JWS_EXTENSION] = self._jws.sign(body)
        return headers, body


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
    headers, body = EventSigner(event_type, subject, key, when).sign(event_id, document)
    return CloudEvent(
        id=event_id,
        type=event_type,
        subject=subject,
        time=when,
        data=body,
        extensions={JWS_EXTENSION: headers[PREFIX + JWS_EXTENSION]},
    )


def attributes(headers: Mapping[str, Any]) -> dict[str, str]:
    """The CloudEvents attributes in AMQP headers, as text, without the JWS and the log proof."""
    found: dict[str, str] = {}
    for key, value in headers.items():
        for prefix in PREFIXES:
            if key.startswith(prefix) and key[len(prefix) :] not in UNSIGNED_EXTENSIONS:
                found[key[len(prefix) :]] = value.decode() if isinstance(value, bytes) else str(value)
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
