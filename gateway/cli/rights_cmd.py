"""``hostgate purge`` and ``hostgate export``: users' rights from the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

import aiohttp

from gateway.audit.setup import make_trail
from gateway.audit.staging import AuditDrain
from gateway.audit.trail import AuditTrail
from gateway.cli.common import DEFAULT_CONFIG_DIR, EXIT_INVALID, EXIT_OK, EXIT_USAGE, load_or_report
from gateway.config.loader import GatewayConfig
from gateway.disclosure.keys import KeyRing
from gateway.errors import TrailLocked
from gateway.rights.export import export_user
from gateway.rights.retention import PurgeReport, purge
from gateway.rights.sweeper import purge_and_audit
from gateway.store import Store, open_store_at

TOKEN_ENV = "HOSTGATE_NETWORK_TOKEN"  # noqa: S105 -- the name of a variable, not a secret


OPERATOR_KEY_ENV = "HOSTGATE_OPERATOR_KEY"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``purge`` and ``export``."""
    purge_cmd = subparsers.add_parser("purge", help="remove data past each business's retention")
    purge_cmd.add_argument("--config", type=Path, default=DEFAULT_CONFIG_DIR)
    purge_cmd.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
    purge_cmd.add_argument(
        "--gateway",
        default=None,
        help=f"ask the running gateway at this URL to purge (operator key in {OPERATOR_KEY_ENV})",
    )
    purge_cmd.set_defaults(run=run_purge)
    export = subparsers.add_parser("export", help="everything hostgate holds about a user, as JSON")
    export.add_argument("user_id")
    export.add_argument("--config", type=Path, default=DEFAULT_CONFIG_DIR)
    export.add_argument(
        "--gateway",
        default=None,
        help=f"ask a running gateway (credential from ${TOKEN_ENV}) instead of the store",
    )
    export.set_defaults(run=run_export)


def _store(config: GatewayConfig) -> Store:
    return open_store_at(config.settings.store.url, config.path(config.settings.state_dir))


def _open_trail(config: GatewayConfig) -> AuditTrail | None:
    trail = make_trail(config, KeyRing.open(config.path(config.settings.signing_key_dir)))
    try:
        trail.writer.open()
    except TrailLocked as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    return trail


def run_purge(args: argparse.Namespace) -> int:
    """Purge now (audited), or count with --dry-run."""
    if args.gateway is not None:
        if args.dry_run:
            print("error: --dry-run counts from the store directly; leave out --gateway", file=sys.stderr)
            return EXIT_USAGE
        return asyncio.run(_purge_remote(args.gateway))
    config = load_or_report(args.config)
    if config is None:
        return EXIT_INVALID
    return asyncio.run(_purge(config, dry_run=args.dry_run))


async def _purge_remote(gateway: str) -> int:
    """POST /operator/purge with the operator key; print what the gateway removed."""
    key = os.environ.get(OPERATOR_KEY_ENV)
    if not key:
        print(
            f"error: set {OPERATOR_KEY_ENV} to an operator key ([console] operator_key_hashes)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    url = f"{gateway.rstrip('/')}/operator/purge"
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                url, headers={"Authorization": f"Bearer {key}"}, timeout=aiohttp.ClientTimeout(total=120)
            ) as response,
        ):
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        print(f"error: {url}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if response.status != 200:  # noqa: PLR2004 -- the one success answer
        print(f"error: {url}: {response.status} {body.get('error', body)}", file=sys.stderr)
        return EXIT_INVALID
    _print_report(PurgeReport(dry_run=False, removed=body["removed"]), "removed")
    return EXIT_OK


async def _purge(config: GatewayConfig, *, dry_run: bool) -> int:
    windows = {b.id: b.facts.retention for b in config.businesses.values()}
    store = _store(config)
    await store.open()
    try:
        report: PurgeReport
        if dry_run:
            async with store.read() as tx:
                report = await purge(tx, windows, dry_run=True)
        else:
            trail = _open_trail(config)
            if trail is None:
                print(
                    f"the running gateway purges every {config.settings.retention.sweep_seconds:g} s;"
                    f" to purge now, ask it: --gateway URL with {OPERATOR_KEY_ENV} set"
                    " (or stop it, or use --dry-run)",
                    file=sys.stderr,
                )
                return EXIT_INVALID
            try:
                report = await purge_and_audit(store, trail, windows)
                await AuditDrain(store, trail).flush()
            finally:
                trail.writer.close()
    finally:
        await store.aclose()
    _print_report(report, "would remove" if dry_run else "removed")
    return EXIT_OK


def _print_report(report: PurgeReport, verb: str) -> None:
    if not report.removed:
        print(f"nothing past retention; {verb} 0 rows")
    for business_id, counts in sorted(report.removed.items()):
        detail = ", ".join(f"{table}={n}" for table, n in counts.items() if n)
        print(f"{business_id}: {verb} {report.total(business_id)} rows ({detail})")


def run_export(args: argparse.Namespace) -> int:
    """Print the user's export (audited either way)."""
    config = load_or_report(args.config)
    if config is None:
        return EXIT_INVALID
    if args.gateway:
        return asyncio.run(_export_remote(args.gateway, args.user_id))
    return asyncio.run(_export_local(config, args.user_id))


async def _export_remote(gateway: str, user_id: str) -> int:
    token = os.environ.get(TOKEN_ENV)
    if not token:
        print(f"error: set {TOKEN_ENV} to the network's credential", file=sys.stderr)
        return EXIT_INVALID
    url = f"{gateway}/v1/network/users/{user_id}/export"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"Authorization": f"Bearer {token}"}) as r,
    ):
        body = await r.text()
        if r.status != 200:  # noqa: PLR2004 -- HTTP OK
            print(f"error: the gateway answered {r.status}: {body}", file=sys.stderr)
            return EXIT_INVALID
    print(body)
    return EXIT_OK


async def _export_local(config: GatewayConfig, user_id: str) -> int:
    trail = _open_trail(config)
    if trail is None:
        print("use --gateway URL to ask the running gateway", file=sys.stderr)
        return EXIT_INVALID
    store = _store(config)
    await store.open()
    try:
        operators = {b.id: b.facts.operator for b in config.businesses.values()}
        windows = {b.id: b.facts.retention for b in config.businesses.values()}
        document = await export_user(store, trail, user_id, windows, operators, requester="cli")
        await AuditDrain(store, trail).flush()
    finally:
        await store.aclose()
        trail.writer.close()
    print(json.dumps(document, indent=2, ensure_ascii=False))
    return EXIT_OK
