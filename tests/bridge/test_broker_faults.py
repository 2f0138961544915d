"""10,000 messages both ways while RabbitMQ is stopped, started, killed with -9 and started again.

Scored like a queue checker. Ingest: every POST answered 202 reaches the
network (a durable capture queue), nothing else does. Inbound: every message
the network published with a broker confirm is opened by its business's host;
nothing else is. Copies (at-least-once) are counted and deduplicated by id.
Publishes that failed while the broker was away are retried with the same id,
as the network's client does. After each fault the gateway's consumers are back
and /readyz says so within 30 s.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aio_pika
import aiormq
import pytest

from gateway.broker.topology import OUTBOUND
from gateway.events import OUTBOUND_MESSAGE
from tests.bridge.conftest import API_KEYS, BUSINESSES, Bridge
from tests.broker_capture import Captured, capture
from tests.conftest import without_rate_limit
from tests.support import broker_killed, broker_stopping, wait_until

# ~60 s of load, two broker restarts and up to 120 s for the captures to settle: the test's own
# deadlines report what was lost, so pytest's default 120 s must not cut it short.
pytestmark = [
    pytest.mark.broker,
    pytest.mark.broker_restart,
    pytest.mark.reliability,
    pytest.mark.timeout(300),
]
PER_PATH = 5_000
RATE = 220  # messages per second on each path: the traffic spans both faults
RECOVERY_SECONDS = 30
_DOWN = (
    aio_pika.exceptions.AMQPError,
    aiormq.exceptions.AMQPError,
    ConnectionError,
    RuntimeError,
    TimeoutError,
)


@pytest.fixture
async def captured(request: pytest.FixtureRequest) -> AsyncIterator[Captured]:
    """A durable queue on the outbound exchange, bound before the gateway starts."""
    async with capture([OUTBOUND.exchange], request.node.name) as queue:
        yield queue


@pytest.fixture
def unthrottled(config_dir: Path) -> None:
    """Ingest at the test's pace, not the demo rate limits."""
    for business in API_KEYS:
        without_rate_limit(config_dir, business)


async def _paced(count: int, send: Callable[[int], Awaitable[None]]) -> None:
    started = time.monotonic()
    for i in range(count):
        await send(i)
        ahead = started + i / RATE - time.monotonic()
        if ahead > 0:
            await asyncio.sleep(ahead)


async def _ready_within(bridge: Bridge, restarted: float, seconds: float) -> float:
    """Seconds from the broker's start command until /readyz says the gateway is back."""
    while time.monotonic() - restarted < seconds:
        response = await bridge.client.get("/readyz")
        if response.status == 200:
            return time.monotonic() - restarted
        await asyncio.sleep(0.2)
    pytest.fail(f"/readyz not 200 within {seconds}s of the broker's restart: {await response.text()}")


