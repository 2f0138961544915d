"""The one structlog pipeline: JSON lines with dotted event names and values as keys."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

# Keys whose values must never reach a log line, whatever code passes them by mistake.
_REDACTED_KEYS = frozenset(
    {
        "authorization",
        "api_key",
        "token",
        "secret",
        "secrets",
        "password",
        "body",
        "ciphertext",
        "plaintext",
        "text",
        "payload",
    }
)


def _redact(_logger: object, _method: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    for key in _REDACTED_KEYS.intersection(event):
        event[key] = "[redacted]"
    return event


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Send structlog and stdlib logging (aiohttp, aio-pika) as JSON lines to ``stream``."""
    out = stream or sys.stdout
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Library chatter (aio-pika's reconnect warnings) stays at WARNING and above.
    root.setLevel(logging.WARNING)
