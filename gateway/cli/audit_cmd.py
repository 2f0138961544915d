"""``hostgate audit``: verify, show and export the audit trail."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.audit.checkpoint import parse_verifier_key, verifier_key
from gateway.audit.proof import RecordProof, check, prove
from gateway.audit.pseudonym import Pseudonymizer
from gateway.audit.query import Filter, for_user, read_records, table, to_csv, to_jsonl, trail_files
from gateway.audit.setup import CHECKPOINTS_FILE, audit_dir
from gateway.audit.verify import verify
from gateway.cli.common import DEFAULT_CONFIG_DIR, EXIT_INVALID, EXIT_OK, EXIT_USAGE, load_or_report
from gateway.disclosure.keys import KeyRing
from gateway.errors import CheckpointError

EXIT_TAMPERED, EXIT_INCOMPLETE = 1, 3


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit verify|show|export|key``."""
    audit = subparsers.add_parser("audit", help="the tamper-evident audit trail")
    actions = audit.add_subparsers(dest="action", required=True)

    check = actions.add_parser("verify", help="verify trail files; exit 0 intact, 1 tampered, 3 incomplete")
    check.add_argument("paths", nargs="+", type=Path, help="trail files or directories, in order")
    check.add_argument("--key", action="append", default=[], help="verifier key (string or file); repeatable")
    check.add_argument("--checkpoints", type=Path, default=None, help="checkpoints file (signed notes)")
    check.set_defaults(run=run_verify)

    for name, helptext in (("show", "a readable table of records"), ("export", "records for other tools")):
        sub = actions.add_parser(name, help=helptext)
        sub.add_argument("--config", type=Path, default=DEFAULT_CONFIG_DIR)
        sub.add_argument("--dir", type=Path, default=None, help="trail directory (default: from config)")
        sub.add_argument("--business")
        sub.add_argument("--user", help="a user id; matched through its pseudonym")
        sub.add_argument("--event")
        sub.add_argument("--since", type=datetime.fromisoformat, help="ISO 8601 time, e.g. 2026-11-29T00:00Z")
        sub.add_argument("--until", type=datetime.fromisoformat)
        if name == "export":
            sub.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
        sub.set_defaults(run=run_query, action_name=name)

    prove = actions.add_parser("prove", help="an inclusion proof of one record, to show it without the trail")
    prove.add_argument("paths", nargs="+", type=Path, help="trail files or directories, in order")
    prove.add_argument("--seq", type=int, required=True, help="the record's sequence number")
    prove.add_argument("--key", action="append", default=[], help="verifier key (string or file); repeatable")
    prove.add_argument("--checkpoints", type=Path, required=True, help="checkpoints file (signed notes)")
    prove.set_defaults(run=run_prove)

    check_proof = actions.add_parser(
        "check-proof", help="verify a proof from `audit prove`; exit 0 valid, 1 not"
    )
    check_proof.add_argument("proof", type=Path, help="the proof document (- for standard input)")
    check_proof.add_argument(
        "--key", action="append", default=[], required=True, help="verifier key; repeatable"
    )
    check_proof.set_defaults(run=run_check_proof)

    key = actions.add_parser("key", help="print the verifier keys for checkpoints")
    key.add_argument("--config", type=Path, default=DEFAULT_CONFIG_DIR)
    key.set_defaults(run=run_key)


def _keys(values: list[str]) -> dict[str, Ed25519PublicKey]:
    keys: dict[str, Ed25519PublicKey] = {}
    for value in values:
        path = Path(value)
        lines = path.read_text().split() if path.is_file() else [value]
        for line in lines:
            name, public = parse_verifier_key(line)
            keys[name] = public
    return keys


