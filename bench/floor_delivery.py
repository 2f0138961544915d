"""The least any delivery with hostgate's guarantees must do, written as plainly as it can be.

The raw baseline (``bench.raw_delivery``) consumes, POSTs and acks: it keeps no
record, tells the network nothing and writes no audit trail, so a crash loses
what it was holding and a redelivery is posted twice. A gateway that promises
"nothing accepted is lost, every delivery has a receipt and an audit record"
has to do at least this much more per message, and this consumer does only
that, with the cheapest primitives at hand (aiormq's channel, no CloudEvents
validation, no disclosure check, no bulkhead, metrics or logs):

- POST the signed webhook (as the raw loop does);
- record the delivery (one row, keyed by message id) in SQLite (WAL,
  ``synchronous=FULL``), group-committed: one COMMIT for all deliveries ready
  in the same turn, on a thread;
- append one hash-chained audit line per delivery to a file, written and
  fsynced once per group;
- publish the receipts with confirm, then ack: the receipts of the deliveries ready in
  one turn go together, as one message holding a JSON array of them (the cheapest a
  confirmed receipt can be: one publish and one confirm for many deliveries; hostgate
  publishes one message per receipt, framed into one write per window).

Its rate over the raw loop's, measured in the same run, bounds what any
implementation of those guarantees can reach on this machine.
``python -m bench.floor_delivery --amqp URL --queue Q --target URL --secret S
--state DIR --receipts QUEUE`` runs it until stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sqlite3
import time
import uuid
from pathlib import Path
from typing import cast

import aio_pika
import aiohttp
import orjson
import uvloop
from aiormq.abc import AbstractChannel, DeliveredMessage
from pamqp import commands as spec
from pydantic import SecretStr

from adapters.webhook_signing import sign

PREFETCH = 500


class GroupCommit:
    """One row and one audit line per message, for all messages ready in one turn, durable together.

    ``bench.raw_ingest --floor`` uses it too: the least an accepting gateway keeps per message.
    """

    def __init__(self, state: Path, event: str = "message.delivered") -> None:
        self._event = event
        state.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(state / "floor.sqlite3", isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS messages (message_id TEXT PRIMARY KEY, event TEXT, at REAL)"
        )
        self._audit = (state / "audit.log").open("ab")
        self._head = b"\x00" * 32
        self._pending: list[tuple[str, asyncio.Future[None]]] = []
        self._running: asyncio.Task[None] | None = None

    async def record(self, message_id: str) -> None:
        """Return once the message's row and audit line are on disk."""
        done = asyncio.get_running_loop().create_future()
        self._pending.append((message_id, done))
        if self._running is None:
            self._running = asyncio.get_running_loop().create_task(self._commit())
        await done

    async def _commit(self) -> None:
        while self._pending:
            group, self._pending = self._pending, []
            await asyncio.to_thread(self._write, [message_id for message_id, _ in group])
            for _, done in group:
                done.set_result(None)
        self._running = None

    def _write(self, message_ids: list[str]) -> None:
        now = time.time()
        self._db.execute("BEGIN")
        self._db.executemany(
            "INSERT INTO messages VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [(message_id, self._event, now) for message_id in message_ids],
        )
        self._db.execute("COMMIT")
        lines = []
        for message_id in message_ids:
            line = orjson.dumps({"event": self._event, "message_id": message_id, "ts": now})
            self._head = hashlib.sha256(self._head + line).digest()
            lines.append(line + b" " + self._head.hex().encode() + b"\n")
        self._audit.write(b"".join(lines))
        self._audit.flush()
        os.fsync(self._audit.fileno())


class ReceiptBatch:
    """Receipts sent in one turn leave as one confirmed message (a JSON array of them)."""

    def __init__(self, channel: AbstractChannel, queue: str) -> None:
        self._channel = channel
        self._queue = queue
        self._pending: list[dict[str, object]] = []
        self._sent: asyncio.Future[None] | None = None

    async def send(self, receipt: dict[str, object]) -> None:
        """Return once the broker has confirmed the message holding ``receipt``."""
        self._pending.append(receipt)
        if self._sent is None:
            self._sent = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._publish()))
        await asyncio.shield(self._sent)

    async def _publish(self) -> None:
        batch, self._pending = self._pending, []
        sent, self._sent = self._sent, None
        assert sent is not None  # noqa: S101 -- set by the send that scheduled this
        properties = spec.Basic.Properties(
            message_id=str(uuid.uuid4()), content_type="application/json", delivery_mode=2
        )
        try:
            await self._channel.basic_publish(
                orjson.dumps(batch), exchange="", routing_key=self._queue, properties=properties
            )
        except Exception as exc:  # noqa: BLE001 -- every waiter of this batch learns of it
            sent.set_exception(exc)
            return
        sent.set_result(None)


async def consume(url: str, queue_name: str, target: str, secret: str, state: Path, receipts: str) -> None:
    """Consume ``queue_name`` until cancelled: POST, record, publish a receipt, ack."""
    secrets = (SecretStr(secret),)
    durable = GroupCommit(state)
    connection = await aio_pika.connect(url)
    consuming = await (await connection.channel()).get_underlay_channel()
    await consuming.basic_qos(prefetch_count=PREFETCH)
    publishing = await (await connection.channel(publisher_confirms=True)).get_underlay_channel()
    receipts_out = ReceiptBatch(publishing, receipts)
    async with aiohttp.ClientSession() as session:

        async def handle(message: DeliveredMessage) -> None:
            message_id = str(message.header.properties.message_id)
            stamp = int(time.time())
            headers = {
                "content-type": "application/json",
                "webhook-id": message_id,
                "webhook-timestamp": str(stamp),
                "webhook-signature": sign(message_id, stamp, message.body, secrets),
            }
            async with session.post(target, data=message.body, headers=headers) as response:
                await response.read()
            await durable.record(message_id)
            await receipts_out.send({"message_id": message_id, "status": "delivered", "at": stamp})
            await message.channel.basic_ack(cast(int, message.delivery_tag), wait=False)

        await consuming.basic_consume(queue_name, handle)
        await asyncio.Event().wait()


def main() -> None:
    """Parse the arguments and consume until stopped."""
    parser = argparse.ArgumentParser()
    for name in ("--amqp", "--queue", "--target", "--secret", "--state", "--receipts"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    uvloop.run(consume(args.amqp, args.queue, args.target, args.secret, Path(args.state), args.receipts))


if __name__ == "__main__":
    main()
