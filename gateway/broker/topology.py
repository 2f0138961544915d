"""The exchanges and queues hostgate declares, idempotently, at start-up.

Every queue is a quorum queue with an explicit delivery limit (RabbitMQ 3.x has
none by default) and dead-letters to ``hostgate.dlx`` at least once. The
``network.*`` queues are where the network consumes; declaring them here means a
``mandatory`` publish with no binding is a returned message, not a silent loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel
from pamqp.common import FieldTable

DEAD_LETTER_EXCHANGE = "hostgate.dlx"
DEAD_LETTER_QUEUE = "hostgate.dead-letter"
DELIVERY_LIMIT = 5


@dataclass(frozen=True, slots=True)
class Route:
    """An exchange, the queue bound to it, and who consumes that queue."""

    exchange: str
    queue: str
    consumer: str


DISCLOSURES = Route("hostgate.disclosures", "network.disclosures", "network")
NOTICES = Route("hostgate.notices", "network.notices", "network")
OUTBOUND = Route("hostgate.outbound", "network.outbound", "network")
INBOUND = Route("hostgate.inbound", "hostgate.inbound", "hostgate")
RECEIPTS = Route("hostgate.receipts", "hostgate.receipts", "hostgate")
CONSENTS = Route("hostgate.consents", "hostgate.consents", "hostgate")
AUDIT = Route("hostgate.audit", "hostgate.audit.checkpoints", "witness")
# Status webhooks waiting to be sent to businesses: written to the outbox with the receipt that
# caused them, so they are as durable as a delivery. Only hostgate publishes here.
STATUSES = Route("hostgate.statuses", "hostgate.statuses", "hostgate")

ROUTES = (DISCLOSURES, NOTICES, OUTBOUND, INBOUND, RECEIPTS, CONSENTS, AUDIT, STATUSES)


def queue_arguments() -> FieldTable:
    """Arguments every hostgate queue is declared with."""
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


async def declare(channel: AbstractChannel) -> None:
    """Declare every exchange, queue and binding; safe to run on every start."""
    dlx = await channel.declare_exchange(DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    dead = await channel.declare_queue(DEAD_LETTER_QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
    await dead.bind(dlx, routing_key="#")
    for route in ROUTES:
        exchange = await channel.declare_exchange(route.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(route.queue, durable=True, arguments=queue_arguments())
        await queue.bind(exchange, routing_key="#")
