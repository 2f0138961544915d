"""The audit pipeline: structlog processors that allowlist and pseudonymise, then the chain writer.

``await trail.record("disclosure.published", business=..., ...)`` returns once
the record is on disk. Fields not in the event's schema are dropped; user ids
are pseudonymised; a value that does not fit the schema raises at the caller,
so a bug cannot write a raw id or a message body into the trail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import structlog

from gateway.audit.records import EVENTS, USER_FIELDS, USER_PAIR_FIELDS
from gateway.audit.writer import ChainWriter

# Each event's declared field names, read once: the model's own mapping is rebuilt on every access.
_DECLARED = {name: frozenset(model.model_fields) for name, model in EVENTS.items()}


class _ChainSink:
    """The structlog 'logger' at the end of the pipeline: hands the record to the writer."""

    def __init__(self, writer: ChainWriter) -> None:
        self._writer = writer

    def msg(self, **record: object) -> Future[int]:
        return self._writer.submit(record)


def validated_record(
    pseudonymize: Callable[[str], str], name: str, given: Mapping[str, object]
) -> dict[str, Any]:
    """Keep only the event's declared fields, pseudonymise user ids, validate; add event and time."""
    model = EVENTS[name]
    declared = _DECLARED[name]
    fields = {k: v for k, v in given.items() if k in declared}
    for key in USER_FIELDS.intersection(fields):
        fields[key] = pseudonymize(str(fields[key]))
    for key in USER_PAIR_FIELDS.intersection(fields):
        pairs = fields[key]
        if not isinstance(pairs, list | tuple):
            raise TypeError(f"audit field {key!r} takes (user, value) pairs")
        fields[key] = [(pseudonymize(str(user)), value) for user, value in pairs]
    # The model's validator and serializer directly: the same checks and output as
    # model_validate(...).model_dump(mode="json"), without the wrappers' per-call cost.
    validated = model.__pydantic_serializer__.to_python(
        model.__pydantic_validator__.validate_python(fields), mode="json"
    )
    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {"event": name, "ts": stamp, **validated}


def schema_processor(pseudonymize: Callable[[str], str]) -> structlog.typing.Processor:
    """The pipeline's processor: ``validated_record`` on the event dict."""

    def process(_logger: object, _method: str, event_dict: structlog.typing.EventDict) -> dict[str, Any]:
        name = event_dict.pop("event")
        return validated_record(pseudonymize, name, event_dict)

    return process


class AuditTrail:
    """Where the gateway records its decisions."""

    def __init__(self, writer: ChainWriter, pseudonymize: Callable[[str], str]) -> None:
        self.writer = writer
        self.pseudonymize = pseudonymize
        self._log = structlog.wrap_logger(
            _ChainSink(writer),
            processors=[schema_processor(pseudonymize)],
            wrapper_class=structlog.BoundLogger,
            cache_logger_on_first_use=True,
        )

    def render(self, event: str, **fields: object) -> dict[str, Any]:
        """The validated record for ``event``, as the pipeline makes it (nothing written)."""
        return validated_record(self.pseudonymize, event, fields)

    def submit(self, event: str, **fields: object) -> Future[int]:
        """Queue a record from any thread; the future resolves once it is on disk."""
        future: Future[int] = self._log.msg(event, **fields)
        return future

    async def record(self, event: str, **fields: object) -> int:
        """Record and wait until it is on disk; return its sequence number."""
        return await asyncio.wrap_future(self.submit(event, **fields))
