"""Poison on every queue hostgate consumes: each goes to the dead-letter exchange with a reason; valid traffic flows."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import aio_pika
import pytest
from pamqp.common import FieldValue

from gateway.broker import topology
from gateway.broker.cloudevents import CloudEvent
from gateway.broker.consumer import DLQ_REASON
from gateway.events import CONSENT_DECISION, DELIVERY_RECEIPT, INBOUND_MESSAGE
from tests.bridge.conftest import BROKER_URL, Bridge, example_key
from tests.support import purge_network_queues

pytestmark = [pytest.mark.broker, pytest.mark.reliability]


def _event(event_type: str, data: bytes) -> dict[str, FieldValue]:
    return dict(
        CloudEvent(
            id=str(uuid.uuid4()), type=event_type, subject="warung-sari", time=datetime.now(UTC), data=data
        ).headers()
    )


def _stamped(**fields: str) -> bytes:
    """A JSON event body with the given fields and ``at`` set to now."""
    return json.dumps({**fields, "at": datetime.now(UTC).isoformat()}).encode()


def _poison() -> list[tuple[str, dict[str, FieldValue], bytes]]:
    kid = example_key("warung-sari").public.kid
    good = {
        "message_id": "m-x",
        "sender": "u",
        "business_id": "warung-sari",
        "key_id": kid,
        "sealed": "AAAA",
        "sent_at": datetime.now(UTC).isoformat(),
    }
    inbound = topology.INBOUND.exchange
    return [
        (inbound, _event(INBOUND_MESSAGE, b"{not json"), b"{not json"),
        (inbound, {}, json.dumps(good).encode()),  # no CloudEvents headers at all
        (inbound, _event(INBOUND_MESSAGE, b""), json.dumps({**good, "sealed": 12}).encode()),
        (inbound, _event(INBOUND_MESSAGE, b""), json.dumps({**good, "sealed": "A" * 400_000}).encode()),
        (
            inbound,
            _event(INBOUND_MESSAGE, b""),
            json.dumps({**good, "business_id": "no-such-business"}).encode(),
        ),
        (inbound, _event("com.example.unexpected", b""), json.dumps(good).encode()),
        (topology.RECEIPTS.exchange, _event(DELIVERY_RECEIPT, b""), b"[]"),
        (
            topology.RECEIPTS.exchange,
            _event(DELIVERY_RECEIPT, b""),
            _stamped(message_id="never-sent", business_id="warung-sari", status="read"),
        ),
        (
            topology.CONSENTS.exchange,
            _event(CONSENT_DECISION, b""),
            _stamped(user_id="u", business_id="warung-sari", decision="maybe"),
        ),
        (
            topology.CONSENTS.exchange,
            _event(CONSENT_DECISION, b""),
            _stamped(user_id="u", business_id="nobody", decision="block"),
        ),
    ]


async def test_poison_is_dead_lettered_with_a_reason(bridge: Bridge) -> None:
    """Every poison message lands in the dead-letter queue with its reason, once; a valid message still gets through."""
    await purge_network_queues()
    poison = _poison()
    connection = await aio_pika.connect(BROKER_URL)
    try:
        channel = await connection.channel(publisher_confirms=True)
        for exchange, headers, body in poison:
            target = await channel.get_exchange(exchange)
            await target.publish(
                aio_pika.Message(body, headers=headers, content_type="application/json"), routing_key="poison"
            )
        await bridge.network.send("user-p", "warung-sari", "still flowing")
        await bridge.network.wait_all_delivered(within=20)
        dead = await channel.get_queue(topology.DEAD_LETTER_QUEUE)
        reasons: list[str] = []
        for _ in range(100):
            while (message := await dead.get(no_ack=True, fail=False)) is not None:
                reason = message.headers.get(DLQ_REASON)
                reasons.append(reason.decode() if isinstance(reason, bytes) else str(reason))
            if len(reasons) >= len(poison):
                break
            await asyncio.sleep(0.1)
    finally:
        await connection.close()
    print(f"poison={len(poison)} dead_lettered={len(reasons)}")
    for reason in reasons:
        print(f"  {reason}")
    assert len(reasons) == len(poison)
    assert all(r and r != "None" for r in reasons)
