"""The one structlog pipeline: dotted event names, values as keys; JSON lines, or readable on a terminal."""

from __future__ import annotations

import logging
import os
import re
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


# Credentials inside free text: a library quoting a header line in its error (aiohttp's parser
# does), a traceback, a URL with a password. Keys and secrets have recognisable shapes.
_SECRET_PATTERNS = (
    (re.compile(r"(?i)(authorization\s*[:=]\s*)[^\r\n'\"]*"), r"\1[redacted]"),
    (re.compile(r"(?i)\bbearer\s+[^\s'\"\\]+"), "Bearer [redacted]"),
    (re.compile(r"\bhg[no]?_[A-Za-z0-9_-]{16,}"), "[redacted]"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]{8,}"), "[redacted]"),
    (re.compile(r"(://[^:/@\s]+):[^@\s]+@"), r"\1:[redacted]@"),
)


def scrub(text: str) -> str:
    """``text`` with anything shaped like a credential replaced by ``[redacted]``."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact(_logger: object, _method: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    for key in _REDACTED_KEYS.intersection(event):
        event[key] = "[redacted]"
    return event


def _scrub_values(
    _logger: object, _method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    # Last before rendering, after exceptions became text: every string value, ours or a library's.
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = scrub(value)
        elif isinstance(value, (list, tuple)):
            event[key] = [scrub(v) if isinstance(v, str) else v for v in value]
    return event


LOG_FORMATS = ("auto", "json", "console")


def _renderer(out: TextIO, log_format: str) -> structlog.typing.Processor:
    """JSON for machines; aligned, coloured key=value lines for a person at a terminal."""
    console = log_format == "console" or (log_format == "auto" and out.isatty())
    if not console:
        return structlog.processors.JSONRenderer()
    colors = out.isatty() and not os.environ.get("NO_COLOR")
    return structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=structlog.dev.plain_traceback)


def configure_logging(level: str = "info", stream: TextIO | None = None, log_format: str = "auto") -> None:
    """Send structlog and stdlib logging (aiohttp, aio-pika) to ``stream``: JSON unless it is a terminal."""
    out = stream or sys.stdout
    renderer = _renderer(out, log_format)
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
            _scrub_values,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # One write per line (print() makes two when the stream is unbuffered, as PYTHONUNBUFFERED
        # and the container make it): workers sharing one stdout would cut into each other's lines.
        logger_factory=structlog.WriteLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _scrub_values,
                renderer,
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Library chatter (aio-pika's reconnect warnings) stays at WARNING and above.
    root.setLevel(logging.WARNING)