class Traffic:
    """Both paths at a steady pace; each message retried with the same id until the broker takes it."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.accepted: set[str] = set()
        self.ingest_retries = collections.Counter[str]()
        self.inbound_retries = collections.Counter[str]()

    async def ingest(self, i: int) -> None:
        """A business posts message ``i``; a non-202 is retried with the same Idempotency-Key."""
        business = BUSINESSES[i % len(BUSINESSES)]
        body = {"recipient": f"user-{i % 50}", "payload": base64.b64encode(f"sealed {i}".encode()).decode()}
        headers = {"Authorization": f"Bearer {API_KEYS[business]}", "Idempotency-Key": f"fault-{i}"}
        while True:
            response = await self.bridge.client.post("/v1/messages", json=body, headers=headers)
            if response.status == 202:
                self.accepted.add((await response.json())["message_id"])
                return
            self.ingest_retries[str(response.status)] += 1
            await asyncio.sleep(0.2)

    async def inbound(self, i: int) -> None:
        """A user sends message ``i``; a publish the broker did not confirm is sent again, same id."""
        business = BUSINESSES[i % len(BUSINESSES)]
        while True:
            try:
                await asyncio.wait_for(
                    self.bridge.network.send(
                        f"user-{i % 40}", business, f"fault {i}", message_id=f"m-fault-{i}"
                    ),
                    5,
                )
            except _DOWN as exc:
                self.inbound_retries[type(exc).__name__] += 1
                await asyncio.sleep(0.3)
                continue
            return

    def opened(self) -> collections.Counter[str]:
        """Message ids the hosts opened, with how often."""
        return collections.Counter(
            m for received in self.bridge.hosts.opened.values() for m, _, _ in received
        )


async def _faults(bridge: Bridge) -> list[float]:
    """stop_app, down 2 s, start_app; later kill -9, restart: how long until the gateway is back each time."""
    recoveries = []
    await asyncio.sleep(3)
    async with broker_stopping() as stopping:
        await stopping
        await asyncio.sleep(2)  # down for a while: both paths keep trying
        restarted = time.monotonic()  # start_app runs as the block ends
    recoveries.append(await _ready_within(bridge, restarted, RECOVERY_SECONDS))
    await asyncio.sleep(3)
    async with broker_killed():
        await asyncio.sleep(1)
        restarted = time.monotonic()  # rabbitmq-server -detached runs as the block ends
    recoveries.append(await _ready_within(bridge, restarted, RECOVERY_SECONDS))
    return recoveries


async def test_nothing_is_lost_across_broker_stop_and_kill(
    unthrottled: None, bridge: Bridge, captured: Captured
) -> None:
    """5,000 ingest + 5,000 inbound across stop_app/start_app and kill -9/restart: lost 0, unexpected 0."""
    traffic = Traffic(bridge)
    started = time.monotonic()
    _, _, recoveries = await asyncio.gather(
        _paced(PER_PATH, traffic.ingest), _paced(PER_PATH, traffic.inbound), _faults(bridge)
    )
    sent_for = time.monotonic() - started

    async def outbox_drained() -> bool:
        body = await (await bridge.client.get("/readyz")).json()
        return bool(body["checks"]["outbox"]["rows"] == 0)

    sent_ids = set(bridge.network.sent)

    async def all_opened() -> bool:
        return sent_ids <= set(traffic.opened())

    await wait_until(outbox_drained, 90, "the outbox to drain")
    await wait_until(all_opened, 120, "every inbound message at its host")
    at_hosts = traffic.opened()
    messages = await captured.settle(quiet=2.0, within=120)
    published = collections.Counter(
        json.loads(body)["message_id"]
        for headers, body in messages
        if headers.get("cloudEvents_type") == OUTBOUND_MESSAGE
    )
    accepted = traffic.accepted
    print(
        f"sent {PER_PATH} + {PER_PATH} in {sent_for:.1f}s across stop_app and kill -9; gateway back "
        f"(readyz 200) {' and '.join(f'{r:.1f}s' for r in recoveries)} after the broker's start command\n"
        f"ingest: accepted {len(accepted)}, published {len(published)} distinct "
        f"(+{sum(published.values()) - len(published)} copies), lost {len(accepted - set(published))}, "
        f"unexpected {len(set(published) - accepted)}, non-202 answers retried {dict(traffic.ingest_retries)}\n"
        f"inbound: sent {len(sent_ids)}, opened {len(at_hosts)} distinct "
        f"(+{sum(at_hosts.values()) - len(at_hosts)} copies), lost {len(sent_ids - set(at_hosts))}, "
        f"unexpected {len(set(at_hosts) - sent_ids)}, unopenable {len(bridge.hosts.unopenable)}, "
        f"failed publishes retried {dict(traffic.inbound_retries)}"
    )
    assert len(accepted) == PER_PATH
    assert set(published) == accepted, "every 202 reaches the network, and nothing else"
    assert len(sent_ids) == PER_PATH
    assert set(at_hosts) == sent_ids, "every confirmed inbound message reaches its host, and nothing else"
    assert bridge.hosts.unopenable == []
    assert all(r < RECOVERY_SECONDS for r in recoveries)
