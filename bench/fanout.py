"""Fan-out: signed notices for every open chat of one business, against a raw windowed-confirm publish loop.

Per-chat form (default): both sides publish the same number of messages of the
same size to the same exchange, in windows of the same size, awaiting each
window's confirms; the raw side publishes prebuilt messages and does nothing else.
They alternate over a few rounds and the medians count.

Batch form (``--form batch``, the 1,000,000-chat target): hostgate notifies every
chat in batches (one message and one signature per window); the baseline is what
one AMQP message per chat allows here, the raw per-chat loop's rate measured in
the same run (on ``--raw-chats`` messages: a million 3 KB messages would only
fill the broker). Reported: seconds for all chats, notices/s, the ratio to the raw
per-chat rate (target >= 2), CPU µs per notice on both sides, and how fast the
network's SDK splits and checks batches (notices/s, one process).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import orjson
import uvloop
from aio_pika.abc import AbstractRobustConnection
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
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
from gateway.client.batches import split_batch
from gateway.config import load_config
from gateway.config.settings import BrokerSettings
from gateway.disclosure.batch import sign_batch
from gateway.disclosure.document import build_disclosure, notice_template
from gateway.disclosure.keys import KeyRing
from gateway.disclosure.service import queue_fanout
from gateway.disclosure.signed import signed_event
from gateway.disclosure.signing_pool import SigningPool
from gateway.events import NOTICE_PUBLISHED
from gateway.relay.relay import NoticeForm, OutboxRelay
from gateway.store import open_store_at

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Drained:
    """One timed fan-out, and a per-chat notice of the size it sent (what the raw loop publishes)."""

    seconds: float
    cpu_seconds: float  # this process's and its signing helpers'
    sample: CloudEvent


def _children_cpu() -> float:
    """CPU seconds of this process's children that have ended (the signing helpers, once reaped)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


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
    url: str,
    state: Path,
    count: int,
    window: int,
    signing_processes: int,
    store_at: str | None = None,
    form: NoticeForm = "per_chat",
) -> Drained:
    """Time the relay telling ``count`` open chats about a new revision."""
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
        notice_form=form,
        signing=SigningPool(signing_processes),
    )
    started, cpu_started = time.perf_counter(), time.process_time()
    helpers_before = _children_cpu()
    await relay.drain()
    elapsed = time.perf_counter() - started
    drain_cpu = time.process_time() - cpu_started
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
    # The signing helpers' CPU (their start-up included) is counted once relay.close has reaped them.
    cpu = drain_cpu + _children_cpu() - helpers_before
    await publisher.close()
    await link.close()
    await store.aclose()
    return Drained(elapsed, cpu, sample)


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
    hostgate_cpu: list[float] = []
    raw_cpu_us: list[float] = []
    with bench_vhost() as url, tempfile.TemporaryDirectory() as tmp:
        sample: CloudEvent | None = None
        for round_number in range(rounds):
            for who in round_order(["hostgate", "raw"], round_number):
                if who == "hostgate":
                    state = Path(tmp) / f"pool-{round_number}"
                    with store_url(engine) as store:
                        drained = await hostgate_fanout(url, state, count, window, 1, store)
                    sample = drained.sample
                    hostgate_runs.append(count / drained.seconds)
                    hostgate_cpu.append(drained.cpu_seconds / count * 1e6)
                else:
                    assert sample is not None  # noqa: S101 -- hostgate goes first in round 0
                    rate, cpu_us = await _raw_round(url, count, window, sample)
                    raw_runs.append(rate)
                    raw_cpu_us.append(cpu_us)
                await purge(url, topology.NOTICES.queue)
        # For comparison, once: signing on the loop thread instead of the helper process.
        with store_url(engine) as store:
            inline = await hostgate_fanout(url, Path(tmp) / "inline", count, window, 0, store)
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
            "cpu_us_per_msg": round(statistics.median(hostgate_cpu), 1),
            "baseline_cpu_us_per_msg": round(statistics.median(raw_cpu_us), 1),
            "signing_on_loop_per_s": round(count / inline.seconds, 1),
        },
        engine=engine,
    )


async def _raw_round(url: str, count: int, window: int, sample: CloudEvent) -> tuple[float, float]:
    """One round of :func:`raw_publish`: messages/s and this process's CPU µs per message."""
    cpu_started = time.process_time()
    seconds = await raw_publish(url, count, window, sample)
    return count / seconds, (time.process_time() - cpu_started) / count * 1e6


