"""`hostgate purge` while the gateway runs: it asks the gateway (operator key) instead of needing it stopped."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
from pathlib import Path

import aiohttp
import pytest

from tests.bridge.conftest import API_KEYS
from tests.conftest import edit, run_cli
from tests.console.conftest import OPERATOR_KEY
from tests.support import serving, trail_text, wait_for_trail

pytestmark = pytest.mark.broker


async def test_purge_asks_the_running_gateway(config_dir: Path) -> None:
    """Offline purge is refused with the way out named; --gateway purges now, audited; wrong keys are refused."""
    edit(
        config_dir / "businesses" / "nimbus-shop.toml",
        lambda t: t.replace("retention_days = 30", "retention_days = 0.000035"),  # about three seconds
    )
    # The sweeper would not run during the test: only the asked-for purge removes anything.
    edit(config_dir / "gateway.toml", lambda t: re.sub(r"sweep_seconds = \d+", "sweep_seconds = 3600", t))
    var = config_dir.parent / "var"
    nimbus = {"Authorization": f"Bearer {API_KEYS['nimbus-shop']}"}
    with serving(config_dir) as (_process, port, _lines):
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{base}/v1/messages",
                json={"recipient": "user-eka", "payload": base64.b64encode(b"sealed").decode()},
                headers=nimbus,
            ) as response:
                assert response.status == 202
                message_id = (await response.json())["message_id"]
            await asyncio.sleep(4)
            offline = await asyncio.to_thread(run_cli, "purge", "--config", str(config_dir))
            assert offline.returncode == 1, offline.stderr
            assert "--gateway URL with HOSTGATE_OPERATOR_KEY" in offline.stderr
            keyless = await asyncio.to_thread(
                run_cli,
                "purge",
                "--gateway",
                base,
                env={k: v for k, v in os.environ.items() if "OPERATOR" not in k},
            )
            assert keyless.returncode == 2
            assert "set HOSTGATE_OPERATOR_KEY" in keyless.stderr
            business_key = await asyncio.to_thread(
                run_cli,
                "purge",
                "--gateway",
                base,
                env={**os.environ, "HOSTGATE_OPERATOR_KEY": API_KEYS["nimbus-shop"]},
            )
            assert business_key.returncode == 1
            assert "401" in business_key.stderr
            assert '"data.purged"' not in trail_text(var), "a refused purge purged"
            asked = await asyncio.to_thread(
                run_cli, "purge", "--gateway", base, env={**os.environ, "HOSTGATE_OPERATOR_KEY": OPERATOR_KEY}
            )
            print(asked.stdout, asked.stderr)
            assert asked.returncode == 0, asked.stderr
            assert re.search(r"nimbus-shop: removed [1-9]\d* rows", asked.stdout), asked.stdout
            async with session.get(f"{base}/v1/messages/{message_id}", headers=nimbus) as gone:
                assert gone.status == 404
        trail = await wait_for_trail(var, '"event":"data.purged"')
        purged = [json.loads(line) for line in trail.splitlines() if '"data.purged"' in line]
        assert [r["business"] for r in purged] == ["nimbus-shop"], purged
