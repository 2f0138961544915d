"""The raw baseline: a bare aiohttp handler that validates with pydantic and awaits each publish's confirm."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import AsyncIterator

import aio_pika
import uvloop
from aiohttp import web
from pydantic import BaseModel

EXCHANGE = "hostgate.outbound"


class Body(BaseModel):
    """What the client posts."""

    recipient: str
    payload: str


def build(url: str) -> web.Application:
    """The baseline app: one channel with confirms; one publish, one confirm per request."""
    app = web.Application()
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
    args = parser.parse_args()
    web.run_app(
        build(args.amqp),
        host="127.0.0.1",
        port=args.port,
        reuse_port=args.reuse_port,
        print=None,
        access_log=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
