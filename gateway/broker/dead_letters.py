"""A business's dead deliveries: count, list and replay them without wearing them out.

Deliveries and status webhooks given up on wait in ``hostgate.deliveries.dead.<business>``,
a quorum queue with a delivery limit like every hostgate queue. Looking at a message
by taking it and handing it back (``nack`` with requeue) counts as a delivery there,
so a few listings would push dead letters on to the last-resort queue. A sweep
therefore takes each message that was in the queue when it began exactly once and
either replays it (to the queue it came from, as a first attempt) or puts a fresh
copy back (confirmed before the original is acked): the queue keeps its order and
no listing ever counts against a message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import aio_pika
import aiormq
import orjson
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage, HeadersType

from gateway.broker.cloudevents import PREFIX, parse
from gateway.broker.retries import ATTEMPT, DEFAULT_EXCHANGE, dead_queue
from gateway.broker.topology import INBOUND, STATUSES
from gateway.events import STATUS_WEBHOOK

REASON = "hostgatereason"
# Dropped on replay: the replayed message starts again as a first attempt.
_DROPPED_ON_REPLAY = frozenset({f"{PREFIX}{ATTEMPT}", f"{PREFIX}{REASON}"})


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One delivery or status webhook given up on."""

    message_id: str
    kind: str  # "delivery" or "status"
    attempts: int
    reason: str
    time: datetime | None


@dataclass(frozen=True, slots=True)
class Sweep:
    """What a sweep left in the queue and what it replayed."""

    kept: list[DeadLetter]
    replayed: list[DeadLetter]


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _letter(message: AbstractIncomingMessage) -> DeadLetter:
    headers = dict(message.headers)
    event = parse(headers, message.body)
    attempts = _text(headers.get(f"{PREFIX}{ATTEMPT}", 1))
    try:
        # The message's own id (the one the business and the network know), not the event's.
        named = orjson.loads(event.data).get("message_id")
    except (orjson.JSONDecodeError, AttributeError):
        named = None
    return DeadLetter(
        message_id=named if isinstance(named, str) else event.id,
        kind="status" if event.type == STATUS_WEBHOOK else "delivery",
        attempts=int(attempts) if attempts.isdigit() else 1,
        reason=_text(headers.get(f"{PREFIX}{REASON}", "")),
        time=event.time,
    )


async def count(connection: AbstractConnection, business_id: str) -> int:
    """How many dead letters a business has (0 when none was ever dead-lettered); reads nothing."""
    channel = await connection.channel()
    try:
        queue = await channel.declare_queue(dead_queue(business_id), passive=True)
    except aiormq.exceptions.ChannelNotFoundEntity:
        return 0
    else:
        return queue.declaration_result.message_count or 0
    finally:
        # Always closed, also after the broker closed it for a missing queue: a robust
        # connection's channel reopens itself otherwise, one more for every page view.
        with contextlib.suppress(aiormq.exceptions.AMQPError, RuntimeError):
            await channel.close()


async def sweep(
    connection: AbstractConnection, business_id: str, replay: Callable[[DeadLetter], bool]
) -> Sweep:
    """Go once through the business's dead letters: replay those ``replay`` picks, keep the rest."""
    waiting = await count(connection, business_id)
    kept: list[DeadLetter] = []
    replayed: list[DeadLetter] = []
    if waiting == 0:
        return Sweep(kept, replayed)
    channel = await connection.channel(publisher_confirms=True)
    try:
        queue = await channel.declare_queue(dead_queue(business_id), passive=True)
        for _ in range(waiting):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            letter = _letter(message)
            if replay(letter):
                await _replay(channel, message, letter, business_id)
                replayed.append(letter)
            else:
                await _keep(channel, message, business_id)
                kept.append(letter)
            await message.ack()
    finally:
        await channel.close()
    return Sweep(kept, replayed)


async def _replay(
    channel: AbstractChannel, message: AbstractIncomingMessage, letter: DeadLetter, business_id: str
) -> None:
    headers = {k: v for k, v in dict(message.headers).items() if k not in _DROPPED_ON_REPLAY}
    target = STATUSES.exchange if letter.kind == "status" else INBOUND.exchange
    exchange = await channel.get_exchange(target)
    await exchange.publish(_copy(message, headers), routing_key=business_id, mandatory=True)


async def _keep(channel: AbstractChannel, message: AbstractIncomingMessage, business_id: str) -> None:
    exchange = await channel.get_exchange(DEFAULT_EXCHANGE, ensure=False)
    await exchange.publish(_copy(message, dict(message.headers)), routing_key=dead_queue(business_id))


def _copy(message: AbstractIncomingMessage, headers: HeadersType) -> aio_pika.Message:
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=message.content_type,
        message_id=message.message_id,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )
