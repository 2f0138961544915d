"""The first run as the README tells it: the gateway with demo hosts, then `hostgate simulate`, as subprocesses."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support import serving

pytestmark = pytest.mark.broker

MESSAGES = 30


async def test_make_run_then_simulate_delivers_everything(config_dir: Path) -> None:
    """`serve --demo --demo-hosts` and `simulate --messages 30`: every message delivered, exit 0, a summary."""
    keys = str(REPO / "examples" / "endpoint-keys")
    with serving(config_dir, extra=("--demo-hosts", keys)) as (process, port, lines):
        simulate = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli.main", "simulate",
            "--gateway", f"http://127.0.0.1:{port}", "--messages", str(MESSAGES), "--timeout", "60",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=REPO,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(simulate.communicate(), 120)
        text = out.decode()
        print(text)
        assert simulate.returncode == 0, text
        await asyncio.sleep(0.5)
        assert process.poll() is None
    rows = {line[:32].strip(): line[32:].split() for line in text.splitlines() if line[:32].strip()}
    assert rows["sent"][-1] == str(MESSAGES)
    assert rows["delivered (opened by the host)"][-1] == str(MESSAGES)
    assert rows["not delivered"][-1] == "0"
    assert "failures:" not in text
    assert f"delivered {MESSAGES}/{MESSAGES}" in text  # plain progress lines: this is not a terminal
    opened = [line for line in lines if line.get("event") == "demo_hosts.opened"]
    assert len({line["message_id"] for line in opened}) == MESSAGES
    assert {line["business"] for line in opened} == {"warung-sari", "nimbus-shop", "kirana-travel"}
    assert not any("simulated message" in str(line) for line in lines), "message content reached a log"
