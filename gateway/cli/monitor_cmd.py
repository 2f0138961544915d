"""``hostgate monitor``: follow a gateway's transparency log and print every revision of one business.

A business runs this to catch a disclosure about itself that it did not make. Each
new checkpoint is checked against the last one (consistency proof from the tiles);
a fork or a rollback is printed with both checkpoints and ends the monitor with
exit status 4.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import aiohttp

from gateway.cli.common import EXIT_INVALID, EXIT_OK, terminal_safe
from gateway.client.transparency import LogVerifier, TileReader
from gateway.errors import CheckpointError, LogForked
from gateway.transparency import note

EXIT_FORK = 4


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``monitor``."""
    monitor = subparsers.add_parser("monitor", help="print a business's revisions from the transparency log")
    monitor.add_argument("--business", required=True)
    monitor.add_argument("--gateway", default="http://127.0.0.1:8080")
    monitor.add_argument(
        "--log-key", default=None, help="the log's verifier key (default: the gateway's /log/vkey)"
    )
    monitor.add_argument("--state", type=Path, default=None, help="remember the last checkpoint here")
    monitor.add_argument("--interval", type=float, default=5.0)
    monitor.add_argument("--once", action="store_true", help="check the current checkpoint and exit")
    monitor.set_defaults(run=run_monitor)


def run_monitor(args: argparse.Namespace) -> int:
    """Follow the log until stopped (or once)."""
    try:
        return asyncio.run(_follow(args))
    except LogForked as exc:
        print(f"FORK: {exc}", flush=True)
        return EXIT_FORK
    except (CheckpointError, aiohttp.ClientError, OSError) as exc:
        print(f"error: {exc}", flush=True)
        return EXIT_INVALID


async def _follow(args: argparse.Namespace) -> int:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        reader = TileReader(session, args.gateway)
        vkey = args.log_key
        if vkey is None:
            async with session.get(f"{args.gateway.rstrip('/')}/log/vkey") as response:
                vkey = (await response.text()).strip()
        verifier = LogVerifier(vkey, state=args.state)
        seen = 0
        while True:
            signed = await reader.checkpoint()
            size = note.peek(signed).size
            last = verifier.last
            proof = await reader.consistency(min(last.size, size), max(last.size, size)) if last else []
            checkpoint = verifier.check_checkpoint(signed, proof)
            entries = await reader.entries(checkpoint.size)
            for index in range(seen, checkpoint.size):
                _report(index, entries[index], args.business)
            seen = max(seen, checkpoint.size)
            if args.once:
                return EXIT_OK
            await asyncio.sleep(args.interval)


def _report(index: int, entry: bytes, business: str) -> None:
    document = json.loads(entry)
    if document.get("business_id") != business:
        return
    print(
        terminal_safe(
            f"leaf {index}: {business} revision {document.get('revision')}:"
            f" {document.get('hosting_class')} by {document.get('operator')} in {document.get('region')},"
            f" key {document.get('endpoint_key', {}).get('kid')}"
        ),
        flush=True,
    )
