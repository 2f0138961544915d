"""The window publisher on the real broker: one write per window, each message confirmed or counted out.

``Publisher.publish_window`` frames a whole window itself and settles it through the
library's own confirm and return handling. What callers rely on: every message
arrives as set (properties, headers, bodies split over frames), in order; the
count returned is how many *from the start* the broker confirmed, so a returned
(unroutable) message stops the count where it stands; a window to an exchange
that does not exist confirms nothing and the next window goes out on a new channel.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractQueue

from gateway.broker.link import BrokerLink
from gateway.broker.publisher import Outgoing, Publisher
from gateway.config.settings import BrokerSettings
from tests.support import until

pytestmark = pytest.mark.broker

HEADERS: dict[str, str | int] = {
    "cloudEvents_specversion": "1.0",
    "cloudEvents_source": "hostgate",
    "x-number": 7,
}


@pytest.fixture
async def broker() -> AsyncIterator[tuple[AbstractChannel, Publisher, str]]:
    """A test channel, a publisher on its own link, and a private direct exchange (deleted after)."""
    connection = await aio_pika.connect(str(BrokerSettings().url))
    channel = await connection.channel()
    exchange = f"test.publisher.{uuid.uuid4().hex[:8]}"
    await channel.declare_exchange(exchange, aio_pika.ExchangeType.DIRECT, auto_delete=True)
    link = BrokerLink(BrokerSettings(), name="test:publisher")
    await link.start()
    await until(lambda: link.status().connected, "the broker link")
    try:
        yield channel, Publisher(link, 2.0), exchange
    finally:
        await link.close()
        await connection.close()


async def _queue(channel: AbstractChannel, exchange: str, key: str) -> AbstractQueue:
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, key)
    return queue


async def _take(queue: AbstractQueue, count: int) -> list[aio_pika.abc.AbstractIncomingMessage]:
    taken: list[aio_pika.abc.AbstractIncomingMessage] = []
    async with queue.iterator(timeout=10) as messages:
        async for message in messages:
            await message.ack()
            taken.append(message)
            if len(taken) == count:
                break
    return taken


async def _underlay(publisher: Publisher) -> Any:
    """The publisher's aiormq channel: the state a shifted tag or a leftover message id would show in."""
    return await (await publisher._ready_channel()).get_underlay_channel()


def _item(exchange: str, key: str, n: int, body: bytes, expiration_ms: int | None = None) -> Outgoing:
    return Outgoing(exchange, key, f"evt-{n}", "com.hostgate.test", HEADERS, body, expiration_ms)


async def test_a_window_arrives_whole_and_in_order(broker: tuple[AbstractChannel, Publisher, str]) -> None:
    """Every message confirmed; ids, type, headers, expiration and bodies (empty, and over a frame) intact."""
    channel, publisher, exchange = broker
    queue = await _queue(channel, exchange, "k")
    big = bytes(range(256)) * 2000  # 512 KB: split over several body frames (frame_max 128 KiB)
    bodies = [b"", b"{}", big, *(f'{{"n":{n}}}'.encode() for n in range(3, 300))]
    items = [_item(exchange, "k", n, body, 60_000 if n % 2 else None) for n, body in enumerate(bodies)]

    assert await publisher.publish_window(items) == len(items)

    taken = await _take(queue, len(items))
    assert [m.message_id for m in taken] == [i.event_id for i in items]
    assert [m.body for m in taken] == bodies
    assert all(m.type == "com.hostgate.test" and m.headers == HEADERS for m in taken)
    assert all(m.delivery_mode == aio_pika.DeliveryMode.PERSISTENT for m in taken)
    assert [m.expiration for m in taken[:4]] == [None, 60.0, None, 60.0]


async def test_a_returned_message_stops_the_count_where_it_stands(
    broker: tuple[AbstractChannel, Publisher, str],
) -> None:
    """Message 5 has no queue to go to (mandatory): 5 confirmed; the rest are the caller's to retry."""
    channel, publisher, exchange = broker
    queue = await _queue(channel, exchange, "k")
    items = [_item(exchange, "nowhere" if n == 5 else "k", n, b"{}") for n in range(10)]

    assert await publisher.publish_window(items) == 5

    # The channel stays usable after a return: the retry of the rest goes through.
    assert await publisher.publish_window(items[6:]) == 4
    taken = await _take(queue, 9)
    assert [m.message_id for m in taken] == [f"evt-{n}" for n in (0, 1, 2, 3, 4, 6, 7, 8, 9)]


