"""CloudEvents 1.0, binary mode over AMQP: attributes in ``cloudEvents_*`` headers, data as body."""

from __future__ import annotations

import builtins
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import aio_pika
from pydantic import BaseModel

from gateway.errors import CloudEventError, PoisonMessageError

ModelT = TypeVar("ModelT", bound=BaseModel)

SPEC_VERSION = "1.0"
SOURCE = "urn:hostgate:gateway"
CONTENT_TYPE = "application/json"
PREFIX = "cloudEvents_"
# The AMQP binding spec used ``cloudEvents:`` before ``cloudEvents_``; accept both when reading.
PREFIXES = ("cloudEvents_", "cloudEvents:")
REQUIRED = ("specversion", "id", "source", "type")


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """One event: its context attributes and its JSON data bytes."""

    id: str
    type: str
    data: bytes
    source: str = SOURCE
    subject: str | None = None
    time: datetime | None = None
    extensions: Mapping[str, str | int] = field(default_factory=dict)

    def data_as(self, expected_type: str, model: builtins.type[ModelT]) -> ModelT:
        """The data as ``model``, if this event is of ``expected_type``; anything else is poison."""
        if self.type != expected_type:
            raise PoisonMessageError(f"unexpected event type {self.type!r}")
        return model.model_validate_json(self.data)

    def headers(self) -> dict[str, str | int]:
        """AMQP application headers for binary mode."""
        headers: dict[str, str | int] = {
            f"{PREFIX}specversion": SPEC_VERSION,
            f"{PREFIX}id": self.id,
            f"{PREFIX}source": self.source,
            f"{PREFIX}type": self.type,
        }
        if self.subject is not None:
            headers[f"{PREFIX}subject"] = self.subject
        if self.time is not None:
            headers[f"{PREFIX}time"] = self.time.astimezone(UTC).isoformat().replace("+00:00", "Z")
        for name, value in self.extensions.items():
            headers[f"{PREFIX}{name}"] = value
        return headers


def amqp_message(event: CloudEvent) -> aio_pika.Message:
    """The event as a persistent aio-pika message in binary mode (for clients publishing with aio-pika)."""
    return aio_pika.Message(
        event.data,
        headers=dict(event.headers()),
        content_type=CONTENT_TYPE,
        message_id=event.id,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


_ATTRIBUTE_NAME = re.compile(r"[a-z0-9]{1,20}")
# RFC 3339 date-time: a full date, a time, and an offset (Z or ±hh:mm); nothing shorter.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _time(value: object) -> datetime | None:
    """``time`` as the AMQP binding allows it: an RFC 3339 string, or the native AMQP timestamp."""
    if value is None:
        return None
    if isinstance(value, datetime):  # the AMQP timestamp type, as pamqp decodes it
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str) and _RFC3339.fullmatch(value):
        try:
            return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        except ValueError as exc:
            raise CloudEventError("time is not an RFC 3339 timestamp") from exc
    raise CloudEventError("time is not an RFC 3339 timestamp with an offset")


# Both prefixes are this long: one slice and a set lookup per header, on every message consumed.
_PREFIX_LENGTH = len(PREFIX)
_PREFIX_SET = frozenset(PREFIXES)
assert all(len(p) == _PREFIX_LENGTH for p in PREFIXES)  # noqa: S101 -- holds by construction
# Attribute names already found valid, so each message does not run the regex again; bounded,
# as names come from the network.
_VALID_NAMES: set[str] = set()
_VALID_NAMES_MAX = 256


def _valid_name(name: str) -> bool:
    if name in _VALID_NAMES:
        return True
    # The spec: attribute names are lower-case letters and digits; "data" is reserved.
    if not _ATTRIBUTE_NAME.fullmatch(name) or name == "data":
        return False
    if len(_VALID_NAMES) < _VALID_NAMES_MAX:
        _VALID_NAMES.add(name)
    return True


def parse(headers: Mapping[str, Any], body: bytes) -> CloudEvent:
    """Read a binary-mode CloudEvent from AMQP headers and body; CloudEventError when invalid."""
    attributes: dict[str, Any] = {}
    for key, value in headers.items():
        if key[:_PREFIX_LENGTH] in _PREFIX_SET:
            attributes[key[_PREFIX_LENGTH:]] = value.decode() if isinstance(value, bytes) else value
    missing = [
        name for name in REQUIRED if not isinstance(attributes.get(name), str) or not attributes.get(name)
    ]
    if missing:
        raise CloudEventError(f"missing CloudEvents attribute(s): {', '.join(missing)}")
    if attributes["specversion"] != SPEC_VERSION:
        raise CloudEventError(f"unsupported specversion {attributes['specversion']!r}")
    parsed_time = _time(attributes.pop("time", None))
    for name in attributes:
        if not _valid_name(name):
            raise CloudEventError(f"invalid CloudEvents attribute name {name!r}")
    subject = attributes.pop("subject", None)
    core = {name: attributes.pop(name) for name in REQUIRED}
    return CloudEvent(
        id=core["id"],
        type=core["type"],
        source=core["source"],
        data=body,
        subject=subject if isinstance(subject, str) else None,
        time=parsed_time,
        extensions={k: v for k, v in attributes.items() if isinstance(v, str | int)},
    )
