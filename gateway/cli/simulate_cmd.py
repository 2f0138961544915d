"""``hostgate simulate``: play the network against a running gateway and report what happened."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections import Counter
from collections.abc import Callable
from typing import TextIO

import aiohttp

from gateway.cli.common import EXIT_INVALID, EXIT_OK
from gateway.client.jwks import fetch_jwks
from gateway.config.settings import DEFAULT_AMQP_URL
from gateway.simulator import NetworkSimulator, Sent


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``simulate``."""
    simulate = subparsers.add_parser(
        "simulate", help="play the network: users send sealed messages to businesses"
    )
    simulate.add_argument("--gateway", default="http://127.0.0.1:8080", help="the gateway's HTTP base URL")
    simulate.add_argument("--amqp", default=DEFAULT_AMQP_URL, help="broker URL")
    simulate.add_argument("--users", type=int, default=5)
    simulate.add_argument("--messages", type=int, default=30, help="messages in all, spread over businesses")
    simulate.add_argument("--timeout", type=float, default=60, help="seconds to wait for every delivery")
    simulate.set_defaults(run=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    """Send, wait for deliveries (re-sealing after stale answers), print the counts."""
    return asyncio.run(_simulate(args))


async def _simulate(args: argparse.Namespace) -> int:
    async with aiohttp.ClientSession() as session:
        keys = await fetch_jwks(f"{args.gateway}/.well-known/jwks.json", session)
    network = NetworkSimulator(args.amqp, keys, name="hostgate-simulate")
    await network.start()
    try:
        await network.bootstrap(args.gateway)
        businesses = sorted(network.disclosures)
        if not businesses:
            print("error: the gateway disclosed no business yet", file=sys.stderr)
            return EXIT_INVALID
        for i in range(args.messages):
            user = f"sim-user-{i % args.users}"
            await network.send(user, businesses[i % len(businesses)], f"simulated message {i}")
        progress = asyncio.create_task(_show_progress(network, args.messages, sys.stdout))
        with contextlib.suppress(TimeoutError):  # what is left undelivered is reported below
            await network.wait_all_delivered(within=args.timeout)
        progress.cancel()
        await asyncio.gather(progress, return_exceptions=True)
    finally:
        await network.close()
    print(summary(network, businesses))
    return EXIT_OK if not network.undelivered() else EXIT_INVALID


async def _show_progress(network: NetworkSimulator, total: int, out: TextIO) -> None:
    """A bar redrawn in place on a terminal; a plain line per change (at most one a second) elsewhere."""
    terminal = out.isatty()
    shown = -1
    try:
        while True:
            done = total - len(network.undelivered())
            if terminal:
                out.write(f"\r{_bar(done, total)}")
                out.flush()
            elif done != shown:
                print(f"delivered {done}/{total}", file=out, flush=True)
            shown = done
            await asyncio.sleep(0.1 if terminal else 1.0)
    finally:
        done = total - len(network.undelivered())
        if terminal:
            out.write(f"\r{_bar(done, total)}\n")
            out.flush()
        elif done != shown:
            print(f"delivered {done}/{total}", file=out, flush=True)


def _bar(done: int, total: int) -> str:
    filled = round(_BAR * done / total) if total else _BAR
    return f"delivering [{'#' * filled}{'.' * (_BAR - filled)}] {done}/{total}"


_BAR = 30


def summary(network: NetworkSimulator, businesses: list[str]) -> str:
    """The end-of-run table: per business and in all, what was sent and what became of it."""
    counts = network.stats.counts
    sent = list(network.sent.values())
    columns = [*businesses, "total"]

    def per(test: Callable[[Sent], bool]) -> list[int]:
        row = [sum(1 for s in sent if s.business_id == b and test(s)) for b in businesses]
        return [*row, sum(row)]

    notices = [sum(1 for n in network.notices if n.business_id == b) for b in businesses]
    rows: list[tuple[str, list[int | str]]] = [
        ("sent", list(per(lambda _s: True))),
        ("delivered (opened by the host)", list(per(lambda s: s.delivered))),
        ("not delivered", list(per(lambda s: not s.delivered))),
        ("notices received", [*notices, sum(notices)]),
        # The network counts these in all, not per business.
        ("disclosure_stale receipts", [*[""] * len(businesses), counts["receipt:disclosure_stale"]]),
        ("re-sealed", [*[""] * len(businesses), counts["resealed"]]),
    ]
    width = max(len(label) for label, _ in rows) + 2
    lines = [" " * width + "".join(f"{c:>15}" for c in columns)]
    lines += [label.ljust(width) + "".join(f"{v!s:>15}" for v in values) for label, values in rows]
    failures = Counter(f"{s.business_id}: {s.failure or 'no receipt yet'}" for s in sent if not s.delivered)
    if failures:
        lines.append("failures:")
        lines += [f"  {count} x {reason}" for reason, count in failures.most_common()]
    return "\n".join(lines)
