"""Fan-out: signed notices for every open chat of one business, against a raw windowed-confirm publish loop.

Both sides publish the same number of messages of the same size to the same
exchange, in windows of the same size, awaiting each window's confirms; the raw
side publishes prebuilt messages and does nothing else. They alternate over a
few rounds and the medians count.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import uvloop
from aio_pika.abc import AbstractRobustConnection
from pamqp.common import FieldValue

from bench.common import Result, bench_vhost, purge, round_order
from bench.engines import ENGINES, store_url
from gateway.adapter_registry import AdapterRegistry
from gateway.audit.pseudonym import Pseudonymizer
from gateway.audit.trail import AuditTrail
from gateway.audit.writer import ChainWriter, WriterSettings
from gateway.broker import topology
from gateway.broker.cloudevents import CloudEvent
from gateway.broker.link import BrokerLink
from gateway.broker.publisher import Publisher
from gateway.config import load_config
from gateway.config.settings import BrokerSettings
from gateway.disclosure.document import build_disclosure, notice_template
from gateway.disclosure.keys import KeyRing
from gateway.disclosure.service import queue_fanout
from gateway.disclosure.signed import signed_event
from gateway.disclosure.signing_pool import SigningPool
from gateway.events import NOTICE_PUBLISHED
from gateway.relay.relay import OutboxRelay
from gateway.store import open_store_at

REPO = Path(__file__).resolve().parent.parent


async def _declare(connection: AbstractRobustConnection) -> None:
    channel = await connection.channel()
    await topology.declare(channel)
    await channel.close()


async def _until_connected(link: BrokerLink) -> None:
    for _ in range(200):
        if link.status().connected:
            return
        await asyncio.sleep(0.05)
    sys.exit(f"broker not reachable: {link.status().reason}")


async def hostgate_fanout(
    url: str, state: Path, count: int, window: int, signing_processes: int, store_at: str | None = None
) -> tuple[float, CloudEvent]:
    """Time the relay telling ``count`` open chats about a new revision; return (seconds, a sample)."""
    config = load_config(REPO / "config", {}, AdapterRegistry())
    business = config.businesses["nimbus-shop"]
    store = open_store_at(store_at, state)
    await store.open()
    keys = KeyRing.open(state / "keys")
    users = [f"user-{i:07d}" for i in range(count)]
    async with store.unit() as tx:
        await tx.chats.open_many(business.id, users)
    document = build_disclosure(business, 2, 1, datetime.now(UTC))
    async with store.unit() as tx:
        await queue_fanout(tx, document, "hosting_changed")

    link = BrokerLink(BrokerSettings.model_validate({"url": url}), name="bench:fanout", on_connect=_declare)
    await link.start()
    await _until_connected(link)
    publisher = Publisher(link, timeout=30)
    # The audit trail is on, as in the product: one notices.published record per window.
    writer = ChainWriter(
        WriterSettings(state / "audit", state / "audit" / "checkpoints.note"),
        signer=lambda: (keys.active.kid, keys.active.private),
    )
    writer.open()
    relay = OutboxRelay(
        store,
        publisher,
        keys,
        AuditTrail(writer, Pseudonymizer(b"bench" * 8)),
        window=window,
        signing=SigningPool(signing_processes),
    )
    started = time.perf_counter()
    await relay.drain()
    elapsed = time.perf_counter() - started
    if relay.published != count:
        sys.exit(f"fan-out published {relay.published} of {count}")
    template = notice_template(document, "hosting_changed")
    sample = signed_event(
        NOTICE_PUBLISHED,
        str(uuid.uuid4()),
        subject=business.id,
        document={**template, "user_id": users[0], "notice_id": str(uuid.uuid4())},
        key=keys.active,
        when=datetime.now(UTC),
    )
    writer.close()
    await relay.close()
    await publisher.close()
    await link.close()
    await store.aclose()
    return elapsed, sample


async def raw_publish(url: str, count: int, window: int, sample: CloudEvent) -> float:
    """Time a bare aio-pika loop publishing ``count`` messages like ``sample`` in confirmed windows."""
    connection = await aio_pika.connect(url)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.get_exchange(topology.NOTICES.exchange, ensure=False)
    headers: dict[str, FieldValue] = dict(sample.headers())
    started = time.perf_counter()
    for start in range(0, count, window):
        batch = [
            aio_pika.Message(
                body=sample.data,
                headers=headers,
                content_type="application/json",
                message_id=str(i),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            for i in range(start, min(start + window, count))
        ]
        await asyncio.gather(*(exchange.publish(m, "bench.raw", mandatory=True) for m in batch))
    elapsed = time.perf_counter() - started
    await connection.close()
    return elapsed


async def run(count: int, window: int, rounds: int = 3, engine: str = "sqlite") -> Result:
    """Both sides in alternating rounds, in one process on one vhost; medians count."""
    hostgate_runs: list[float] = []
    raw_runs: list[float] = []
    with bench_vhost() as url, tempfile.TemporaryDirectory() as tmp:
        sample: CloudEvent | None = None
        for round_number in range(rounds):
            for who in round_order(["hostgate", "raw"], round_number):
                if who == "hostgate":
                    state = Path(tmp) / f"pool-{round_number}"
                    with store_url(engine) as store:
                        seconds, sample = await hostgate_fanout(url, state, count, window, 1, store)
                    hostgate_runs.append(count / seconds)
                else:
                    assert sample is not None  # noqa: S101 -- hostgate goes first in round 0
                    raw_runs.append(count / await raw_publish(url, count, window, sample))
                await purge(url, topology.NOTICES.queue)
        # For comparison, once: signing on the loop thread instead of the helper process.
        with store_url(engine) as store:
            inline_seconds, _ = await hostgate_fanout(url, Path(tmp) / "inline", count, window, 0, store)
        await purge(url, topology.NOTICES.queue)
    assert sample is not None  # noqa: S101 -- hostgate went first in round 0
    return Result(
        scenario="fanout",
        unit="notices/s",
        hostgate=statistics.median(hostgate_runs),
        baseline=statistics.median(raw_runs),
        target_ratio=0.8,
        extra={
            "chats": count,
            "window": window,
            "body_bytes": len(sample.data),
            "rounds": rounds,
            "rounds_per_s": [round(r, 1) for r in hostgate_runs],
            "baseline_rounds_per_s": [round(r, 1) for r in raw_runs],
            "signing_processes": 1,
            "signing_on_loop_per_s": round(count / inline_seconds, 1),
        },
        engine=engine,
    )


def main() -> None:
    """``python -m bench.fanout [--chats N] [--window W]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chats", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--engine", choices=ENGINES, default="sqlite")
    args = parser.parse_args()
    uvloop.run(run(args.chats, args.window, engine=args.engine)).report()


if __name__ == "__main__":
    main()
