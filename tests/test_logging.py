"""Logs for people on a terminal and for machines everywhere else, redacted either way."""

from __future__ import annotations

import io
import json
import logging
import os
import re
from collections.abc import Iterator

import pytest
import structlog

from gateway.logging import configure_logging

KEY = "hg_OaJgRLK3o0V2k_HGoBNpsFEVC6Ha_fdaRIb3flcB36Y"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Each test configures logging for itself; the rest of the suite gets the defaults back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def _emit() -> None:
    structlog.get_logger("hostgate.test").info("relay.resumed", business="warung-sari", api_key=KEY)
    logging.getLogger("aiohttp.server").error("bad header: Authorization: Bearer %s", KEY)


def test_json_lines_when_not_a_terminal() -> None:
    """A pipe or file gets one JSON object per line, with the event name and fields as keys."""
    out = io.StringIO()
    configure_logging(stream=out)
    _emit()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["event"] == "relay.resumed"
    assert lines[0]["business"] == "warung-sari"
    assert KEY not in out.getvalue()


def test_readable_and_coloured_on_a_terminal() -> None:
    """On a TTY the same records are aligned key=value text with colour, still redacted."""
    main, side = os.openpty()
    with os.fdopen(side, "w", buffering=1) as terminal:
        configure_logging(stream=terminal)
        _emit()
        terminal.flush()
        text = os.read(main, 65536).decode()
    os.close(main)
    assert ANSI.search(text), "no colour on a terminal"
    plain = ANSI.sub("", text)
    assert "relay.resumed" in plain
    assert "business=warung-sari" in plain
    assert not plain.lstrip().startswith("{")
    assert KEY not in plain


def test_console_format_asked_for_without_a_terminal_has_no_colour() -> None:
    """--log-format console on a pipe is readable text without escape codes."""
    out = io.StringIO()
    configure_logging(stream=out, log_format="console")
    _emit()
    assert "relay.resumed" in out.getvalue()
    assert not ANSI.search(out.getvalue())
    assert KEY not in out.getvalue()
