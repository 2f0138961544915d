"""Batched acks: only finished deliveries are acked, each exactly once, in fewer frames."""

from __future__ import annotations

import asyncio
import random
from typing import Any, cast

import aio_pika
import pytest
from aiormq.abc import AbstractChannel, DeliveredMessage
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.broker.acks import AckBatcher
from tests.broker_capture import BROKER_URL


class _Broker:
    """What RabbitMQ does with acks on one channel: outstanding tags, an error for an unknown one."""

    def __init__(self, finished: set[int]) -> None:
        self.outstanding: set[int] = set()
        self.acked: list[int] = []
        self.frames = 0
        self.finished = finished  # what the handlers have finished so far
        self.errors: list[str] = []  # kept, not raised: the batcher's task would swallow a raise

    async def basic_ack(self, delivery_tag: int, multiple: bool = False, wait: bool = True) -> None:
        del wait
        self.frames += 1
        if delivery_tag not in self.outstanding:
            self.errors.append(f"unknown delivery tag {delivery_tag}: the channel would close")
            return
        tags = {t for t in self.outstanding if t <= delivery_tag} if multiple else {delivery_tag}
        if tags - self.finished:
            self.errors.append(f"acked before its handler finished: {sorted(tags - self.finished)}")
        self.outstanding -= tags
        self.acked += sorted(tags)


# Each step: deliver the next tag, finish one open delivery, settle one (a nack), or let the loop run.
_steps = st.lists(st.sampled_from(["deliver", "finish", "settle", "turn"]), max_size=120)


@settings(max_examples=300, deadline=None)
@given(_steps, st.randoms(use_true_random=False))
def test_only_finished_tags_are_acked_once(steps: list[str], rng: random.Random) -> None:
    """Any interleaving: every finished tag acked once, none open or settled by the caller acked."""

    async def run() -> None:
        finished: set[int] = set()
        broker = _Broker(finished)
        acks = AckBatcher(cast(AbstractChannel, broker))
        tag, open_, settled = 0, [], set()
        for step in [*steps, "finish_all", "turn"]:
            if step == "deliver":
                tag += 1
                broker.outstanding.add(tag)
                acks.received(tag)
                open_.append(tag)
            elif step in {"finish", "settle"} and open_:
                done = open_.pop(rng.randrange(len(open_)))
                if step == "finish":
                    finished.add(done)
                    acks.finished(done)
                else:  # the caller's own nack: the broker forgets the tag
                    broker.outstanding.discard(done)
                    settled.add(done)
                    acks.settled(done)
            elif step == "finish_all":
                for done in open_:
                    finished.add(done)
                    acks.finished(done)
                open_.clear()
            else:
                for _ in range(3):
                    await asyncio.sleep(0)
        assert broker.errors == []
        assert sorted(broker.acked) == sorted(finished)
        assert not settled & set(broker.acked)
        assert broker.frames <= len(finished)

    asyncio.run(run())


@pytest.mark.broker
async def test_a_consumer_acks_everything_in_fewer_frames() -> None:
    """On the real broker: handlers finishing out of order, every message acked, none redelivered."""
    connection = await aio_pika.connect(BROKER_URL)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        count = 300
        for number in range(count):
            await channel.default_exchange.publish(aio_pika.Message(str(number).encode()), queue.name)
        consuming = await connection.channel()
        await consuming.set_qos(prefetch_count=50)
        underlay = await consuming.get_underlay_channel()
        acks = AckBatcher(underlay)
        seen: list[bytes] = []
        all_seen = asyncio.Event()

        async def handle(message: DeliveredMessage) -> None:
            tag = cast(int, message.delivery_tag)
            acks.received(tag)
            await asyncio.sleep(random.random() / 100)  # noqa: S311 -- an order, not a secret
            seen.append(message.body)
            acks.finished(tag)
            if len(seen) == count:
                all_seen.set()

        await underlay.basic_consume(queue.name, cast(Any, handle))
        await asyncio.wait_for(all_seen.wait(), 30)
        await asyncio.sleep(0.2)
        await consuming.close()  # anything not acked goes back to the queue
        declared = await channel.declare_queue(queue.name, passive=True)
        print(
            f"messages {count}, ack frames {acks.frames}, left unacked {declared.declaration_result.message_count}"
        )
        assert declared.declaration_result.message_count == 0
        assert sorted(seen, key=int) == [str(n).encode() for n in range(count)]
        assert acks.frames < count
    finally:
        await connection.close()
