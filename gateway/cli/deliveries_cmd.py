"""``hostgate deliveries list|replay|enable``: deliveries that were given up on, and disabled endpoints."""

from __future__ import annotations

import argparse
import asyncio
import os
from datetime import datetime
from pathlib import Path

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from gateway.broker.cloudevents import PREFIX, parse
from gateway.broker.retries import ATTEMPT, dead_queue
from gateway.broker.topology import INBOUND, STATUSES
from gateway.cli.common import DEFAULT_CONFIG_DIR, EXIT_INVALID, EXIT_OK, load_or_report
from gateway.config.loader import GatewayConfig
from gateway.config.settings import AMQP_URL_ENV
from gateway.events import STATUS_WEBHOOK
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


_DROPPED_ON_REPLAY = frozenset({f"{PREFIX}{ATTEMPT}", f"{PREFIX}hostgatereason"})
# A dead queue holds deliveries and status webhooks; each goes back to the queue it came from.
_STATUS_TYPE = STATUS_WEBHOOK


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _matches(message: AbstractIncomingMessage, args: argparse.Namespace) -> bool:
    event = parse(dict(message.headers), message.body)
    if event.subject != args.business:
        return False
    if args.message_id is not None and args.message_id not in message.body.decode(errors="replace"):
        return False
    return not (args.since is not None and event.time is not None and event.time < args.since)


async def _walk(config: GatewayConfig, args: argparse.Namespace, *, replay: bool) -> int:
    url = os.environ.get(AMQP_URL_ENV) or str(config.settings.broker.url)
    connection = await aio_pika.connect(url, client_properties={"connection_name": "hostgate-deliveries"})
    count = 0
    try:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(dead_queue(args.business), passive=True)
        exchanges = {
            INBOUND.exchange: await channel.get_exchange(INBOUND.exchange),
            STATUSES.exchange: await channel.get_exchange(STATUSES.exchange),
        }
        held: list[AbstractIncomingMessage] = []
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            if not _matches(message, args):
                held.append(message)
                continue
            count += 1
            headers = dict(message.headers)
            reason = _text(headers.get(f"{PREFIX}hostgatereason", ""))
            attempts = _text(headers.get(f"{PREFIX}{ATTEMPT}", 1))
            print(f"{message.message_id}  attempts={attempts}  reason={reason}")
            if replay:
                fresh = {k: v for k, v in headers.items() if k not in _DROPPED_ON_REPLAY}
                kind = _text(headers.get(f"{PREFIX}type", ""))
                target = STATUSES.exchange if kind == _STATUS_TYPE else INBOUND.exchange
                await exchanges[target].publish(
                    aio_pika.Message(
                        message.body,
                        headers=fresh,
                        content_type=message.content_type,
                        message_id=message.message_id,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=args.business,
                    mandatory=True,
                )
                await message.ack()
            else:
                held.append(message)
        for message in held:
            await message.nack(requeue=True)
    finally:
        await connection.close()
    print(f"{count} delivery(ies) {'replayed' if replay else 'dead-lettered'} for {args.business}")
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
        store = open_store_at(config.settings.store.url, config.path(config.settings.state_dir))
        await store.open()
        try:
            async with store.unit() as tx:
                return await tx.endpoints.enable(args.business)
        finally:
            await store.aclose()

    changed = asyncio.run(enable())
    print(f"{args.business}: {'re-enabled' if changed else 'was not disabled'}")
    return EXIT_OK
