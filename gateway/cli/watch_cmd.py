"""``hostgate watch``: a terminal chat client that prints notices as a user would see them."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path

import aiohttp

from gateway.cli.common import EXIT_OK, terminal_safe
from gateway.client import NetworkClient, render_text
from gateway.client.transparency import LogVerifier
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
    watch.add_argument(
        "--log-key",
        default=None,
        help="the transparency log's verifier key (default: the gateway's /log/vkey)",
    )
    watch.add_argument("--witness", action="append", default=[], help="a witness's verifier key (repeat)")
    watch.add_argument("--require-witnesses", type=int, default=0, help="cosignatures a checkpoint needs")
    watch.add_argument("--log-state", type=Path, default=None, help="remember the last checkpoint here")
    watch.set_defaults(run=run_watch)


def run_watch(args: argparse.Namespace) -> int:
    """Consume until interrupted (or ``--count`` events); disclosures only with a log proof."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_watch(args))
    return EXIT_OK


async def _log_verifier(args: argparse.Namespace) -> LogVerifier:
    vkey = args.log_key
    if vkey is None:
        base = args.jwks.split("/.well-known/", 1)[0]
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.get(f"{base}/log/vkey") as response,
        ):
            vkey = (await response.text()).strip()
    return LogVerifier(vkey, args.witness, args.require_witnesses, args.log_state)


async def _watch(args: argparse.Namespace) -> None:
    seen = 0
    locale, count = args.locale, args.count
    log = await _log_verifier(args)
    async with NetworkClient(args.amqp, args.jwks, name="hostgate-watch", log=log) as client:
        client.on_rejected = lambda r: print(
            terminal_safe(f"REFUSED {r.reason}: {r.detail[:300]}"), flush=True
        )
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
