"""Several relays on one database (as several processes would be): every row once, each business in order.

Each relay has its own store (its own connections) and its own broker link, and they
drain one outbox into a private queue on the real RabbitMQ. Businesses are claimed by
lease (``gateway/relay/claims.py``), so a business's rows leave from one process at a
time, in ``seq`` order, and the businesses spread over the relays.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import pytest

from gateway.audit.pseudonym import Pseudonymizer
from gateway.audit.trail import AuditTrail
from gateway.broker.cloudevents import CloudEvent
from gateway.broker.link import BrokerLink
from gateway.broker.publisher import Publisher
from gateway.config.settings import BrokerSettings
from gateway.disclosure.keys import KeyRing
from gateway.relay.claims import BusinessClaims
from gateway.relay.relay import OutboxRelay
from gateway.relay.rows import outbox_row
from gateway.store import Store
from tests.audit.trails import writer_for
from tests.engines import SUITE_ENGINE, make_store
from tests.support import queued_ids, until

BUSINESSES = [f"biz-{i}" for i in range(6)]
PER_BUSINESS = 120
LEASE_SECONDS = 2.0


class Relays:
    """N relays, each with its own store, broker link and audit writer, on one database."""

    def __init__(self, tmp_path: Path, schema: str | None, queue: str) -> None:
        self.tmp_path, self.schema, self.queue = tmp_path, schema, queue
        self.parts: list[tuple[Store, BrokerLink, OutboxRelay]] = []
        self.ring = KeyRing.open(tmp_path / "keys")

    async def add(self) -> OutboxRelay:
        n = len(self.parts)
        store = make_store(SUITE_ENGINE, self.tmp_path, self.schema)
        await store.open()
        link = BrokerLink(BrokerSettings(), name=f"relay-test-{n}")
        await link.start()
        writer = writer_for(self.tmp_path / f"audit-{n}", self.ring)
        writer.open()
        relay = OutboxRelay(
            store,
            Publisher(link, 5.0),
            self.ring,
            AuditTrail(writer, Pseudonymizer(b"k" * 32)),
            window=25,
            idle_poll=0.2,
            claims=BusinessClaims(store, seconds=LEASE_SECONDS),
        )
        await relay.start()
        self.parts.append((store, link, relay))
        return relay

    async def close(self) -> None:
        for store, link, relay in self.parts:
            await relay.close()
            await link.close()
            await store.aclose()


async def _append(store: Store, queue: str, rounds: range) -> None:
    """Rows for every business, interleaved, a few per unit (as concurrent requests would write them)."""
    for n in rounds:
        async with store.unit() as tx:
            for business in BUSINESSES:
                event = CloudEvent(
                    id=f"{business}/{n:04d}", type="com.hostgate.test", subject=business, data=b"{}"
                )
                await tx.outbox.append(outbox_row(business, "", queue, event))


def _check(seen: list[str], label: str, published: list[int]) -> None:
    expected = {f"{b}/{n:04d}" for b in BUSINESSES for n in range(PER_BUSINESS)}
    copies = Counter(seen)
    lost = expected - set(copies)
    duplicated = sum(c - 1 for c in copies.values())
    print(
        f"{label}: accepted {len(expected)}, delivered {len(set(copies))}, lost {len(lost)},"
        f" duplicated {duplicated}, published per relay {published}"
    )
    assert not lost
    for business in BUSINESSES:
        order = [int(i.split("/")[1]) for i in seen if i.startswith(business + "/")]
        first_copies = list(dict.fromkeys(order))
        assert first_copies == sorted(first_copies), f"{business} left out of order: {first_copies[:20]}"


@pytest.fixture
async def queue() -> AsyncIterator[str]:
    """A private queue on the system broker (deleted afterwards)."""
    name = f"test.relays.{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(str(BrokerSettings().url))
    channel = await connection.channel()
    await channel.declare_queue(name, durable=True)
    yield name
    await channel.queue_delete(name)
    await connection.close()


async def test_three_relays_publish_each_row_once_in_order_per_business(
    tmp_path: Path, store_schema: str | None, queue: str
) -> None:
    """Rows written while three relays run: none lost, none twice, each business in order, work shared."""
    relays = Relays(tmp_path, store_schema, queue)
    try:
        for _ in range(3):
            await relays.add()
        writer = relays.parts[0][0]
        await _append(writer, queue, range(PER_BUSINESS // 2))
        for _, _, relay in relays.parts:
            relay.wake()
        await _append(writer, queue, range(PER_BUSINESS // 2, PER_BUSINESS))
        for _, _, relay in relays.parts:
            relay.wake()
        seen = await queued_ids(str(BrokerSettings().url), queue, len(BUSINESSES) * PER_BUSINESS)
        published = [relay.published for _, _, relay in relays.parts]
    finally:
        await relays.close()
    _check(seen, "3 relays", published)
    assert len(seen) == len(set(seen)), "no process failed, so no row may go out twice"
    assert sum(1 for p in published if p > 0) >= 2, f"the businesses spread over the relays: {published}"


async def test_a_relay_whose_store_is_gone_hands_its_businesses_over(
    tmp_path: Path, store_schema: str | None, queue: str
) -> None:
    """Relay A loses its database mid-drain: its leases lapse and B publishes the rest, in order."""
    relays = Relays(tmp_path, store_schema, queue)
    half = PER_BUSINESS // 2
    try:
        first = await relays.add()
        await _append(relays.parts[0][0], queue, range(half))
        await until(lambda: first.published >= half, "relay A under way, holding every business")
        await relays.parts[0][0].aclose()  # A can no longer reach the store (nor release its leases)
        # The rest is queued after A lost the store (A may drain a whole first half before the
        # close: publishing is fast), so B has rows only it can publish, once A's leases lapse.
        writer = make_store(SUITE_ENGINE, tmp_path, store_schema)
        await writer.open()
        try:
            await _append(writer, queue, range(half, PER_BUSINESS))
        finally:
            await writer.aclose()
        second = await relays.add()
        started = asyncio.get_running_loop().time()
        seen = await queued_ids(str(BrokerSettings().url), queue, len(BUSINESSES) * PER_BUSINESS)
        took = asyncio.get_running_loop().time() - started
        published = [first.published, second.published]
    finally:
        relays.parts[0] = (make_store(SUITE_ENGINE, tmp_path, store_schema), *relays.parts[0][1:])
        await relays.close()
    _check(seen, "store lost under relay A", published)
    print(f"relay B finished {took:.1f} s after A lost its store (lease {LEASE_SECONDS} s)")
    assert second.published > 0
    assert took < LEASE_SECONDS + 10
