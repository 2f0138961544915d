"""Status webhooks are as durable as deliveries: retried on the schedule, dead-lettered, replayable."""

from __future__ import annotations

import asyncio
import base64

import pytest

from tests.bridge.conftest import Bridge
from tests.conftest import run_cli
from tests.support import until

pytestmark = pytest.mark.broker

HOOK = "nimbus-shop-webhook"


async def _sent(bridge: Bridge) -> str:
    response = await bridge.client.post(
        "/v1/messages",
        json={"recipient": "user-status", "payload": base64.b64encode(b"x").decode()},
        headers=bridge.auth("nimbus-shop"),
    )
    assert response.status == 202, await response.text()
    return str((await response.json())["message_id"])


async def test_failed_status_webhook_is_retried_with_one_webhook_id(bridge: Bridge) -> None:
    """A 500 then a 404 from the business's endpoint: the status arrives on the third attempt, same webhook-id."""
    bridge.hosts.status_script[HOOK] = [500, 404]
    message_id = await _sent(bridge)
    await bridge.network.receipt(message_id, "nimbus-shop", "delivered")
    await until(lambda: bridge.hosts.statuses[HOOK], "the status webhook")
    [status] = bridge.hosts.statuses[HOOK]
    assert (status["message_id"], status["status"]) == (message_id, "delivered")
    ids = [webhook_id for webhook_id, _ in bridge.hosts.status_attempts]
    assert [answer for _, answer in bridge.hosts.status_attempts] == [500, 404, 204]
    assert len(set(ids)) == 1, ids


async def test_status_webhook_out_of_attempts_is_dead_lettered_and_replayed(bridge: Bridge) -> None:
    """Failing past the schedule, the status waits in the dead queue; `deliveries replay` sends it."""
    # The bridge's schedule is 3 retries: 4 attempts in all, each refused.
    bridge.hosts.status_script[HOOK] = [503] * 4
    message_id = await _sent(bridge)
    await bridge.network.receipt(message_id, "nimbus-shop", "read")
    await until(lambda: len(bridge.hosts.status_attempts) == 4, "four failed attempts")
    await asyncio.sleep(0.5)
    assert bridge.hosts.statuses[HOOK] == []

    config = str(bridge.config_dir)
    listed = await asyncio.to_thread(
        run_cli, "deliveries", "list", "--business", "nimbus-shop", "--config", config
    )
    assert "1 delivery(ies) dead-lettered" in listed.stdout, listed.stdout + listed.stderr
    assert "4 attempts failed: http 503" in listed.stdout
    replayed = await asyncio.to_thread(
        run_cli, "deliveries", "replay", "--business", "nimbus-shop", "--config", config
    )
    assert "1 delivery(ies) replayed" in replayed.stdout, replayed.stdout + replayed.stderr
    await until(lambda: bridge.hosts.statuses[HOOK], "the replayed status webhook")
    [status] = bridge.hosts.statuses[HOOK]
    assert (status["message_id"], status["status"], status["reported"]) == (message_id, "read", "read")
