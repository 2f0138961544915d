"""Disclosure before delivery across replicas: replica A reloads a new key, replica B refuses the old one.

Two gateways on one store and one broker. The business moves to a new host with a
new key; only A is told (SIGHUP's reload), B keeps its old config. A stops; a message
sealed to the *old* key arrives and B, the only consumer left, takes it. B must not
deliver it: the store's newest revision (A's) names another key, so the network gets
``disclosure_stale`` with that revision, and the old host opens nothing.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aiohttp.test_utils import TestServer

from adapters.base import b64url
from gateway.adapter_registry import AdapterRegistry
from gateway.app import apply_config, build_app
from gateway.bridge.models import InboundMessage
from gateway.broker import topology
from gateway.broker.cloudevents import CloudEvent, amqp_message
from gateway.config import load_config
from gateway.events import INBOUND_MESSAGE
from gateway.http.keys import CONFIG, DISCLOSURES
from gateway.sealing import EndpointPrivateKey, seal
from tests.bridge.conftest import BROKER_URL, example_key, point_at_hosts
from tests.bridge.hosts import business_hosts

pytestmark = [pytest.mark.broker]

BUSINESS = "warung-sari"


async def _revision(server: TestServer) -> int:
    latest = await server.app[DISCLOSURES].latest(BUSINESS)
    assert latest is not None
    return latest.revision


async def _receipt_for(message_id: str, within: float = 20) -> dict[str, Any]:
    """The receipt the network gets for ``message_id`` (other messages in the queue are left alone)."""
    connection = await aio_pika.connect(BROKER_URL)
    try:
        channel = await connection.channel()
        queue = await channel.get_queue(topology.OUTBOUND.queue)
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            message = await queue.get(fail=False)
            if message is None:
                await asyncio.sleep(0.1)
                continue
            await message.ack()
            body = json.loads(message.body)
            if body.get("message_id") == message_id and "status" in body:
                return dict(body)
    finally:
        await connection.close()
    raise AssertionError(f"no receipt for {message_id} within {within} s")


async def test_a_replica_that_never_reloaded_refuses_the_old_key(config_dir: Path) -> None:
    """A reloads (revision 2, new key); B, still on the old config, gets the old-key message: stale, not delivered."""
    async with business_hosts() as hosts:
        point_at_hosts(config_dir, hosts)
        servers = []
        for name in ("a", "b"):
            app = build_app(
                load_config(config_dir, {}, AdapterRegistry()), connection_name=f"test:stale:{name}"
            )
            server = TestServer(app, host="127.0.0.1", port=0)
            await server.start_server()
            servers.append(server)
        a, b = servers
        try:
            before = await _revision(a)
            old_key = example_key(BUSINESS)
            new_key = EndpointPrivateKey.generate()
            path = config_dir / "businesses" / f"{BUSINESS}.toml"
            old_url = f"{hosts.url}/{BUSINESS}"
            new_url = hosts.add(f"{BUSINESS}-new", new_key, hosts.secrets[BUSINESS])
            path.write_text(
                path.read_text()
                .replace(b64url(old_key.public.public_key), b64url(new_key.public.public_key))
                .replace(old_url, new_url)
            )
            assert await a.app[CONFIG].reload(lambda fresh: apply_config(a.app, fresh))
            assert await _revision(a) == before + 1
            assert b.app[CONFIG].current.businesses[BUSINESS].facts.endpoint_key.kid == old_key.public.kid, (
                "B never reloaded: its config still names the old key"
            )
            await a.close()  # from here on B is the only consumer of hostgate.inbound
            message = InboundMessage(
                message_id=f"m-{uuid.uuid4().hex}",
                sender="user-stale",
                business_id=BUSINESS,
                key_id=old_key.public.kid,
                sealed=seal(b"sealed to the old key", BUSINESS, old_key.public),
                sent_at=datetime.now(UTC),
            )
            event = CloudEvent(
                id=str(uuid.uuid4()),
                type=INBOUND_MESSAGE,
                subject=BUSINESS,
                time=datetime.now(UTC),
                source="urn:test",
                data=message.model_dump_json().encode(),
            )
            connection = await aio_pika.connect(BROKER_URL)
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(topology.INBOUND.exchange)
            await exchange.publish(amqp_message(event), routing_key=BUSINESS)
            await connection.close()
            receipt = await _receipt_for(message.message_id)
        finally:
            for server in servers:
                await server.close()
    print(
        f"receipt from B: {receipt['status']} at revision {receipt['current_revision']}; old host opened {len(hosts.opened[BUSINESS])}"
    )
    assert receipt["status"] == "disclosure_stale"
    assert receipt["current_revision"] == before + 1
    assert receipt["current_key_id"] == new_key.public.kid
    assert hosts.opened[BUSINESS] == [], "nothing reached the old host"
    assert hosts.opened[f"{BUSINESS}-new"] == [], "nor the new one: it was sealed to another key"
