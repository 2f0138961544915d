"""Which businesses' outbox rows this process publishes: a lease per business, cluster-wide.

A business's rows must leave in ``seq`` order, a disclosure row before anything
queued after it. Claiming single rows (``SKIP LOCKED``) would let two processes
publish rows 5 and 6 of one business in either order, so whole businesses are
claimed instead: ``outbox:<business>`` for ``seconds`` (renewed at half-life while
rows wait), and only the holder publishes that business's rows. Each relay also
keeps ``relay:<holder>`` alive; with N live relays a relay claims at most its share
(the businesses with rows / N, rounded up) so businesses spread over processes.
Leases of businesses with nothing waiting are left to lapse.

Timing: a claim's local deadline is taken *before* the claim's unit starts, minus a
margin, so the process stops publishing for a business before the database could
hand the lease to another (clocks may differ between machines; only the database's
clock expires leases). What is left is a process paused for longer than the lease
in the middle of one window's publish: its copies arrive late, after newer rows,
and consumers that drop copies by id see at most a repeat, never a gap.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

import structlog

from gateway.ids import new_id
from gateway.store import Store

log = structlog.get_logger("hostgate.relay")

OUTBOX = "outbox:"
RELAY = "relay:"


class BusinessClaims:
    """This process's leases on businesses' outboxes."""

    def __init__(
        self,
        store: Store,
        *,
        seconds: float = 5.0,
        holder: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.holder = holder or new_id()
        self._store = store
        self._seconds = seconds
        self._margin = min(1.0, seconds / 5)
        self._clock = clock
        self._until: dict[str, float] = {}  # business -> local time to stop publishing it by
        self._alive_until = 0.0

    def holds(self, business_id: str) -> bool:
        """Whether this process may publish the business's rows now (by its own conservative clock)."""
        return self._until.get(business_id, 0.0) > self._clock()

    async def claim(self) -> list[str]:
        """Renew and take leases for businesses with rows waiting; the ones this process now holds."""
        async with self._store.read() as tx:
            waiting = await tx.outbox.businesses()
        now, half = self._clock(), self._seconds / 2
        firm = [b for b in waiting if self._until.get(b, 0.0) >= now + half]
        due = [b for b in waiting if now < self._until.get(b, 0.0) < now + half]
        free = [b for b in waiting if self._until.get(b, 0.0) <= now]
        if due or free or self._alive_until < now + half:
            await self._claim(len(firm), due, free, len(waiting))
        for business in [b for b, until in self._until.items() if until <= now]:
            del self._until[business]
        return [b for b in waiting if self.holds(b)]

    async def _claim(self, firm: int, due: list[str], free: list[str], waiting: int) -> None:
        started = self._clock()
        deadline = started + self._seconds - self._margin
        async with self._store.unit() as tx:
            await tx.leases.claim(RELAY + self.holder, self.holder, self._seconds)
            relays = max(len(await tx.leases.live(RELAY)), 1)
            share = math.ceil(waiting / relays)
            mine = firm
            # Renewals first (up to the share: beyond it a lease is left to lapse, so a relay that
            # started later gets its part), then free businesses.
            for business in due + free:
                if mine >= share:
                    break
                if await tx.leases.claim(OUTBOX + business, self.holder, self._seconds):
                    self._until[business] = deadline
                    mine += 1
                elif business in due:
                    self._until.pop(business, None)
                    log.warning("relay.lease_lost", business=business)
        self._alive_until = deadline

    async def release(self, businesses: Iterable[str] | None = None) -> None:
        """Give leases up (all of them, and this relay's heartbeat, by default): a clean stop."""
        names = [OUTBOX + b for b in (self._until if businesses is None else businesses)]
        if businesses is None:
            names.append(RELAY + self.holder)
        async with self._store.unit() as tx:
            for name in names:
                await tx.leases.release(name, self.holder)
        for name in names:
            self._until.pop(name.removeprefix(OUTBOX), None)
