"""The raw baseline: a bare aiohttp handler that validates with pydantic and awaits each publish's confirm.

With ``--floor DIR`` it also keeps what an accepting gateway must keep before its 202
(one group-committed SQLite row and one fsynced hash-chained audit line per
message, ``bench.floor_delivery.GroupCommit``): the least hostgate's guarantees cost.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import uvloop
from aiohttp import web
from pydantic import BaseModel

from bench.floor_delivery import GroupCommit

EXCHANGE = "hostgate.outbound"


class Body(BaseModel):
    """What the client posts."""

    recipient: str
    payload: str


def build(url: str, floor: Path | None = None) -> web.Application:
    """The baseline app: one channel with confirms; one publish, one confirm per request."""
    app = web.Application()
    durable = GroupCommit(floor, "message.accepted") if floor is not None else None
    state: dict[str, aio_pika.abc.AbstractExchange] = {}

    async def connect(app: web.Application) -> AsyncIterator[None]:
        connection = await aio_pika.connect(url)
        channel = await connection.channel(publisher_confirms=True)
        state["exchange"] = await channel.get_exchange(EXCHANGE)
        yield
        await connection.close()

    async def handle(request: web.Request) -> web.Response:
        body = Body.model_validate_json(await request.read())
        message_id = uuid.uuid4().hex
        if durable is not None:
            await durable.record(message_id)
        await state["exchange"].publish(
            aio_pika.Message(body.model_dump_json().encode(), message_id=message_id, delivery_mode=2),
            routing_key="raw.message",
            mandatory=True,
        )
        return web.json_response({"message_id": message_id}, status=202)

    app.cleanup_ctx.append(connect)
    app.router.add_post("/v1/messages", handle)
    return app


def main() -> None:
    """``python -m bench.raw_ingest --amqp URL --port P [--reuse-port]``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--amqp", required=True)
    parser.add_argument("--port", type=int, required=True)
    # Several of these on one port, as hostgate's --workers: the same process count on both sides.
    parser.add_argument("--reuse-port", action="store_true")
    parser.add_argument(
        "--floor", type=Path, default=None, help="state directory: keep a row and an audit line"
    )
    args = parser.parse_args()
    web.run_app(
        build(args.amqp, args.floor),
        host="127.0.0.1",
        port=args.port,
        reuse_port=args.reuse_port,
        print=None,
        access_log=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
