"""Waiting for an event with a time limit, in a way that never loses a cancellation."""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` pass; True if it was set.

    Not ``asyncio.wait_for``: on Python 3.11 it returns normally when a
    cancellation lands just as the awaited event is set (python/cpython#86296),
    so a background loop asked to stop could go round again and its ``close()``
    would wait forever. ``asyncio.timeout`` counts cancellations and re-raises.
    """
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
