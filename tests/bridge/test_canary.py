"""A canary plaintext and a canary user id sent through every path never show up where they must not."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
from collections.abc import Iterator

import aio_pika
import pytest
import structlog

from adapters.base import b64url
from gateway.audit.pseudonym import Pseudonymizer
from gateway.broker import topology
from gateway.logging import configure_logging
from gateway.sealing import EndpointPrivateKey, seal
from tests.bridge.conftest import BROKER_URL, BUSINESSES, Bridge, example_key
from tests.support import purge_network_queues

pytestmark = pytest.mark.broker

CANARY_TEXT = "CANARY-PLAINTEXT-5f2e-meet-at-noon"
CANARY_USER = "CANARY-USER-+62-811-0000"


@pytest.fixture
def gateway_log() -> Iterator[io.StringIO]:
    """Everything the gateway logs during the test, as its JSON lines."""
    buffer = io.StringIO()
    configure_logging("debug", stream=buffer)
    yield buffer
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


async def _queued_bodies() -> list[bytes]:
    """Every message now waiting in the queues hostgate publishes to, and the dead letters (left in place)."""
    bodies: list[bytes] = []
    connection = await aio_pika.connect(BROKER_URL)
    try:
        channel = await connection.channel()
        for name in (*(r.queue for r in topology.ROUTES), topology.DEAD_LETTER_QUEUE):
            queue = await channel.get_queue(name, ensure=False)
            held = []
            while (message := await queue.get(no_ack=False, fail=False)) is not None:
                bodies.append(message.body + repr(dict(message.headers)).encode())
                held.append(message)
            for message in held:
                await message.nack(requeue=True)
    finally:
        await connection.close()
    return bodies


async def test_canaries_stay_out_of_logs_state_queues_and_trail(
    bridge: Bridge, gateway_log: io.StringIO
) -> None:
    """Through inbound, stale re-seal, outbound, receipts and status: no plaintext anywhere; the user only as a pseudonym."""
    await purge_network_queues()  # only this test's messages are looked through below
    for business in BUSINESSES:
        await bridge.network.send(CANARY_USER, business, CANARY_TEXT)
    await bridge.network.wait_all_delivered(within=30)

    # A hosting change, then a message sealed to the old key: stale receipt, notice, re-seal.
    moved = EndpointPrivateKey.generate()
    path = bridge.config_dir / "businesses" / "nimbus-shop.toml"
    url = bridge.hosts.add("nimbus-shop-moved", moved)
    text = path.read_text().replace(
        b64url(example_key("nimbus-shop").public.public_key), b64url(moved.public.public_key)
    )
    path.write_text(text.replace(f"{bridge.hosts.url}/nimbus-shop", url))
    stale_key = bridge.network.client_keys[(CANARY_USER, "nimbus-shop")]
    await bridge.reload()
    bridge.network.client_keys[(CANARY_USER, "nimbus-shop")] = stale_key
    await bridge.network.send(CANARY_USER, "nimbus-shop", CANARY_TEXT)
    await bridge.network.wait_all_delivered(within=30)
    assert bridge.network.stats.counts["receipt:disclosure_stale"] >= 1

    user_key = EndpointPrivateKey.generate()
    payload = base64.b64encode(seal(CANARY_TEXT.encode(), "warung-sari", user_key.public)).decode()
    response = await bridge.client.post(
        "/v1/messages",
        json={"recipient": CANARY_USER, "payload": payload},
        headers=bridge.auth("warung-sari"),
    )
    message_id = (await response.json())["message_id"]
    await bridge.network.receipt(message_id, "warung-sari", "delivered")
    await bridge.client.get(f"/v1/messages/{message_id}", headers=bridge.auth("warung-sari"))

    # Consent and export: the canary user blocks a business, then the network exports their data.
    await bridge.network.consent(CANARY_USER, "kirana-travel", "block")
    network = {"Authorization": "Bearer hgn_a7EwhxZqgMbNRTigiNi-YQfCLXZYhp1MTYGnfcpMg80"}
    for _ in range(100):
        export = await (
            await bridge.client.get(f"/v1/network/users/{CANARY_USER}/export", headers=network)
        ).json()
        if export["consents"]:
            break
        await asyncio.sleep(0.1)
    assert export["consents"], "the consent decision was never recorded"
    assert CANARY_TEXT not in json.dumps(export)

    var = bridge.config_dir.parent / "var"
    await bridge.client.close()  # flush the trail and the store before reading them
    state_files = [p for p in var.rglob("*") if p.is_file()]
    trail = b"".join(p.read_bytes() for p in (var / "audit").glob("audit-*.jsonl"))
    logs = gateway_log.getvalue()
    queued = await _queued_bodies()
    canary = CANARY_TEXT.encode()
    print(
        f"checked {len(state_files)} state files, {len(logs.splitlines())} log lines, {len(queued)} queued messages"
    )

    assert CANARY_TEXT not in logs
    assert all(canary not in p.read_bytes() for p in state_files), [
        p.name for p in state_files if canary in p.read_bytes()
    ]
    assert all(canary not in body for body in queued)
    assert CANARY_USER not in logs
    assert CANARY_USER.encode() not in trail
    pseudonym = Pseudonymizer.open(var / "keys")(CANARY_USER)
    # delivered x3, rejected (stale), accepted (outbound), consent, export
    assert trail.count(pseudonym.encode()) >= 7
    for event in (
        "message.delivered",
        "message.rejected",
        "message.accepted",
        "consent.recorded",
        "export.served",
    ):
        assert f'"event":"{event}"'.encode() in trail, event
