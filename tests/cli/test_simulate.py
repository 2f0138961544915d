"""``hostgate simulate`` against a running gateway, delivering to local business hosts."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from tests.bridge.conftest import point_at_hosts
from tests.bridge.hosts import business_hosts
from tests.support import serving, wait_status

pytestmark = pytest.mark.broker


async def test_simulate_delivers_everything(config_dir: Path) -> None:
    """The simulator learns the disclosures over HTTP, sends sealed messages, and every one is delivered and opened."""
    async with business_hosts() as hosts:
        point_at_hosts(config_dir, hosts)
        with serving(config_dir) as (process, port, _):
            wait_status(port, "/readyz", 200, 15)
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "gateway.cli.main",
                "simulate",
                "--gateway",
                f"http://127.0.0.1:{port}",
                "--messages",
                "12",
                "--users",
                "3",
                "--timeout",
                "30",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await proc.communicate()
            process.send_signal(signal.SIGTERM)
            process.wait(15)
    text = out.decode()
    print(text)
    assert proc.returncode == 0, text + err.decode()
    summary = {line[:32].strip(): line[32:].split() for line in text.splitlines() if line[:32].strip()}
    assert summary["delivered (opened by the host)"][-1] == "12"
    assert summary["not delivered"][-1] == "0"
    assert sum(len(v) for v in hosts.opened.values()) == 12
    assert hosts.unopenable == []
