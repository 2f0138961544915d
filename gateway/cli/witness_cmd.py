"""``hostgate witness``: run a C2SP tlog-witness for one or more logs (c2sp.org/tlog-witness)."""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.cli.common import EXIT_INVALID, EXIT_OK
from gateway.errors import CheckpointError
from gateway.transparency import note
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


def _key(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(os.urandom(32).hex() + "\n")
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(path.read_text().strip()))


def run_witness(args: argparse.Namespace) -> int:
    """Serve ``POST /add-checkpoint`` until stopped; print the witness's verifier key first."""
    try:
        logs = [note.Verifier.parse(v) for v in args.log]
    except CheckpointError as exc:
        print(f"error: --log: {exc}")
        return EXIT_INVALID
    witness = Witness(args.name, _key(args.key), logs, args.state)
    print(f"witness verifier key: {witness.verifier_key}", flush=True)
    web.run_app(witness_app(witness), host=args.host, port=args.port, print=None)
    return EXIT_OK
