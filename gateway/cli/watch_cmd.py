"""``hostgate watch``: a terminal chat client that prints notices as a user would see them."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from gateway.cli.common import EXIT_OK, terminal_safe
from gateway.client import NetworkClient, render_text
from gateway.config.settings import DEFAULT_AMQP_URL
from gateway.disclosure.document import DisclosureDocument


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``watch``."""
    watch = subparsers.add_parser("watch", help="print verified disclosures and notices as they arrive")
    watch.add_argument("--amqp", default=DEFAULT_AMQP_URL, help="broker URL")
    watch.add_argument(
        "--jwks",
        default="http://127.0.0.1:8080/.well-known/jwks.json",
        help="the gateway's JWKS URL",
    )
    watch.add_argument("--locale", default=None, help="client locale (default: en)")
    watch.add_argument("--count", type=int, default=0, help="stop after this many events (0: never)")
    watch.set_defaults(run=run_watch)


def run_watch(args: argparse.Namespace) -> int:
    """Consume until interrupted (or ``--count`` events)."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_watch(args.amqp, args.jwks, args.locale, args.count))
    return EXIT_OK


async def _watch(amqp: str, jwks: str, locale: str | None, count: int) -> None:
    seen = 0
    async with NetworkClient(amqp, jwks, name="hostgate-watch") as client:
        print("watching hostgate.disclosures and hostgate.notices (Ctrl-C to stop)", flush=True)
        async for accepted in client.events():
            document = accepted.document
            if isinstance(document, DisclosureDocument):
                who = f"{document.business_name} · revision {document.revision}"
            else:
                who = f"{document.business_name} → {document.user_id} · revision {document.revision}"
            print(terminal_safe(f"[{who}] {render_text(document, locale)}"), flush=True)
            seen += 1
            if count and seen >= count:
                return
