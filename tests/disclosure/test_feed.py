"""The revision feed the console's live page listens to."""

from __future__ import annotations

import asyncio

from gateway.disclosure.feed import RevisionChange, RevisionFeed


async def test_watchers_see_each_move_once_and_lose_nothing_to_a_timeout() -> None:
    """Changes published while nobody waits, or while a wait was cancelled, are seen on the next call."""
    feed = RevisionFeed()
    early, late = feed.watch(), None
    await feed.publish([RevisionChange("a", 1), RevisionChange("b", 1)])
    late = feed.watch()  # started after the first change: sees only later ones
    try:
        async with asyncio.timeout(0.05):
            await late.next()
    except TimeoutError:
        pass
    await feed.publish([RevisionChange("a", 2)])
    await feed.publish([RevisionChange("a", 3)])  # coalesced with the one before for a slow watcher
    assert await early.next() == [RevisionChange("a", 3), RevisionChange("b", 1)]
    assert await late.next() == [RevisionChange("a", 3)]
    await feed.publish([])  # nothing: nobody is woken
    waiting = asyncio.create_task(early.next())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await feed.close()
    assert await waiting is None
    assert await late.next() is None
