"""Businesses keep sending while RabbitMQ is down: every 202 reaches the network once it is back."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.broker.topology import OUTBOUND
from gateway.events import OUTBOUND_MESSAGE
from tests.bridge.conftest import API_KEYS
from tests.broker_capture import Captured, capture
from tests.conftest import quick_reconnects, without_rate_limit
from tests.support import broker_stopping, gateway_client, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.broker_restart, pytest.mark.reliability]
MESSAGES = 2_000


@pytest.fixture
async def captured(request: pytest.FixtureRequest) -> AsyncIterator[Captured]:
    """A durable queue on the outbound exchange, bound before the gateway starts."""
    async with capture([OUTBOUND.exchange], request.node.name) as queue:
        yield queue


@pytest.fixture
async def gateway(
    captured: Captured, config_dir: Path, request: pytest.FixtureRequest
) -> AsyncIterator[TestClient[Any, Any]]:
    """The gateway in-process, reconnecting quickly, rate limit out of the way."""
    quick_reconnects(config_dir)
    without_rate_limit(config_dir)
    async with gateway_client(config_dir, request.node.name) as client:
        yield client


async def test_every_accepted_message_arrives(gateway: TestClient[Any, Any], captured: Captured) -> None:
    """2,000 messages sent before, during and after a broker stop: all answered 202, all published, none twice."""
    headers = {"Authorization": f"Bearer {API_KEYS['warung-sari']}"}
    accepted: list[str] = []
    statuses: list[int] = []

    async def send(i: int) -> None:
        body = {"recipient": f"user-{i % 50}", "payload": base64.b64encode(f"sealed {i}".encode()).decode()}
        response = await gateway.post("/v1/messages", json=body, headers=headers)
        statuses.append(response.status)
        if response.status == 202:
            accepted.append((await response.json())["message_id"])

    async def wave(start: int, count: int) -> None:
        for chunk in range(start, start + count, 50):
            await asyncio.gather(*(send(i) for i in range(chunk, min(chunk + 50, start + count))))

    await wave(0, 500)
    async with broker_stopping() as stopping:
        await wave(500, 500)  # while the broker goes down
        await stopping
        await wave(1000, 500)  # while it is down: the outbox holds them
    await wave(1500, 500)

    async def drained() -> bool:
        body = await (await gateway.get("/readyz")).json()
        return bool(body["checks"]["broker"]["ok"]) and body["checks"]["outbox"]["rows"] == 0

    await wait_until(drained, 90, "the outbox to drain")
    messages = await captured.settle(quiet=2.0, within=60)
    published = [
        json.loads(body)["message_id"]
        for headers_, body in messages
        if headers_.get("cloudEvents_type") == OUTBOUND_MESSAGE
    ]
    print(
        f"sent={MESSAGES} accepted={len(accepted)} non-202={len(statuses) - statuses.count(202)} "
        f"published={len(published)} distinct={len(set(published))}"
    )
    assert statuses.count(202) == MESSAGES, {s: statuses.count(s) for s in set(statuses)}
    assert set(published) == set(accepted), "every 202 reaches the network, and nothing else"