async def test_a_missing_exchange_confirms_nothing_and_the_next_window_goes_out(
    broker: tuple[AbstractChannel, Publisher, str],
) -> None:
    """The broker closes the channel (404): 0 confirmed, and the next window opens a new channel."""
    channel, publisher, exchange = broker
    queue = await _queue(channel, exchange, "k")
    missing = [_item(f"test.missing.{uuid.uuid4().hex[:8]}", "k", n, b"{}") for n in range(3)]

    assert await publisher.publish_window(missing) == 0

    items = [_item(exchange, "k", n, b"{}") for n in range(3)]
    assert await publisher.publish_window(items) == 3
    assert [m.message_id for m in await _take(queue, 3)] == ["evt-0", "evt-1", "evt-2"]


async def test_a_small_negative_header_is_sent_or_refused_never_raised(
    broker: tuple[AbstractChannel, Publisher, str],
) -> None:
    """A header int of -1 (pamqp 3.3 cannot pack it): confirmed, or 0 confirmed; the next window goes out."""
    channel, publisher, exchange = broker
    queue = await _queue(channel, exchange, "k")
    odd = Outgoing(exchange, "k", "evt-odd", "com.hostgate.test", {"x-count": -1}, b"{}")

    sent = await publisher.publish_window([odd])

    assert sent in (0, 1)
    assert await publisher.publish_window([_item(exchange, "k", 1, b"{}")]) == 1
    taken = await _take(queue, 1 + sent)
    assert [m.message_id for m in taken] == ["evt-odd", "evt-1"][1 - sent :]
    if sent:
        assert taken[0].headers == {"x-count": -1}


@pytest.mark.parametrize("when", ["before its frames go", "while its confirms are awaited"])
async def test_a_cancelled_window_leaves_the_channel_numbered_right(
    broker: tuple[AbstractChannel, Publisher, str], when: str
) -> None:
    """A cancelled window ends cancelled, and leaves delivery tags and the return lookup right.

    A delivery tag taken for frames never sent would shift every later confirm by one: the
    next window would wait for a confirm that never comes. It is confirmed, whole, instead.
    """
    channel, publisher, exchange = broker
    queue = await _queue(channel, exchange, "k")
    assert await publisher.publish_window([_item(exchange, "k", 0, b"{}")]) == 1
    underlay = await _underlay(publisher)
    first = asyncio.create_task(
        publisher.publish_window([_item(exchange, "k", n, b"{}") for n in range(1, 201)])
    )
    if when == "while its confirms are awaited":
        # Step by step (a poll would miss it): the window's futures registered, no confirm back yet.
        for _ in range(10_000):
            if len(underlay.confirmations) >= 200:
                break
            await asyncio.sleep(0)
        assert len(underlay.confirmations) >= 200, "the window's frames were never queued"
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    assert first.cancelled(), f"the cancellation was swallowed: {first.result()} returned"

    second = [_item(exchange, "k", n, b"{}") for n in range(1000, 1100)]
    assert await publisher.publish_window(second) == len(second)
    assert not underlay.message_id_delivery_tag, "a cancelled window left message ids behind"
    await queue.purge()


async def test_a_stuck_writer_times_out_and_gives_its_tags_back(
    broker: tuple[AbstractChannel, Publisher, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write queue that never takes the window (a writer stuck on a dead connection): 0 in time.

    No tag is kept for frames never sent, and the next window goes out on a new channel.
    """
    channel, publisher, exchange = broker
    queue = await _queue(channel, exchange, "k")
    assert await publisher.publish_window([_item(exchange, "k", 0, b"{}")]) == 1
    underlay = await _underlay(publisher)
    tag = underlay.delivery_tag
    never = asyncio.Event()

    async def stuck(_frame: object) -> None:
        await never.wait()

    monkeypatch.setattr(underlay.write_queue, "put", stuck)
    items = [_item(exchange, "k", n, b"{}") for n in range(1, 51)]

    assert await publisher.publish_window(items) == 0
    assert underlay.delivery_tag == tag, "tags were kept for frames that never went out"
    assert not underlay.confirmations
    assert not underlay.message_id_delivery_tag
    monkeypatch.undo()
    assert await publisher.publish_window(items) == len(items)
    assert [m.message_id for m in await _take(queue, 51)] == [f"evt-{n}" for n in range(51)]
