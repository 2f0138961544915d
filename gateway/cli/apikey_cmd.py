"""``hostgate apikey``: make an API key and the hash a business file stores."""

from __future__ import annotations

import argparse
import secrets
import sys

from gateway.cli.common import EXIT_OK
from gateway.config.fields import hash_api_key

KEY_PREFIX = "hg_"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``apikey new`` and ``apikey hash``."""
    apikey = subparsers.add_parser("apikey", help="make API keys and their hashes")
    actions = apikey.add_subparsers(dest="action", required=True)
    new = actions.add_parser("new", help="print a new random key and its hash")
    new.set_defaults(run=run_new)
    hashed = actions.add_parser("hash", help="hash a key read from standard input")
    hashed.set_defaults(run=run_hash)


def run_new(_args: argparse.Namespace) -> int:
    """Print a fresh key (give it to the business) and its hash (put it in the file)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    print(f"key:  {key}")
    print(f"hash: {hash_api_key(key)}")
    return EXIT_OK


def run_hash(_args: argparse.Namespace) -> int:
    """Hash a key given on standard input, so it never appears in shell history."""
    print(hash_api_key(sys.stdin.readline().strip()))
    return EXIT_OK
