"""Per-business bulkheads: a slow or dead host holds a bounded share of the shared consumer window.

Deliveries (and status webhooks) of every business arrive on one queue with one
prefetch window. Without a bound, a host that accepts connections and never
answers would hold every slot of that window for up to its timeout, and every
other business would wait behind it.

Here each business has at most ``max_in_flight`` attempts under way per process.
An event whose business is at its bound does not wait in the shared window: it
is moved (confirmed, then acked) to the business's own parking queue, which this
process consumes with a window of that business's bound, each event waiting for
a free slot. A hung host therefore holds its own slots and its own parking
window, and nothing of anyone else's; nothing is retried early or churned while
it hangs. Once parking has begun, new events of that business join the queue
behind the parked ones rather than overtaking them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TypeVar

import structlog

from gateway.broker.cloudevents import CloudEvent
from gateway.broker.consumer import Handler, QueueConsumer
from gateway.broker.link import BrokerLink
from gateway.broker.publisher import Publisher
from gateway.broker.retries import RetryScheduler

log = structlog.get_logger("hostgate.bulkhead")

T = TypeVar("T")


class Bulkhead:
    """At most ``limit(business)`` attempts in flight per business in this process."""

    def __init__(self, limit: Callable[[str], int]) -> None:
        # Read at each entry, so a reloaded config's bound applies to the next attempt.
        self._limit = limit
        self._in_flight: dict[str, int] = {}
        self._waiters: dict[str, deque[asyncio.Future[None]]] = {}

    def in_flight(self, business_id: str) -> int:
        """How many attempts for ``business_id`` are under way."""
        return self._in_flight.get(business_id, 0)

    def waiting(self, business_id: str) -> int:
        """How many parked events of ``business_id`` wait for a slot."""
        return len(self._waiters.get(business_id, ()))

    def _take(self, business_id: str) -> bool:
        count = self._in_flight.get(business_id, 0)
        if count >= self._limit(business_id) or self._waiters.get(business_id):
            return False
        self._in_flight[business_id] = count + 1
        return True

    def _release(self, business_id: str) -> None:
        waiters = self._waiters.get(business_id)
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                if not waiters:
                    del self._waiters[business_id]
                waiter.set_result(None)  # the slot passes to the waiter as it is
                return
        self._waiters.pop(business_id, None)
        left = self._in_flight[business_id] - 1
        if left:
            self._in_flight[business_id] = left
        else:
            # Only businesses with work under way are kept: the map never outgrows the config.
            del self._in_flight[business_id]

    @contextmanager
    def slot(self, business_id: str) -> Iterator[bool]:
        """Yield True holding a slot, or False (holding nothing) when the business is at its bound."""
        if not self._take(business_id):
            yield False
            return
        try:
            yield True
        finally:
            self._release(business_id)

    @asynccontextmanager
    async def waiting_slot(self, business_id: str) -> AsyncIterator[None]:
        """Hold a slot, waiting (first come, first served) for one to free up."""
        if not self._take(business_id):
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(business_id, deque()).append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._release(business_id)  # handed a slot just as we were cancelled
                else:
                    queue = self._waiters.get(business_id)
                    if queue is not None and waiter in queue:
                        queue.remove(waiter)
                        if not queue:
                            del self._waiters[business_id]
                raise
        try:
            yield
        finally:
            self._release(business_id)


class Parking:
    """Moves events of a business at its bound to its parking queue, and consumes that queue here."""

    def __init__(
        self, bulkhead: Bulkhead, retries: RetryScheduler, link: BrokerLink, publisher: Publisher
    ) -> None:
        self.bulkhead = bulkhead
        self._retries = retries
        self._link = link
        self._publisher = publisher
        self._consumers: dict[str, QueueConsumer] = {}
        self.parked = 0

    async def attempt(
        self,
        event: CloudEvent,
        business_id: str,
        work: Callable[[], Awaitable[T]],
        *,
        parked: bool,
        limit: int,
        parked_handler: Handler,
    ) -> T | None:
        """Run ``work`` holding one of the business's slots; None when the event was parked instead.

        An event from the shared queue takes a free slot or is parked; one from the parking
        queue (``parked``) waits for a slot.
        """
        if parked:
            async with self.bulkhead.waiting_slot(business_id):
                return await work()
        with self.bulkhead.slot(business_id) as held:
            if held:
                return await work()
        # At its bound: the shared window must not wait on this business's host.
        await self.park(event, business_id, limit, parked_handler)
        return None

    async def park(self, event: CloudEvent, business_id: str, prefetch: int, handler: Handler) -> None:
        """Park ``event``; make sure this process works ``business_id``'s parking queue with ``handler``."""
        queue = await self._retries.park(event, business_id)
        self.parked += 1
        if queue not in self._consumers:
            # The parking window is the business's bound: parked events hold no shared slot.
            consumer = QueueConsumer(self._link, queue, handler, publisher=self._publisher, prefetch=prefetch)
            self._consumers[queue] = consumer
            await consumer.start()
            log.info("delivery.parking_started", business=business_id, queue=queue)

    async def close(self) -> None:
        """Stop consuming the parking queues (what is parked stays there or returns to the shared queue)."""
        for consumer in self._consumers.values():
            await consumer.close()
        self._consumers.clear()
