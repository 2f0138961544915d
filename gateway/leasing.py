"""One named job held by this process at a time, cluster-wide: a lease in the store, renewed as it works.

``await lease.keep()`` before each round of the job: it claims or renews the lease
(at half-life, so one write every few seconds, not per round) and says whether this
process may act. Its deadline is taken before the claim's unit starts, minus a
margin, so this process stops acting before the database could hand the lease to
another. A process that dies loses the lease when it lapses; ``release()`` on a
clean stop hands it over at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from gateway.ids import new_id
from gateway.store import Store

log = structlog.get_logger("hostgate.leases")


class Lease:
    """This process's hold on one named job."""

    def __init__(
        self,
        store: Store,
        name: str,
        *,
        seconds: float = 5.0,
        holder: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.holder = holder or new_id()
        self._store = store
        self.seconds = seconds
        self._margin = min(1.0, seconds / 5)
        self._clock = clock
        self._until = 0.0

    def held(self) -> bool:
        """Whether this process may act now, by its own conservative clock."""
        return self._until > self._clock()

    async def keep(self) -> bool:
        """Claim or renew the lease when due; whether this process holds it now."""
        now = self._clock()
        if self._until >= now + self.seconds / 2:
            return True
        had = self.held()
        deadline = now + self.seconds - self._margin
        async with self._store.unit() as tx:
            got = await tx.leases.claim(self.name, self.holder, self.seconds)
        self._until = deadline if got else 0.0
        if got and not had:
            log.info("lease.taken", lease=self.name)
        elif had and not got:
            log.warning("lease.lost", lease=self.name)
        return got

    async def release(self) -> None:
        """Give the lease up at once (a clean stop)."""
        if self._until == 0.0:
            return
        self._until = 0.0
        async with self._store.unit() as tx:
            await tx.leases.release(self.name, self.holder)
