"""``hostgate deliveries list|replay|enable``: deliveries that were given up on, and disabled endpoints."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from gateway.audit.setup import make_trail
from gateway.bridge.delivery_control import DeliveryControl
from gateway.broker import dead_letters
from gateway.broker.dead_letters import DeadLetter
from gateway.broker.link import connect_any
from gateway.cli.common import DEFAULT_CONFIG_DIR, EXIT_INVALID, EXIT_OK, load_or_report
from gateway.config.loader import GatewayConfig
from gateway.disclosure.keys import KeyRing
from gateway.store import open_store_at


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``deliveries list``, ``replay`` and ``enable``."""
    deliveries = subparsers.add_parser("deliveries", help="dead-lettered deliveries and disabled endpoints")
    actions = deliveries.add_subparsers(dest="action", required=True)
    for name, helptext in (("list", "show dead-lettered deliveries"), ("replay", "deliver them again")):
        sub = actions.add_parser(name, help=helptext)
        sub.add_argument("--config", type=Path, default=DEFAULT_CONFIG_DIR)
        sub.add_argument("--business", required=True)
        sub.add_argument("--since", type=datetime.fromisoformat, default=None)
        sub.add_argument("--id", dest="message_id", default=None)
        sub.set_defaults(run=run_list if name == "list" else run_replay)
    enable = actions.add_parser("enable", help="re-enable a disabled endpoint")
    enable.add_argument("--config", type=Path, default=DEFAULT_CONFIG_DIR)
    enable.add_argument("--business", required=True)
    enable.set_defaults(run=run_enable)


def _since(letter: DeadLetter, args: argparse.Namespace) -> bool:
    return not (args.since is not None and letter.time is not None and letter.time < args.since)


@asynccontextmanager
async def _control(config: GatewayConfig) -> AsyncIterator[DeliveryControl]:
    """Operator actions on the gateway's store, their audit records staged there.

    A running gateway (or the next start) moves staged records into the trail, so this
    never needs the trail's write lock.
    """
    store = open_store_at(config.settings.store.url, config.path(config.settings.state_dir))
    await store.open()
    keys = KeyRing.open(config.path(config.settings.signing_key_dir))
    try:
        yield DeliveryControl(store, make_trail(config, keys))
    finally:
        await store.aclose()


async def _walk(config: GatewayConfig, args: argparse.Namespace, *, replay: bool) -> int:
    # The config already carries HOSTGATE_AMQP_URL when it is set (the loader applies it).
    connection = await connect_any(config.settings.broker, "hostgate-deliveries")
    try:
        if replay:
            async with _control(config) as control:
                shown = await control.replay(
                    connection, args.business, "cli", args.message_id, lambda d: _since(d, args)
                )
        else:
            swept = await dead_letters.sweep(connection, args.business, lambda _letter: False)
            shown = [
                d
                for d in swept.kept
                if (args.message_id is None or d.message_id == args.message_id) and _since(d, args)
            ]
    finally:
        await connection.close()
    for letter in shown:
        print(f"{letter.message_id}  {letter.kind}  attempts={letter.attempts}  reason={letter.reason}")
    print(f"{len(shown)} delivery(ies) {'replayed' if replay else 'dead-lettered'} for {args.business}")
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    """List dead-lettered deliveries of a business."""
    config = load_or_report(args.config)
    return EXIT_INVALID if config is None else asyncio.run(_walk(config, args, replay=False))


def run_replay(args: argparse.Namespace) -> int:
    """Publish them to the inbound queue again, as first attempts."""
    config = load_or_report(args.config)
    return EXIT_INVALID if config is None else asyncio.run(_walk(config, args, replay=True))


def run_enable(args: argparse.Namespace) -> int:
    """Re-enable a business's endpoint."""
    config = load_or_report(args.config)
    if config is None:
        return EXIT_INVALID

    async def enable() -> bool:
        async with _control(config) as control:
            return await control.enable(args.business, "cli")

    changed = asyncio.run(enable())
    print(f"{args.business}: {'re-enabled' if changed else 'was not disabled'}")
    return EXIT_OK
