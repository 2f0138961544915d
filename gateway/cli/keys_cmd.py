"""``hostgate keys``: the gateway's disclosure signing keys."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gateway.cli.common import DEFAULT_CONFIG_DIR, EXIT_INVALID, EXIT_OK, load_or_report
from gateway.disclosure.keys import KeyRing


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``keys rotate`` and ``keys list``."""
    keys = subparsers.add_parser("keys", help="disclosure signing keys")
    actions = keys.add_subparsers(dest="action", required=True)
    rotate = actions.add_parser("rotate", help="make a new signing key active; old keys stay in the JWKS")
    rotate.add_argument("--config", type=Path, default=DEFAULT_CONFIG_DIR)
    rotate.set_defaults(run=run_rotate)
    listing = actions.add_parser("list", help="print the JWKS (public keys only)")
    listing.add_argument("--config", type=Path, default=DEFAULT_CONFIG_DIR)
    listing.set_defaults(run=run_list)


def _ring(directory: Path) -> KeyRing | None:
    config = load_or_report(directory)
    if config is None:
        return None
    return KeyRing.open(config.path(config.settings.signing_key_dir))


def run_rotate(args: argparse.Namespace) -> int:
    """Rotate; a running gateway signs with the new key from its next signature on."""
    ring = _ring(args.config)
    if ring is None:
        return EXIT_INVALID
    key = ring.rotate()
    print(f"active signing key: {key.kid}")
    print(f"keys published in the JWKS: {', '.join(sorted(ring.public_keys()))}")
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    """Print the JWKS document."""
    ring = _ring(args.config)
    if ring is None:
        return EXIT_INVALID
    print(json.dumps(ring.jwks(), indent=2))
    return EXIT_OK
