"""The raw delivery baseline: consume a queue, POST each message as a signed webhook, ack after the answer.

Run as its own process (pinned to the core hostgate gets) until it is stopped:
``python -m bench.raw_delivery --amqp URL --queue Q --target URL --secret S``.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aio_pika
import aiohttp
import uvloop
from pydantic import SecretStr

from adapters.webhook_signing import sign

PREFETCH = 500


async def consume(url: str, queue_name: str, target: str, secret: str) -> None:
    """Consume ``queue_name`` with prefetch 500 until cancelled; POST and ack each message."""
    secrets = (SecretStr(secret),)
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=PREFETCH)
    queue = await channel.get_queue(queue_name)
    async with aiohttp.ClientSession() as session:

        async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            stamp = int(time.time())
            headers = {
                "content-type": "application/json",
                "webhook-id": str(message.message_id),
                "webhook-timestamp": str(stamp),
                "webhook-signature": sign(str(message.message_id), stamp, message.body, secrets),
            }
            async with session.post(target, data=message.body, headers=headers) as response:
                await response.read()
            await message.ack()

        await queue.consume(handle)
        await asyncio.Event().wait()


def main() -> None:
    """Parse the arguments and consume until stopped."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--amqp", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    uvloop.run(consume(args.amqp, args.queue, args.target, args.secret))


if __name__ == "__main__":
    main()
