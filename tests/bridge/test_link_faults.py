"""Connection faults between hostgate and RabbitMQ, through a TCP proxy: cut links and a slow link."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.broker.topology import OUTBOUND
from gateway.events import OUTBOUND_MESSAGE
from tests.bridge.conftest import API_KEYS
from tests.broker_capture import Captured, capture
from tests.conftest import edit, quick_reconnects, without_rate_limit
from tests.faultproxy import FaultProxy, fault_proxy
from tests.support import gateway_client, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.reliability]


@pytest.fixture
async def proxy() -> AsyncIterator[FaultProxy]:
    """A fault-injecting proxy in front of the local RabbitMQ."""
    async with fault_proxy(("127.0.0.1", 5672)) as running:
        yield running


@pytest.fixture
async def captured(request: pytest.FixtureRequest) -> AsyncIterator[Captured]:
    """A durable queue on the outbound exchange, connected directly (not through the proxy)."""
    async with capture([OUTBOUND.exchange], request.node.name) as queue:
        yield queue


@pytest.fixture
async def gateway(
    proxy: FaultProxy, captured: Captured, config_dir: Path, request: pytest.FixtureRequest
) -> AsyncIterator[TestClient[Any, Any]]:
    """The gateway talking to RabbitMQ through the proxy; short publish timeout, quick reconnects."""
    edit(
        config_dir / "gateway.toml",
        lambda t: t.replace("publish_timeout_seconds = 5", "publish_timeout_seconds = 1"),
    )
    quick_reconnects(config_dir, 0.3)
    without_rate_limit(config_dir)
    broker = {"HOSTGATE_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{proxy.port}/"}
    async with gateway_client(config_dir, request.node.name, broker) as client:
        yield client


async def test_cut_and_slow_links_lose_nothing(
    gateway: TestClient[Any, Any], proxy: FaultProxy, captured: Captured
) -> None:
    """Five cut links and a slow link while businesses send: every request answered fast, every message published."""
    headers = {"Authorization": f"Bearer {API_KEYS['warung-sari']}"}
    accepted: list[str] = []
    slowest = 0.0

    async def send(i: int) -> None:
        nonlocal slowest
        started = time.monotonic()
        body = {"recipient": f"user-{i % 20}", "payload": base64.b64encode(b"sealed").decode()}
        response = await gateway.post("/v1/messages", json=body, headers=headers)
        slowest = max(slowest, time.monotonic() - started)
        assert response.status == 202
        accepted.append((await response.json())["message_id"])

    async def ready() -> bool:
        return (await gateway.get("/readyz")).status == 200

    async def drained() -> bool:
        body = await (await gateway.get("/readyz")).json()
        return bool(body["checks"]["broker"]["ok"]) and body["checks"]["outbox"]["rows"] == 0

    await wait_until(ready, 15, "the gateway to connect through the proxy")
    drain_times = []
    for round_ in range(5):
        await asyncio.gather(*(send(round_ * 100 + i) for i in range(100)))
        proxy.sever()
        started = time.monotonic()
        await wait_until(drained, 30, f"the outbox to drain after cut {round_ + 1}")
        drain_times.append(time.monotonic() - started)
    proxy.delay = 0.05  # a slow link: every chunk held 50 ms each way
    await asyncio.gather(*(send(500 + i) for i in range(100)))
    await wait_until(drained, 30, "the outbox to drain over the slow link")
    proxy.delay = 0.0
    messages = await captured.settle(quiet=2.0, within=60)
    published = [
        json.loads(b)["message_id"] for h, b in messages if h.get("cloudEvents_type") == OUTBOUND_MESSAGE
    ]
    print(
        f"sent=600 cuts=5 severed_connections={proxy.severed} slowest_request={slowest:.3f}s "
        f"drain_after_cut={[round(t, 2) for t in drain_times]} published={len(published)} distinct={len(set(published))}"
    )
    assert set(published) == set(accepted)
    assert len(accepted) == 600
    assert slowest < 2.0, "a request never waits on a broken broker link"
