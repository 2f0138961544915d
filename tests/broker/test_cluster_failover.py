"""A gateway on a 3-node RabbitMQ cluster: quorum queues on every node, and the link moves when its node stops.

The cluster runs beside the system broker (``tests/rabbit_cluster.py``). The
gateway is given all three nodes in one URL; the test stops the node it is
connected to, under a steady stream of messages with careful clients, and counts
what the network received: accepted, delivered, lost, duplicated.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.broker import topology
from tests.bridge.conftest import API_KEYS
from tests.conftest import without_rate_limit
from tests.rabbit_cluster import rabbit_cluster
from tests.support import queued_ids, send_carefully, serving

# The broker link only, no store: one pass of make test runs it (the PostgreSQL one).
pytestmark = [
    pytest.mark.broker,
    pytest.mark.reliability,
    pytest.mark.engine_independent,
    pytest.mark.timeout(420),
]

MESSAGES = 300
READY_WITHIN = 30.0


def _connected_node(lines: list[dict[str, Any]]) -> str:
    return str([x for x in lines if x.get("event") == "broker.connected"][-1]["node"])


async def _ready(port: int, within: float) -> float:
    """Seconds until /readyz answers 200 (fails after ``within``)."""
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        while time.monotonic() - started < within:
            try:
                async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"/readyz not 200 within {within} s")


async def test_the_link_fails_over_when_its_node_stops(config_dir: Path) -> None:
    """Stop the gateway's node mid-stream: it moves to another, is ready again quickly, nothing is lost."""
    without_rate_limit(config_dir)
    key = API_KEYS["warung-sari"]
    accepted: list[str] = []
    with (
        rabbit_cluster(3) as cluster,
        serving(config_dir, {"HOSTGATE_AMQP_URL": cluster.url}) as (_, port, lines),
    ):
        base = f"http://127.0.0.1:{port}"
        await _ready(port, READY_WITHIN)
        members = cluster.ctl(
            cluster.nodes[0], "list_queues", "name", "members", "--quiet", "--no-table-headers"
        )
        inbound = next(
            line for line in members.splitlines() if line.startswith(topology.INBOUND.queue + "\t")
        )
        assert all(node.name in inbound for node in cluster.nodes), f"a quorum queue on every node: {inbound}"
        first = _connected_node(lines)
        victim = next(n for n in cluster.nodes if f":{n.port}" in first)

        async with aiohttp.ClientSession() as session:
            accepted += [await send_carefully(session, base, key, n) for n in range(MESSAGES // 3)]
            stopped = time.monotonic()
            await asyncio.to_thread(cluster.stop_app, victim)
            accepted += [
                await send_carefully(session, base, key, n) for n in range(MESSAGES // 3, 2 * MESSAGES // 3)
            ]
            ready_again = await _ready(port, READY_WITHIN)
            recovered = time.monotonic() - stopped
            accepted += [
                await send_carefully(session, base, key, n) for n in range(2 * MESSAGES // 3, MESSAGES)
            ]
        second = _connected_node(lines)
        survivor = next(n for n in cluster.nodes if n is not victim)
        seen = await queued_ids(survivor.url, topology.OUTBOUND.queue, MESSAGES)
        await asyncio.to_thread(cluster.start_app, victim)
    copies = Counter(seen)
    lost = set(accepted) - set(copies)
    duplicated = sum(c - 1 for c in copies.values())
    print(
        f"cluster failover: accepted {len(accepted)}, delivered {len(set(copies))}, lost {len(lost)},"
        f" duplicated {duplicated}; node {first} -> {second}; ready again {recovered:.1f} s after the stop"
        f" (readyz wait {ready_again:.1f} s)"
    )
    assert second != first, "the link moved to another node"
    assert len(accepted) == MESSAGES
    assert not lost
    assert recovered < READY_WITHIN
