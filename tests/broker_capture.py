"""A durable test queue bound to hostgate's exchanges, read after the fact.

Durable (quorum) so that what the gateway published survives a broker restart
in the middle of a test; named per test so the broker shows whose it is.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractRobustConnection

from gateway.broker import topology

BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"


@dataclass
class Captured:
    """Messages read from the capture queue, in arrival order."""

    queue: str
    name: str
    messages: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)

    async def collect(self, until: int, within: float) -> list[tuple[dict[str, Any], bytes]]:
        """Read until ``until`` messages in all, or ``within`` seconds pass; return them all."""
        await self._read(lambda: len(self.messages) >= until, time.monotonic() + within, quiet=None)
        return self.messages

    async def settle(self, quiet: float = 1.0, within: float = 30.0) -> list[tuple[dict[str, Any], bytes]]:
        """Read until nothing new arrives for ``quiet`` seconds (or ``within`` pass)."""
        await self._read(lambda: False, time.monotonic() + within, quiet=quiet)
        return self.messages

    async def _read(self, enough: Callable[[], bool], deadline: float, quiet: float | None) -> None:
        # One connection, basic.get in a loop: nothing is prefetched, so nothing is left unacked.
        connection = await aio_pika.connect(BROKER_URL, client_properties={"connection_name": self.name})
        try:
            channel = await connection.channel()
            queue = await channel.get_queue(self.queue, ensure=False)
            last_seen = time.monotonic()
            while not enough() and time.monotonic() < deadline:
                message = await queue.get(no_ack=False, fail=False)
                if message is None:
                    if quiet is not None and time.monotonic() - last_seen >= quiet:
                        return
                    await asyncio.sleep(0.05)
                    continue
                last_seen = time.monotonic()
                self.messages.append((dict(message.headers), message.body))
                await message.ack()
        finally:
            await connection.close()


@asynccontextmanager
async def capture(exchanges: Sequence[str], test_name: str) -> AsyncIterator[Captured]:
    """Bind a fresh durable queue to ``exchanges`` for the test, delete it afterwards."""
    name = f"test:{test_name}"
    queue_name = f"test.capture.{uuid.uuid4().hex[:10]}"
    connection: AbstractRobustConnection = await aio_pika.connect_robust(
        BROKER_URL, client_properties={"connection_name": name}
    )
    try:
        channel = await connection.channel()
        await topology.declare(channel)
        queue = await channel.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})
        for exchange in exchanges:
            await queue.bind(exchange, routing_key="#")
        await connection.close()
        yield Captured(queue_name, name)
    finally:
        cleanup = await aio_pika.connect(BROKER_URL, client_properties={"connection_name": name + ":cleanup"})
        try:
            cleanup_channel = await cleanup.channel()
            await cleanup_channel.queue_delete(queue_name)
        finally:
            await cleanup.close()
