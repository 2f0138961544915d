"""The revision feed the console's live page listens to."""

from __future__ import annotations

import asyncio
import contextlib

from gateway.disclosure.feed import FOLLOW_SECONDS, RevisionChange, RevisionFeed


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


async def test_a_change_seen_twice_is_published_once_and_other_replicas_changes_arrive() -> None:
    """The local sync and the store's read both see revision 2: one wake-up; a revision made elsewhere follows."""
    feed = RevisionFeed()
    feed.know({"a": 1, "b": 1})  # what exists at start-up is not news
    watch = feed.watch()
    store = {"a": 1, "b": 1}

    async def read() -> dict[str, int]:
        return dict(store)

    following = asyncio.create_task(feed.follow(read))
    try:
        await feed.publish([RevisionChange("a", 2)])  # this process's own sync
        store["a"] = 2  # ... which the store shows too
        assert await watch.next() == [RevisionChange("a", 2)]
        store["b"] = 5  # another replica made b's revisions 2 to 5
        async with asyncio.timeout(5):
            assert await watch.next() == [RevisionChange("b", 5)]
        await asyncio.sleep(FOLLOW_SECONDS * 1.5)
        with contextlib.suppress(TimeoutError):  # nothing new: no wake-up
            async with asyncio.timeout(0.1):
                assert await watch.next() is None, "woken with nothing new"
    finally:
        await feed.close()
        await asyncio.wait_for(following, FOLLOW_SECONDS * 2)
