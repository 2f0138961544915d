"""Entry point of the ``hostgate`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gateway import __version__
from gateway.cli import (
    apikey_cmd,
    audit_cmd,
    broker_cmd,
    config_cmd,
    deliveries_cmd,
    disclosure_cmd,
    keys_cmd,
    monitor_cmd,
    rights_cmd,
    serve_cmd,
    simulate_cmd,
    watch_cmd,
    witness_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="hostgate", description="Business-hosting gateway and notification broker."
    )
    parser.add_argument("--version", action="version", version=f"hostgate {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in (
        serve_cmd,
        config_cmd,
        disclosure_cmd,
        keys_cmd,
        rights_cmd,
        watch_cmd,
        simulate_cmd,
        audit_cmd,
        deliveries_cmd,
        apikey_cmd,
        broker_cmd,
        witness_cmd,
        monitor_cmd,
    ):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code."""
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
