"""A store outage is not a message's failure: the consumer holds the message, it is never dead-lettered.

Requeueing on every failed try counted against the queue's delivery limit, so a
database restart of a few seconds dead-lettered every message in flight (the
chaos suite lost users' messages that way). Here the handler finds the store
unreachable many more times than the delivery limit allows, then the store comes
back: each message is handled once it is back and none reaches the dead letters.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime

import aio_pika
import pytest

from gateway.broker import consumer as consumer_module
from gateway.broker import topology
from gateway.broker.cloudevents import CloudEvent, amqp_message
from gateway.broker.consumer import QueueConsumer
from gateway.broker.link import BrokerLink
from gateway.broker.publisher import Publisher
from gateway.config.settings import BrokerSettings
from gateway.errors import StoreUnavailable
from tests.support import until

pytestmark = pytest.mark.broker

MESSAGES = 5
FAILED_TRIES = 3 * topology.DELIVERY_LIMIT


async def test_messages_wait_out_an_unreachable_store_instead_of_dead_lettering(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every message fails ``FAILED_TRIES`` times with StoreUnavailable, then is handled: none dead-lettered."""
    monkeypatch.setattr(consumer_module, "STORE_RETRY_CEILING", 0.2)  # the outage in seconds, not minutes
    url = str(BrokerSettings().url)
    queue_name = f"test.store-outage.{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    await topology.declare(channel)
    queue = await channel.declare_queue(queue_name, durable=True, arguments=topology.queue_arguments())
    tries: Counter[str] = Counter()
    handled: list[str] = []

    async def handler(event: CloudEvent) -> None:
        tries[event.id] += 1
        if tries[event.id] <= FAILED_TRIES:
            raise StoreUnavailable("postgresql unreachable: ConnectionRefusedError")
        handled.append(event.id)

    link = BrokerLink(BrokerSettings(), name="test:store-outage")
    await link.start()
    consumer = QueueConsumer(link, queue_name, handler, publisher=Publisher(link, 5.0))
    try:
        for n in range(MESSAGES):
            event = CloudEvent(
                id=f"e-{n}",
                type="test.event",
                subject="warung-sari",
                time=datetime.now(UTC),
                source="urn:test",
                data=b"{}",
            )
            await channel.default_exchange.publish(amqp_message(event), routing_key=queue_name)
        await consumer.start()
        await until(lambda: len(handled) == MESSAGES, "every message handled once the store is back", 60)
        await asyncio.sleep(0.5)
        left = await channel.declare_queue(queue_name, durable=True, arguments=topology.queue_arguments())
        waiting = left.declaration_result.message_count
    finally:
        await consumer.close()
        await link.close()
        await queue.delete(if_unused=False, if_empty=False)
        await connection.close()
    print(
        f"store outage: tries per message {dict(tries)}; handled {len(handled)}; dead-lettered {consumer.dead_lettered}"
    )
    assert sorted(handled) == [f"e-{n}" for n in range(MESSAGES)], "each handled exactly once"
    assert consumer.dead_lettered == 0
    assert waiting == 0
