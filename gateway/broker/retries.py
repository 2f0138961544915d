"""Durable delivery retries through RabbitMQ: a failed delivery waits in a delay queue, not in memory.

Each distinct delay has a quorum queue ``hostgate.retry.<ms>ms`` with that
message TTL, dead-lettering back to ``hostgate.inbound``: when the delay is
over, the message is consumed again, as if new, with its attempt number in the
``cloudEvents_hostgateattempt`` header. The copy is confirmed before the
original is acked, so a crash at any point leaves the delivery pending (at
worst twice; the same message id is the same webhook-id, so receivers dedupe).
After the last delay the delivery goes to ``hostgate.deliveries.dead.<business>``, from
which ``hostgate deliveries replay`` re-delivers it.
"""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass, replace
from datetime import timedelta

import aio_pika
import structlog
from aio_pika.abc import AbstractRobustConnection

from gateway.broker.cloudevents import CloudEvent
from gateway.broker.publisher import Outgoing, Publisher
from gateway.broker.topology import INBOUND, STATUSES, queue_arguments
from gateway.errors import PublishNotConfirmed

log = structlog.get_logger("hostgate.retries")

ATTEMPT = "hostgateattempt"
DEAD_DELIVERIES = "hostgate.deliveries.dead"


# A parked event that no process takes from its parking queue (its process died) goes back to the
# shared queue after this long, where any process takes it.
PARKED_TTL_MS = 300_000


@dataclass(frozen=True, slots=True)
class RetryRoute:
    """Where waiting events sit and the exchange they return to.

    Delay queues are ``<prefix>.<ms>ms``; a business's parking queue (events held while its
    bulkhead is full) is ``<parking>.<business>``.
    """

    prefix: str
    parking: str
    returns_to: str

    def parking_queue(self, business_id: str) -> str:
        """The queue where ``business_id``'s events wait for a free slot."""
        return f"{self.parking}.{business_id}"


DELIVERY_RETRIES = RetryRoute("hostgate.retry", "hostgate.parked", INBOUND.exchange)
STATUS_RETRIES = RetryRoute("hostgate.statuses.retry", "hostgate.statuses.parked", STATUSES.exchange)


def dead_queue(business_id: str) -> str:
    """The per-business queue of deliveries given up on."""
    return f"{DEAD_DELIVERIES}.{business_id}"


DEFAULT_EXCHANGE = ""


def attempt_of(event: CloudEvent) -> int:
    """Which attempt this delivery is (1 for the first)."""
    value = event.extensions.get(ATTEMPT, 1)
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


def delay_queue(delay_ms: int, route: RetryRoute = DELIVERY_RETRIES) -> str:
    """The name of ``route``'s delay queue for ``delay_ms``."""
    return f"{route.prefix}.{delay_ms}ms"


@dataclass(frozen=True, slots=True)
class Delay:
    """How long a retry waits: its own jittered delay, and the delay queue's TTL (the upper bound).

    One queue per schedule step, not per jittered value: the jitter rides on the
    message's own expiration, so the number of delay queues stays small.
    """

    seconds: float
    queue_ms: int

    @property
    def message_ms(self) -> int:
        """The message's own expiration."""
        return max(1, min(self.queue_ms, round(self.seconds * 1000)))


def next_delay(
    schedule: list[float], attempt: int, jitter: float, retry_after: timedelta | None, rng: random.Random
) -> Delay | None:
    """The wait before attempt ``attempt + 1``, or None when the schedule is spent."""
    if attempt > len(schedule):
        return None
    base = schedule[attempt - 1]
    if retry_after is not None:
        # Honour Retry-After: the first step of the schedule at least that long, else that long (whole s).
        wanted = math.ceil(retry_after.total_seconds())
        base = next((step for step in schedule[attempt - 1 :] if step >= wanted), wanted)
    seconds = base * (1 + rng.uniform(-jitter, jitter)) if base > 0 else 0.0
    return Delay(seconds, max(1, math.ceil(base * (1 + jitter) * 1000)))


class RetryScheduler:
    """Parks failed deliveries in delay queues and dead-letters the ones out of attempts."""

    def __init__(
        self, publisher: Publisher, connection: object, route: RetryRoute = DELIVERY_RETRIES
    ) -> None:
        self._publisher = publisher
        self._connection = connection
        self._route = route
        self._declared: set[str] = set()
        self._declaring: dict[str, asyncio.Lock] = {}
        self._rng = random.Random()  # noqa: S311 -- jitter, not a secret

    async def _declare(self, connection: AbstractRobustConnection, name: str, ttl_ms: int | None) -> None:
        if name in self._declared:
            return
        # One declaration per name at a time: a burst of parked events would otherwise open a
        # channel each for the same queue.
        lock = self._declaring.setdefault(name, asyncio.Lock())
        async with lock:
            if name in self._declared:
                return
            channel = await connection.channel()
            try:
                arguments = dict(queue_arguments())
                if ttl_ms is not None:
                    arguments.update(
                        {"x-message-ttl": ttl_ms, "x-dead-letter-exchange": self._route.returns_to}
                    )
                    arguments.pop("x-delivery-limit", None)
                await channel.declare_queue(name, durable=True, arguments=arguments)
            finally:
                await channel.close()
            self._declared.add(name)
        self._declaring.pop(name, None)

    @property
    def route(self) -> RetryRoute:
        """Where this scheduler's events wait."""
        return self._route

    async def later(self, event: CloudEvent, business_id: str, delay: Delay, attempt: int) -> None:
        """Hold the event for ``delay``; it comes back as attempt ``attempt``."""
        name = delay_queue(delay.queue_ms, self._route)
        await self._declare(self._connection_now(), name, delay.queue_ms)
        copy = replace(event, extensions={**event.extensions, ATTEMPT: attempt})
        await self._publisher.publish(Outgoing.of(DEFAULT_EXCHANGE, name, copy, delay.message_ms))
        log.info(
            "delivery.retry_scheduled",
            business=business_id,
            type=event.type,
            attempt=attempt,
            delay_ms=delay.message_ms,
        )

    async def park(self, event: CloudEvent, business_id: str) -> str:
        """Put the event on ``business_id``'s parking queue, unchanged; return that queue's name."""
        name = self._route.parking_queue(business_id)
        await self._declare(self._connection_now(), name, PARKED_TTL_MS)
        await self._publisher.publish(Outgoing.of(DEFAULT_EXCHANGE, name, event))
        return name

    async def dead(self, event: CloudEvent, business_id: str, reason: str) -> None:
        """Give up: keep the event in ``business_id``'s dead deliveries queue for listing and replay.

        The business comes from the caller's validated body, never from the event's headers:
        whoever can publish must not choose which business's dead queue a message lands in.
        """
        name = dead_queue(business_id)
        await self._declare(self._connection_now(), name, None)
        copy = replace(event, extensions={**event.extensions, "hostgatereason": reason[:200]})
        await self._publisher.publish(Outgoing.of(DEFAULT_EXCHANGE, name, copy))

    def _connection_now(self) -> AbstractRobustConnection:
        connection = getattr(self._connection, "connection", None)
        if connection is None:
            raise PublishNotConfirmed("broker not connected")
        assert isinstance(connection, aio_pika.abc.AbstractRobustConnection)  # noqa: S101 -- the link's connection
        return connection
