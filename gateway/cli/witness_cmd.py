"""``hostgate witness``: run a C2SP tlog-witness for one or more logs (c2sp.org/tlog-witness)."""

from __future__ import annotations

import argparse
from pathlib import Path

from aiohttp import web

from gateway.cli.common import EXIT_INVALID, EXIT_OK
from gateway.errors import CheckpointError
from gateway.transparency import note
from gateway.transparency.files import ed25519_key_file
from gateway.transparency.witness import Witness, witness_app


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``witness``."""
    witness = subparsers.add_parser("witness", help="cosign transparency-log checkpoints that never fork")
    witness.add_argument("--name", required=True, help="the witness's key name, e.g. witness.example.org")
    witness.add_argument(
        "--key", type=Path, required=True, help="its Ed25519 key file (made, 0600, if missing)"
    )
    witness.add_argument("--log", action="append", required=True, help="a log's verifier key (repeat)")
    witness.add_argument("--state", type=Path, required=True, help="where what it cosigned is kept")
    witness.add_argument("--host", default="127.0.0.1")
    witness.add_argument("--port", type=int, default=7380)
    witness.set_defaults(run=run_witness)


def run_witness(args: argparse.Namespace) -> int:
    """Serve ``POST /add-checkpoint`` until stopped; print the witness's verifier key first."""
    try:
        logs = [note.Verifier.parse(v) for v in args.log]
    except CheckpointError as exc:
        print(f"error: --log: {exc}")
        return EXIT_INVALID
    witness = Witness(args.name, ed25519_key_file(args.key), logs, args.state)
    print(f"witness verifier key: {witness.verifier_key}", flush=True)
    web.run_app(witness_app(witness), host=args.host, port=args.port, print=None)
    return EXIT_OK
