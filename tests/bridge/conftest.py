"""A running gateway wired to real business hosts and a simulated network."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.adapter_registry import AdapterRegistry
from gateway.app import apply_config, build_app
from gateway.broker import topology
from gateway.config import load_config
from gateway.config.envfile import read_env_file
from gateway.disclosure.keys import KeyRing
from gateway.http.keys import CONFIG, SIGNING_KEYS
from gateway.sealing import EndpointPrivateKey
from gateway.simulator import NetworkSimulator
from tests.bridge.hosts import Hosts, business_hosts
from tests.conftest import REPO, edit, quick_reconnects
from tests.support import wait_status

BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"
API_KEYS = {
    "warung-sari": "hg_OaJgRLK3o0V2k_HGoBNpsFEVC6Ha_fdaRIb3flcB36Y",
    "nimbus-shop": "hg_CSItYVhGgFLMcXFqg9cS_Q7Qoseb3sLgH6WxuYmzOAM",
    "kirana-travel": "hg_tL_soS9l9iVadcrVVSHsF49rVr-gr08KG3wvZG_8aV8",
}
BUSINESSES = tuple(API_KEYS)


def example_key(business: str) -> EndpointPrivateKey:
    """The demo endpoint key shipped for an example business."""
    return EndpointPrivateKey.from_text(
        (REPO / "examples" / "endpoint-keys" / f"{business}.x25519.key").read_text()
    )


@dataclass
class Bridge:
    """Everything an end-to-end test touches."""

    client: TestClient[Any, Any]
    network: NetworkSimulator
    hosts: Hosts
    config_dir: Path

    def auth(self, business: str) -> dict[str, str]:
        """The Authorization header of a business."""
        return {"Authorization": f"Bearer {API_KEYS[business]}"}

    async def reload(self) -> None:
        """What SIGHUP does."""
        app = self.client.app
        assert await app[CONFIG].reload(lambda fresh: apply_config(app, fresh))


def point_at_hosts(config_dir: Path, hosts: Hosts) -> None:
    """Send each example business's deliveries to a local host holding its key."""
    env = read_env_file(config_dir / "demo.env")
    warung = hosts.add("warung-sari", example_key("warung-sari"), [env["WARUNG_SARI_WEBHOOK_SECRET"]])
    edit(
        config_dir / "businesses" / "warung-sari.toml",
        lambda t: t.replace("http://127.0.0.1:9101/hostgate", warung),
    )
    for business, old in (
        ("nimbus-shop", "http://127.0.0.1:9102/v1/ingest"),
        ("kirana-travel", "http://127.0.0.1:9103/ingest"),
    ):
        url = hosts.add(business, example_key(business))
        path = config_dir / "businesses" / f"{business}.toml"
        path.write_text(path.read_text().replace(old, url))
    for business, variable in (
        ("nimbus-shop", "NIMBUS_SHOP_WEBHOOK_SECRET"),
        ("kirana-travel", "KIRANA_TRAVEL_WEBHOOK_SECRET"),
    ):
        hook = hosts.add(f"{business}-webhook", example_key(business), [env[variable]])
        path = config_dir / "businesses" / f"{business}.toml"
        path.write_text(path.read_text().replace(f"http://127.0.0.1:9101/{business.split('-')[0]}", hook))
    # Retries within the test's patience: 0.2 s, 0.4 s, 0.6 s, then dead-lettered.
    for business in BUSINESSES:
        path = config_dir / "businesses" / f"{business}.toml"
        path.write_text(path.read_text() + "\n[delivery]\nretry_seconds = [0.2, 0.4, 0.6]\njitter = 0.1\n")
    quick_reconnects(config_dir)


@pytest.fixture
async def bridge(config_dir: Path, request: pytest.FixtureRequest) -> AsyncIterator[Bridge]:
    """The gateway on the example config, delivering to local hosts, with the network simulated."""
    connection = await aio_pika.connect(BROKER_URL)
    await topology.declare(await connection.channel())
    await connection.close()
    async with business_hosts() as hosts:
        point_at_hosts(config_dir, hosts)
        config = load_config(config_dir, {}, AdapterRegistry())
        app = build_app(config, connection_name=f"test:{request.node.name}")
        network = NetworkSimulator(
            BROKER_URL, app[SIGNING_KEYS].public_keys(), name=f"test:{request.node.name}:network"
        )
        await network.start()
        client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1", port=0))
        await client.start_server()
        try:
            await network.wait_for_disclosures(set(BUSINESSES))
            yield Bridge(client, network, hosts, config_dir)
        finally:
            await client.close()
            await network.close()


@asynccontextmanager
async def network_for(config_dir: Path, port: int, name: str) -> AsyncIterator[NetworkSimulator]:
    """The simulated network for a `hostgate serve` process on ``port``, once it is ready and bootstrapped."""
    wait_status(port, "/readyz", 200, 15)
    keys = KeyRing.open(config_dir.parent / "var" / "keys").public_keys()
    network = NetworkSimulator(BROKER_URL, keys, name=name)
    await network.start()
    try:
        await network.bootstrap(f"http://127.0.0.1:{port}")
        yield network
    finally:
        await network.close()
