"""What every subcommand shares: loading config and reporting its problems."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from adapters.base import unprintable
from gateway.adapter_registry import AdapterRegistry
from gateway.config.loader import GatewayConfig, load_config
from gateway.errors import ConfigError

DEFAULT_CONFIG_DIR = Path("config")
EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def terminal_safe(text: str) -> str:
    """``text`` with control and bidi characters shown escaped, so a terminal never acts on them."""
    return "".join(ch.encode("unicode_escape").decode("ascii") if unprintable(ch) else ch for ch in text)


def load_or_report(directory: Path) -> GatewayConfig | None:
    """Load the config directory, or print every problem to stderr and return None."""
    try:
        return load_config(directory, dict(os.environ), AdapterRegistry())
    except ConfigError as exc:
        print_problems(exc)
        return None


def print_problems(exc: ConfigError) -> None:
    """List config problems one per line, then a count."""
    for problem in exc.problems:
        print(f"error: {problem}", file=sys.stderr)
    count = len(exc.problems)
    print(f"{count} problem{'s' if count != 1 else ''} found", file=sys.stderr)
