"""A store failure reaches an HTTP client as a fixed 503 JSON answer; the detail goes to the log only."""

from __future__ import annotations

import base64
from pathlib import Path

import structlog

from gateway.http.keys import STORE
from tests.bridge.conftest import API_KEYS
from tests.engines import break_store
from tests.support import gateway_client


async def test_store_failure_is_a_503_with_no_detail(config_dir: Path) -> None:
    """With the store broken under it, POST /v1/messages answers 503 store_error with no path or driver text."""
    async with gateway_client(config_dir, "store-errors") as client:
        auth = {"Authorization": f"Bearer {API_KEYS['warung-sari']}"}
        body = {"recipient": "user-1", "payload": base64.b64encode(b"sealed").decode()}
        ok = await client.post("/v1/messages", json=body, headers=auth)
        assert ok.status == 202
        await break_store(client.app[STORE])
        with structlog.testing.capture_logs() as logs:
            response = await client.post("/v1/messages", json=body, headers=auth)
            text = await response.text()
        assert response.status == 503, text
        assert response.headers["Content-Type"].startswith("application/json")
        assert (await response.json())["error"]["code"] == "store_error"
        for leak in (str(config_dir.parent), "sqlite", "hostgate.sqlite3", "closed", "postgresql", "Error"):
            assert leak not in text, f"{leak!r} reached the client: {text}"
        logged = [entry for entry in logs if entry["event"] == "http.unavailable"]
        assert logged, logs
        assert logged[0]["code"] == "store_error"
