"""A running gateway hands each audit checkpoint to RabbitMQ as documented, for witnesses outside it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aio_pika
import orjson
import pytest

from gateway.audit.checkpoint import leaf, verify_note
from gateway.audit.witness import CheckpointAnnouncement
from gateway.broker.topology import AUDIT
from gateway.disclosure.keys import KeyRing
from gateway.events import AUDIT_CHECKPOINT
from gateway.transparency import merkle
from gateway.transparency.note import Checkpoint
from tests.conftest import edit
from tests.support import gateway_client, purge_network_queues, ready, trail_text, wait_until

pytestmark = pytest.mark.broker


async def _announcements(within: float) -> list[tuple[aio_pika.abc.AbstractIncomingMessage, bytes]]:
    connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/", timeout=5)
    found: list[tuple[aio_pika.abc.AbstractIncomingMessage, bytes]] = []
    try:
        channel = await connection.channel()
        queue = await channel.get_queue(AUDIT.queue, ensure=False)
        deadline = asyncio.get_running_loop().time() + within
        while not found and asyncio.get_running_loop().time() < deadline:
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                found.append((message, message.body))
            await asyncio.sleep(0.1)
    finally:
        await connection.close()
    return found


async def test_each_checkpoint_reaches_the_audit_queue_verifiable(config_dir: Path) -> None:
    """The event's body is the documented model; its note verifies and its root is the trail's Merkle root."""
    edit(
        config_dir / "gateway.toml",
        lambda text: text.replace("checkpoint_every = 1000", "checkpoint_every = 3"),
    )
    await purge_network_queues((AUDIT.queue,))
    async with gateway_client(config_dir, "audit-checkpoints") as client:
        # Ready means the topology is declared: on a broker that never saw hostgate the queue
        # does not exist before that, and reading it sooner fails with NOT_FOUND.
        await wait_until(lambda: ready(client), within=20, what="the gateway ready (its topology declared)")
        received = await _announcements(within=20)
    assert received, "no checkpoint reached hostgate.audit.checkpoints"
    keys = KeyRing.open(config_dir.parent / "var" / "keys").public_keys()
    lines = trail_text(config_dir.parent / "var").encode().splitlines()
    print(f"{len(received)} checkpoint event(s); trail of {len(lines)} records")
    for message, body in received:
        assert message.headers["cloudEvents_type"] == AUDIT_CHECKPOINT
        announced = CheckpointAnnouncement.model_validate(orjson.loads(body))
        checkpoint = verify_note(announced.note, keys)
        assert isinstance(checkpoint, Checkpoint)
        assert (checkpoint.origin, checkpoint.size) == (announced.origin, announced.size)
        assert checkpoint.root == merkle.root([leaf(line) for line in lines[: checkpoint.size]])
