"""Staged audit records survive a crash of the gateway: every 202 has its record in the trail, once."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import without_rate_limit
from tests.support import serving, trail_text, wait_for_trail, wait_status

pytestmark = [pytest.mark.broker, pytest.mark.reliability]
WARUNG_KEY = "hg_OaJgRLK3o0V2k_HGoBNpsFEVC6Ha_fdaRIb3flcB36Y"


async def test_kill_9_after_accepting_keeps_every_record(config_dir: Path) -> None:
    """300 messages accepted, then kill -9: after a restart the trail holds one message.accepted per 202."""
    without_rate_limit(config_dir)
    accepted: list[str] = []
    with serving(config_dir) as (process, port, _):
        wait_status(port, "/readyz", 200, 15)
        headers = {"Authorization": f"Bearer {WARUNG_KEY}"}
        async with aiohttp.ClientSession() as session:

            async def send(i: int) -> None:
                body = {"recipient": f"user-{i}", "payload": base64.b64encode(b"sealed").decode()}
                async with session.post(
                    f"http://127.0.0.1:{port}/v1/messages", json=body, headers=headers
                ) as response:
                    if response.status == 202:
                        accepted.append((await response.json())["message_id"])

            await asyncio.gather(*(send(i) for i in range(300)))
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    var = config_dir.parent / "var"
    before = trail_text(var).count('"event":"message.accepted"')
    with serving(config_dir) as (process, port, _):
        trail = await wait_for_trail(var, '"event":"message.accepted"', within=20, count=len(accepted))
        process.send_signal(signal.SIGTERM)
        process.wait(15)
    records = [json.loads(line) for line in trail.splitlines() if '"event":"message.accepted"' in line]
    ids = [r["message_id"] for r in records]
    print(f"accepted={len(accepted)} in trail before restart={before} after={len(ids)}")
    assert len(accepted) == 300
    assert sorted(ids) == sorted(accepted), "each 202 has exactly one record"
