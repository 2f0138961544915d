"""Acks for one consumer channel, sent together once the handlers that finished together are done.

Deliveries finish in groups: a group commit releases every handler whose writes
it holds in the same turn of the event loop. Instead of one ``basic.ack`` each,
the acks of a turn go out as one ``basic.ack multiple=true`` for the run of
finished deliveries below the oldest one still open, and one ack each for
those above it (never held back: a held ack would keep a prefetch slot busy).
A delivery is acked only once its handler finished, as before; an ack lost
with the channel means a redelivery, which the handlers already take.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib

import aiormq
from aiormq.abc import AbstractChannel


class AckBatcher:
    """The open and finished deliveries of one channel, and the task that acks the finished ones."""

    def __init__(self, channel: AbstractChannel) -> None:
        self.channel = channel
        self._open: dict[int, None] = {}  # delivered, not settled; insertion order is tag order
        self._finished: list[int] = []
        self._flushing: asyncio.Task[None] | None = None
        # One flush sends at a time: a later flush's ``multiple`` ack must not overtake an
        # earlier one's single acks (acking a tag twice closes the channel).
        self._sending = asyncio.Lock()
        self.frames = 0  # ack frames sent (for tests and the curious)

    def received(self, tag: int) -> None:
        """A delivery arrived on this channel."""
        self._open[tag] = None

    def settled(self, tag: int) -> None:
        """The caller acked, nacked or rejected ``tag`` itself (after queueing that frame)."""
        self._open.pop(tag, None)

    def finished(self, tag: int) -> None:
        """The handler of ``tag`` is done: ack it with the others finished in this turn."""
        self._open.pop(tag, None)
        self._finished.append(tag)
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._flush(), name="consumer-acks")

    async def _flush(self) -> None:
        # Runs after the handlers already woken in this turn, so it takes all of their acks.
        async with self._sending:
            self._flushing = None
            finished, self._finished = sorted(self._finished), []
            oldest_open = next(iter(self._open), None)
            below = len(finished) if oldest_open is None else bisect.bisect_left(finished, oldest_open)
            await self._send(finished, below)

    async def _send(self, finished: list[int], below: int) -> None:
        # A closed channel's tags mean nothing any more: its messages come back to a consumer.
        with contextlib.suppress(aiormq.exceptions.AMQPError, ConnectionError, RuntimeError):
            if below:
                # Every tag up to this one is finished here or already settled by its caller.
                await self.channel.basic_ack(finished[below - 1], multiple=below > 1, wait=False)
                self.frames += 1
            for tag in finished[below:]:
                await self.channel.basic_ack(tag, wait=False)
                self.frames += 1
