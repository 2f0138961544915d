"""Tell watchers (the console's live page) that new revisions exist, whichever replica made them.

Watchers get only a wake-up with the latest changes; they read what they show
from the store. A slow watcher loses nothing: it is woken once for many changes.
Changes come from this process's own syncs at once, and from the store's newest
revisions, which :meth:`RevisionFeed.follow` reads every ``FOLLOW_SECONDS`` so a
revision another replica made reaches this process's watchers too. Each change
is published once however many times it is seen.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import structlog

from gateway.errors import StoreError

log = structlog.get_logger("hostgate.feed")

# How often the store is asked for revisions made elsewhere: the live page's delay at worst.
FOLLOW_SECONDS = 1.0
# Changes kept for watchers that fell behind; one further behind is shown everything's latest.
KEPT_CHANGES = 1000


@dataclass(frozen=True, slots=True)
class RevisionChange:
    """A business now has this revision."""

    business_id: str
    revision: int


class RevisionFeed:
    """Fan out revision changes to any number of async watchers on one event loop."""

    def __init__(self) -> None:
        self._generation = 0
        self._changes: deque[tuple[int, RevisionChange]] = deque(maxlen=KEPT_CHANGES)
        self._latest: dict[str, int] = {}
        self._changed = asyncio.Condition()
        self._closed = False

    async def publish(self, changes: Iterable[RevisionChange]) -> None:
        """Record the changes not seen before and wake every watcher."""
        async with self._changed:
            fresh = [c for c in changes if self._latest.get(c.business_id, 0) < c.revision]
            for change in fresh:
                self._generation += 1
                self._changes.append((self._generation, change))
                self._latest[change.business_id] = change.revision
            if fresh:
                self._changed.notify_all()

    def know(self, latest: dict[str, int]) -> None:
        """Take ``latest`` as what watchers already have (at start-up: nothing there is news)."""
        for business_id, revision in latest.items():
            self._latest[business_id] = max(revision, self._latest.get(business_id, 0))

    async def follow(self, read: Callable[[], Awaitable[dict[str, int]]]) -> None:
        """Publish what ``read`` (the store's newest revisions) shows, every ``FOLLOW_SECONDS``."""
        while not self._closed:
            try:
                latest = await read()
            except StoreError as exc:  # the store is away: the live page waits, nothing else does
                log.info("feed.store_unreadable", reason=str(exc)[:200])
            else:
                await self.publish(RevisionChange(b, r) for b, r in sorted(latest.items()))
            await asyncio.sleep(FOLLOW_SECONDS)

    async def close(self) -> None:
        """End every watch (at shutdown, so long-lived streams do not hold the server open)."""
        async with self._changed:
            self._closed = True
            self._changed.notify_all()

    def watch(self) -> Watch:
        """A watch that sees every change published from now on."""
        return Watch(self)

    async def _next(self, watch: Watch) -> list[RevisionChange] | None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._closed or self._generation != watch.generation)
            if self._closed:
                return None
            oldest = self._changes[0][0] if self._changes else self._generation + 1
            if oldest > watch.generation + 1:  # fell further behind than the changes kept
                moved = {b: RevisionChange(b, r) for b, r in self._latest.items()}
            else:
                moved = {c.business_id: c for g, c in self._changes if g > watch.generation}
            watch.generation = self._generation
        return [moved[b] for b in sorted(moved)]


class Watch:
    """One watcher's place in the feed."""

    def __init__(self, feed: RevisionFeed) -> None:
        self._feed = feed
        self.generation = feed._generation

    async def next(self) -> list[RevisionChange] | None:
        """What moved since the last call, waiting for a change; None once the feed closed.

        Cancelling the wait (``asyncio.timeout`` around it) loses nothing: the next call sees it.
        """
        return await self._feed._next(self)
