"""Tell in-process watchers (the console's live page) that new revisions exist.

Watchers get only a wake-up with the latest changes; they read what they show
from the store. A slow watcher loses nothing: it is woken once for many changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RevisionChange:
    """A business now has this revision."""

    business_id: str
    revision: int


class RevisionFeed:
    """Fan out revision changes to any number of async watchers on one event loop."""

    def __init__(self) -> None:
        self._generation = 0
        self._latest: dict[str, int] = {}
        self._changed = asyncio.Condition()
        self._closed = False

    async def publish(self, changes: Iterable[RevisionChange]) -> None:
        """Record changes and wake every watcher."""
        changes = list(changes)
        if not changes:
            return
        async with self._changed:
            for change in changes:
                self._latest[change.business_id] = change.revision
            self._generation += 1
            self._changed.notify_all()

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
            watch.generation = self._generation
            latest = dict(self._latest)
        moved = [RevisionChange(b, r) for b, r in sorted(latest.items()) if watch.seen.get(b) != r]
        watch.seen = latest
        return moved


class Watch:
    """One watcher's place in the feed."""

    def __init__(self, feed: RevisionFeed) -> None:
        self._feed = feed
        self.generation = feed._generation
        self.seen = dict(feed._latest)

    async def next(self) -> list[RevisionChange] | None:
        """What moved since the last call, waiting for a change; None once the feed closed.

        Cancelling the wait (``asyncio.timeout`` around it) loses nothing: the next call sees it.
        """
        return await self._feed._next(self)