def _inputs(args: argparse.Namespace) -> tuple[list[Path], dict[str, Ed25519PublicKey], str | None] | str:
    missing = [str(p) for p in [*args.paths, *filter(None, [args.checkpoints])] if not p.exists()]
    if missing:
        return f"not found: {', '.join(missing)}"
    files = trail_files(args.paths)
    if not files:
        return "no trail files found"
    try:
        keys = _keys(args.key)
    except (CheckpointError, OSError) as exc:
        return f"--key: {exc}"
    checkpoints = args.checkpoints.read_text() if args.checkpoints else None
    if checkpoints is not None and not keys:
        return "--checkpoints needs --key to check their signatures"
    return files, keys, checkpoints


def run_verify(args: argparse.Namespace) -> int:
    """Verify; print the first problem with its sequence number."""
    inputs = _inputs(args)
    if isinstance(inputs, str):
        print(f"error: {inputs}", file=sys.stderr)
        return EXIT_USAGE
    files, keys, checkpoints = inputs
    if checkpoints is None:
        print(
            "warning: no checkpoints checked: truncation and a rewritten trail go unnoticed", file=sys.stderr
        )
    report = verify(files, checkpoints, keys)
    print(report.describe())
    if report.first is not None:
        return EXIT_TAMPERED
    if report.incomplete is not None:
        return EXIT_INCOMPLETE
    return EXIT_OK


def run_prove(args: argparse.Namespace) -> int:
    """Print the proof document of one record."""
    inputs = _inputs(args)
    if isinstance(inputs, str):
        print(f"error: {inputs}", file=sys.stderr)
        return EXIT_USAGE
    files, keys, checkpoints = inputs
    if not keys or checkpoints is None:
        print("error: --key is needed to pick a checkpoint whose signature verifies", file=sys.stderr)
        return EXIT_USAGE
    try:
        proof = prove(files, checkpoints, keys, args.seq)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_TAMPERED
    sys.stdout.write(proof.to_json().decode() + "\n")
    return EXIT_OK


def run_check_proof(args: argparse.Namespace) -> int:
    """Verify a proof document alone: signature, then path."""
    try:
        keys = _keys(args.key)
        data = sys.stdin.buffer.read() if str(args.proof) == "-" else args.proof.read_bytes()
        checkpoint = check(RecordProof.from_json(data), keys)
    except OSError as exc:
        print(f"error: {args.proof}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    except CheckpointError as exc:
        print(f"NOT PROVED: {exc}", file=sys.stderr)
        return EXIT_TAMPERED
    print(f"proved: the record is in {checkpoint.origin}, a trail of {checkpoint.size} records")
    return EXIT_OK


def run_query(args: argparse.Namespace) -> int:
    """Show or export the records that match."""
    config = load_or_report(args.config)
    if config is None:
        return EXIT_INVALID
    directory = args.dir or audit_dir(config)
    if not directory.is_dir():
        print(f"error: no audit trail at {directory} (the gateway writes it while it runs)", file=sys.stderr)
        return EXIT_INVALID
    pseudonym = None
    if args.user:
        pseudonym = Pseudonymizer.open(config.path(config.settings.signing_key_dir))(args.user)
    wanted = Filter(args.business, pseudonym, args.event, args.since, args.until)
    records = [r for r in read_records(trail_files([directory])) if wanted.matches(r)]
    if args.action_name == "show":
        print(table(for_user(r, pseudonym) for r in records))
    else:
        sys.stdout.write(to_csv(records) if args.format == "csv" else to_jsonl(records))
    return EXIT_OK


def run_key(args: argparse.Namespace) -> int:
    """Print ``<name>+<hash>+<key>`` for every signing key."""
    config = load_or_report(args.config)
    if config is None:
        return EXIT_INVALID
    ring = KeyRing.open(config.path(config.settings.signing_key_dir))
    for kid, public in sorted(ring.public_keys().items()):
        print(verifier_key(kid, public))
    print(f"# checkpoints: {audit_dir(config) / CHECKPOINTS_FILE}", file=sys.stderr)
    return EXIT_OK
