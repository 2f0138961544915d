"""Liveness and readiness, against the real RabbitMQ and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.adapter_registry import AdapterRegistry
from gateway.app import build_app
from gateway.config import load_config
from tests.conftest import quick_reconnects
from tests.rights.test_rights import NETWORK_TOKEN
from tests.support import broker_stopped, closed_port, ready, wait_until

BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"


async def _client(config_dir: Path, amqp_url: str, name: str) -> TestClient[Any, Any]:
    quick_reconnects(config_dir)
    config = load_config(config_dir, {"HOSTGATE_AMQP_URL": amqp_url}, AdapterRegistry())
    client: TestClient[Any, Any] = TestClient(
        TestServer(build_app(config, connection_name=name), host="127.0.0.1", port=0)
    )
    await client.start_server()
    return client


@pytest.fixture
async def gateway_client(
    config_dir: Path, request: pytest.FixtureRequest
) -> AsyncIterator[TestClient[Any, Any]]:
    """The gateway on the example config, connected to the real broker."""
    client = await _client(config_dir, BROKER_URL, f"test:{request.node.name}")
    yield client
    await client.close()


async def _unready(client: TestClient[Any, Any]) -> bool:
    return (await client.get("/readyz")).status == 503


class TestHealth:
    async def test_healthz(self, gateway_client: TestClient[Any, Any]) -> None:
        """/healthz answers 200 while the process serves."""
        response = await gateway_client.get("/healthz")
        assert response.status == 200
        assert await response.json() == {"status": "ok"}

    @pytest.mark.broker
    async def test_ready_when_broker_runs(self, gateway_client: TestClient[Any, Any]) -> None:
        """/readyz answers 200 once the broker connection is up."""
        await wait_until(lambda: ready(gateway_client), 15, "readiness")
        body = await (await gateway_client.get("/readyz")).json()
        assert body["checks"]["broker"]["ok"] is True
        assert body["checks"]["config"]["businesses"] == 3

    async def test_unready_when_broker_unreachable(self, config_dir: Path) -> None:
        """/readyz answers 503 naming the broker when nothing listens there, and the gateway still serves."""
        with closed_port() as port:
            client = await _client(config_dir, f"amqp://guest:secretpw@127.0.0.1:{port}/", "test:unreachable")
            try:
                await wait_until(lambda: _unready(client), 5, "unready")
                response = await client.get("/readyz")
                body = await response.json()
                assert body["status"] == "unready"
                assert body["reason"] == "broker unreachable"
                assert "127.0.0.1" not in await response.text(), "anonymous callers get no broker detail"
                detailed = await client.get("/readyz", headers={"Authorization": f"Bearer {NETWORK_TOKEN}"})
                assert (
                    f"broker amqp://guest@127.0.0.1:{port}/ unreachable" in (await detailed.json())["reason"]
                )
                assert "secretpw" not in await detailed.text()
                assert (await client.get("/healthz")).status == 200
            finally:
                await client.close()


@pytest.mark.broker
@pytest.mark.broker_restart
class TestBrokerRestart:
    async def test_readiness_follows_the_broker(self, gateway_client: TestClient[Any, Any]) -> None:
        """Stopping RabbitMQ turns /readyz to 503 naming the broker; starting it turns it back to 200."""
        await wait_until(lambda: ready(gateway_client), 15, "readiness before the stop")
        with broker_stopped():
            await wait_until(lambda: _unready(gateway_client), 15, "503 while the broker is stopped")
            auth = {"Authorization": f"Bearer {NETWORK_TOKEN}"}
            body = await (await gateway_client.get("/readyz", headers=auth)).json()
            assert "broker amqp://guest@127.0.0.1:5672/" in body["reason"]
            assert (await gateway_client.get("/healthz")).status == 200
        await wait_until(lambda: ready(gateway_client), 30, "readiness after the broker restarted")
