"""``hostgate config check``: validate a config directory for an onboarding review."""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway.cli.common import DEFAULT_CONFIG_DIR, EXIT_INVALID, EXIT_OK, load_or_report


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``config check``."""
    config = subparsers.add_parser("config", help="work with the config directory")
    actions = config.add_subparsers(dest="action", required=True)
    check = actions.add_parser("check", help="validate a config directory; exit 1 listing every problem")
    check.add_argument("directory", nargs="?", type=Path, default=DEFAULT_CONFIG_DIR)
    check.set_defaults(run=run_check)


def run_check(args: argparse.Namespace) -> int:
    """Validate and summarise each business; 0 when valid, 1 when not."""
    config = load_or_report(args.directory)
    if config is None:
        return EXIT_INVALID
    print(f"{args.directory}: valid, {len(config.businesses)} business(es)")
    for business in config.businesses.values():
        facts = business.facts
        print(
            f"  {business.id}: adapter={business.file.hosting.adapter} "
            f"class={facts.hosting_class.value} "
            f"operator={facts.operator!r} region={facts.region} "
            f"retention={facts.retention.days}d key={facts.endpoint_key.kid}"
        )
    return EXIT_OK
