"""``hostgate serve --workers N``: worker processes sharing the port and PostgreSQL, one audit trail."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.bridge.conftest import API_KEYS
from tests.conftest import run_cli, without_rate_limit
from tests.engines import drop_schema, new_schema_name, schema_url
from tests.support import send_carefully, serving, trail_text, until

MESSAGES = 60


def _listening(port: int) -> int:
    """How many sockets listen on ``port`` (SO_REUSEPORT gives each worker its own)."""
    count = 0
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A private PostgreSQL schema, whichever engine the rest of the suite runs on."""
    name = new_schema_name()
    yield name
    drop_schema(name)


def test_more_than_one_worker_on_sqlite_is_refused(config_dir: Path, tmp_path: Path) -> None:
    """On SQLite: exit 1 and a message naming PostgreSQL and the file to change; nothing starts."""
    env = {**os.environ, "HOSTGATE_STORE_URL": f"sqlite://{tmp_path / 'one.sqlite3'}"}
    done = run_cli("serve", "--config", str(config_dir), "--port", "0", "--demo", "--workers", "2", env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "--workers 2 needs PostgreSQL" in done.stderr
    assert str(config_dir / "gateway.toml") in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.postgresql_only
async def test_two_workers_share_the_port_survive_a_kill_and_keep_one_trail(
    config_dir: Path, pg_schema: str
) -> None:
    """Two workers listen on one port; kill -9 of one is healed; every message accepted once, one chain."""
    without_rate_limit(config_dir)
    env = {"HOSTGATE_STORE_URL": schema_url(pg_schema)}
    accepted: set[str] = set()
    with serving(config_dir, env, extra=("--workers", "2")) as (process, port, lines):
        await until(lambda: _listening(port) == 2, "two workers listening on the port")
        workers = [line["pid"] for line in lines if line.get("event") == "gateway.worker_started"]
        assert len(workers) == 2, lines

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            for n in range(MESSAGES // 2):
                accepted.add(
                    await send_carefully(session, f"http://127.0.0.1:{port}", API_KEYS["warung-sari"], n)
                )
            os.kill(workers[0], signal.SIGKILL)
            for n in range(MESSAGES // 2, MESSAGES):
                accepted.add(
                    await send_carefully(session, f"http://127.0.0.1:{port}", API_KEYS["warung-sari"], n)
                )
        await until(
            lambda: len([x for x in lines if x.get("event") == "gateway.worker_started"]) == 3,
            "the killed worker started again",
        )
        await until(lambda: _listening(port) == 2, "two workers listening again")
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    died = [x for x in lines if x.get("event") == "gateway.worker_died"]
    print(f"2 workers: accepted {len(accepted)} of {MESSAGES}, worker deaths seen {len(died)}")
    assert len(accepted) == MESSAGES
    assert [d["pid"] for d in died] == [workers[0]]
    trail = config_dir.parent / "var"
    assert trail_text(trail).count('"message.accepted"') == MESSAGES, (
        "each accepted message once in one chain"
    )
    verified = run_cli("audit", "verify", str(trail / "audit"))
    assert verified.returncode == 0, verified.stdout + verified.stderr
