"""Per-business bulkheads: a slow or dead host holds a bounded share of the shared consumer window.

Deliveries (and status webhooks) of every business arrive on one queue with one
prefetch window. Without a bound, a host that accepts connections and never
answers would hold every slot of that window for up to its timeout, and every
other business would wait behind it.

Here each business has at most ``max_in_flight`` calls to its host under way per
process. A business at its bound whose host keeps answering waits a moment for a
slot (a burst to a healthy host costs nothing more); one whose host has stopped
answering does not wait in the shared window at all: its event is moved
(confirmed, then acked) to the business's own parking queue, which this process
consumes with a window of that business's bound, each event waiting for a free
slot. A hung host therefore holds its own slots and its own parking window, and
nothing of anyone else's; nothing is retried early or churned while it hangs.
While events wait, new ones of that business queue behind them rather than
overtake.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from gateway.broker.cloudevents import CloudEvent
from gateway.broker.consumer import Handler, QueueConsumer
from gateway.broker.link import BrokerLink
from gateway.broker.publisher import Publisher
from gateway.broker.retries import RetryScheduler

log = structlog.get_logger("hostgate.bulkhead")

T = TypeVar("T")


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class Bulkhead:
    """At most ``limit(business)`` host calls in flight per business in this process.

    A slot covers the call to the host only (not the store work around it), so a
    healthy host turns its slots over in milliseconds. When every slot is taken,
    an event from the shared queue waits for one, for at most ``patience``
    seconds, but only while the host is *flowing*: it answered (or the first call
    began) within the last ``stall_after`` seconds. A host that has stopped
    answering gets no waiters: its events are parked at once, so the shared
    window holds at most its ``limit`` stuck calls.
    """

    def __init__(
        self, limit: Callable[[str], int], *, patience: float = 1.0, stall_after: float = 1.0
    ) -> None:
        # Read at each entry, so a reloaded config's bound applies to the next attempt.
        self._limit = limit
        self._patience = patience
        self._stall_after = stall_after
        self._in_flight: dict[str, int] = {}
        self._waiters: dict[str, deque[asyncio.Future[None]]] = {}
        self._progress: dict[str, float] = {}

    def in_flight(self, business_id: str) -> int:
        """How many host calls for ``business_id`` are under way."""
        return self._in_flight.get(business_id, 0)

    def waiting(self, business_id: str) -> int:
        """How many events of ``business_id`` wait for a slot."""
        return len(self._waiters.get(business_id, ()))

    def _take(self, business_id: str) -> bool:
        count = self._in_flight.get(business_id, 0)
        if count >= self._limit(business_id) or self._waiters.get(business_id):
            return False
        if count == 0:
            self._progress[business_id] = time.monotonic()  # a first call: the clock starts
        self._in_flight[business_id] = count + 1
        return True

    def _release(self, business_id: str) -> None:
        self._progress[business_id] = time.monotonic()
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
            # Only businesses with work under way are kept: the maps never outgrow the config.
            del self._in_flight[business_id]
            del self._progress[business_id]

    def _flowing(self, business_id: str) -> bool:
        return time.monotonic() - self._progress.get(business_id, 0.0) < self._stall_after

    async def enter(self, business_id: str, *, parked: bool) -> bool:
        """Take a slot (True), or say to park the event (False).

        An event from the parking queue (``parked``) always waits for its slot; one from the
        shared queue waits a little while the host is flowing, and not at all when it is stuck.
        """
        if self._take(business_id):
            return True
        if not parked and not self._flowing(business_id):
            return False
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.setdefault(business_id, deque()).append(waiter)
        # A plain timer that fails the waiter, not asyncio.timeout: every event of a busy host
        # waits here, and the timeout's cancel-and-uncancel round costs more than the wait.
        timer = None if parked else loop.call_later(self._patience, _expire, waiter)
        try:
            await waiter
        except TimeoutError:
            self._drop(business_id, waiter)  # a slot handed over first would have won the race
            return False
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release(business_id)  # handed a slot just as the wait was cancelled
            else:
                self._drop(business_id, waiter)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        return True

    def leave(self, business_id: str) -> None:
        """Give back a slot taken by :meth:`enter`."""
        self._release(business_id)

    def _drop(self, business_id: str, waiter: asyncio.Future[None]) -> None:
        queue = self._waiters.get(business_id)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            if not queue:
                del self._waiters[business_id]


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
        """Run ``work`` (the host call) holding one of the business's slots; None when parked instead."""
        if await self.bulkhead.enter(business_id, parked=parked):
            try:
                return await work()
            finally:
                self.bulkhead.leave(business_id)
        # At its bound and stuck (or still full after waiting): the shared window moves on.
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
