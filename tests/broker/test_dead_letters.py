"""Counting a business's dead letters leaves no channel behind, even when it has none."""

from __future__ import annotations

import asyncio
import json
import subprocess

import aio_pika
import pytest

from gateway.broker import dead_letters

pytestmark = pytest.mark.broker
NAME = "test:dead-letter-count"


def _channels_of(name: str) -> int:
    listed = subprocess.run(
        ["rabbitmqctl", "list_connections", "client_properties", "channels", "--formatter", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for connection in json.loads(listed.stdout):
        properties = connection["client_properties"]
        # rabbitmqctl's JSON shows client properties as [name, type, value] triples.
        if any(p[0] == "connection_name" and p[2] == name for p in properties):
            return int(connection["channels"])
    raise AssertionError(f"no connection named {name}")


async def test_counting_a_missing_dead_queue_leaks_no_channel() -> None:
    """The broker closes the channel for a missing queue; a robust connection would reopen it."""
    connection = await aio_pika.connect_robust(
        "amqp://guest:guest@127.0.0.1:5672/", client_properties={"connection_name": NAME}
    )
    try:
        for _ in range(5):
            assert await dead_letters.count(connection, "no-such-business") == 0
        await asyncio.sleep(1.0)  # a channel that reopens itself does so at once
        channels = await asyncio.to_thread(_channels_of, NAME)
        print(f"channels left open after 5 counts: {channels}")
        assert channels == 0
    finally:
        await connection.close()