def split_rate(headers: dict[str, str | int], body: bytes, keys: dict[str, Ed25519PublicKey]) -> float:
    """Notices/s the network's SDK splits and checks, from one batch, in this process."""
    started, repeats = time.perf_counter(), 0
    while time.perf_counter() - started < 1.0:
        _, parts = split_batch(headers, body, keys)
        repeats += 1
    return repeats * len(parts) / (time.perf_counter() - started)


async def run_batch(
    count: int = 1_000_000,
    window: int = 2000,
    rounds: int = 3,
    engine: str = "sqlite",
    raw_count: int = 100_000,
) -> Result:
    """Batch form for ``count`` chats, alternating with the raw per-chat loop; medians count."""
    seconds: list[float] = []
    cpu_us: list[float] = []
    raw_rates: list[float] = []
    raw_cpu_us: list[float] = []
    with bench_vhost() as url, tempfile.TemporaryDirectory() as tmp:
        sample: CloudEvent | None = None
        for round_number in range(rounds):
            for who in round_order(["hostgate", "raw"], round_number):
                if who == "hostgate":
                    state = Path(tmp) / f"batch-{round_number}"
                    with store_url(engine) as store:
                        drained = await hostgate_fanout(url, state, count, window, 0, store, "batch")
                    sample = drained.sample
                    seconds.append(drained.seconds)
                    cpu_us.append(drained.cpu_seconds / count * 1e6)
                else:
                    if sample is None:  # the raw side needs a per-chat notice of the real size
                        with store_url(engine) as store:
                            sample = (await hostgate_fanout(url, Path(tmp) / "sample", 1, 1, 0, store)).sample
                    rate, raw_cpu = await _raw_round(url, raw_count, 500, sample)
                    raw_rates.append(rate)
                    raw_cpu_us.append(raw_cpu)
                await purge(url, topology.NOTICES.queue)
        assert sample is not None  # noqa: S101 -- both sides ran
        # The network's side: split one window of real notices (the sample's shared fields).
        shared = {"user_id", "notice_id", "event"}
        template = {k: v for k, v in orjson.loads(sample.data).items() if k not in shared}
        keys = KeyRing.open(Path(tmp) / "split-keys")
        users = [(f"user-{i:07d}", str(uuid.uuid4())) for i in range(window)]
        subject = str(template["business_id"])
        headers, body = sign_batch("b", subject, datetime.now(UTC), template, users, keys.active)
        split_per_s = split_rate(headers, body, keys.public_keys())
    took = statistics.median(seconds)
    raw_rate = statistics.median(raw_rates)
    return Result(
        scenario="fanout_batch",
        unit="notices/s",
        hostgate=count / took,
        baseline=raw_rate,
        target_ratio=2.0,
        extra={
            "chats": count,
            "window": window,
            "seconds": round(took, 1),
            "target_seconds": 60,
            "seconds_target_met": took <= 60,
            "seconds_rounds": [round(x, 1) for x in seconds],
            "raw_per_chat_seconds_for_all": round(count / raw_rate, 1),
            "raw_chats_measured": raw_count,
            "baseline_rounds_per_s": [round(r, 1) for r in raw_rates],
            "cpu_us_per_msg": round(statistics.median(cpu_us), 2),
            "baseline_cpu_us_per_msg": round(statistics.median(raw_cpu_us), 2),
            "sdk_split_notices_per_s": round(split_per_s),
            "signing_processes": 0,
        },
        engine=engine,
    )


def main() -> None:
    """``python -m bench.fanout [--chats N] [--window W] [--form per_chat|batch]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--chats", type=int, default=None, help="default 100,000 (per chat), 1,000,000 (batch)"
    )
    parser.add_argument("--window", type=int, default=None, help="default 500 (per chat), 2,000 (batch)")
    parser.add_argument("--form", choices=("per_chat", "batch"), default="per_chat")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--raw-chats", type=int, default=100_000, help="batch: messages the raw loop sends")
    parser.add_argument("--engine", choices=ENGINES, default="sqlite")
    args = parser.parse_args()
    if args.form == "batch":
        result = run_batch(
            args.chats or 1_000_000, args.window or 2000, args.rounds, args.engine, args.raw_chats
        )
        uvloop.run(result).report()
        return
    uvloop.run(run(args.chats or 100_000, args.window or 500, args.rounds, engine=args.engine)).report()


if __name__ == "__main__":
    main()
