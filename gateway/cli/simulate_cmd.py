"""``hostgate simulate``: play the network against a running gateway and report what happened."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

import aiohttp

from gateway.cli.common import EXIT_INVALID, EXIT_OK
from gateway.client.jwks import fetch_jwks
from gateway.config.settings import DEFAULT_AMQP_URL
from gateway.simulator import NetworkSimulator


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
        with contextlib.suppress(TimeoutError):  # what is left undelivered is reported below
            await network.wait_all_delivered(within=args.timeout)
    finally:
        await network.close()
    counts = network.stats.counts
    undelivered = len(network.undelivered())
    print(f"businesses: {', '.join(businesses)}")
    print(f"sent: {args.messages}  delivered: {args.messages - undelivered}  undelivered: {undelivered}")
    print(f"stale answers: {counts['receipt:disclosure_stale']}  re-sealed: {counts['resealed']}")
    return EXIT_OK if undelivered == 0 else EXIT_INVALID
