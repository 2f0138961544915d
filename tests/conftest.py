"""Fixtures shared by every test: the example config, a clean environment, the CLI."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.engines import SUITE_ENGINE, drop_leftover_schemas, drop_schema, new_schema_name, schema_url

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = REPO / "config"


def pytest_report_header() -> str:
    """Say which store engine this run uses."""
    return f"hostgate store engine: {SUITE_ENGINE} (HOSTGATE_TEST_STORE)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Outside the PostgreSQL pass, leave out the tests that bring their own PostgreSQL or use no store.

    They run the same way whatever the suite's engine, so ``make test`` runs them once, in its
    PostgreSQL pass; deselected (and so reported) here, never skipped and counted.
    """
    if SUITE_ENGINE == "postgresql":
        return
    once = ("postgresql_only", "engine_independent")
    elsewhere = [item for item in items if any(item.get_closest_marker(m) for m in once)]
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = [item for item in items if item not in elsewhere]


@pytest.fixture(scope="session", autouse=True)
def _fresh_postgres() -> None:
    """On PostgreSQL, start with no schema left over from an interrupted run."""
    if SUITE_ENGINE == "postgresql":
        drop_leftover_schemas()


@pytest.fixture
def store_schema() -> Iterator[str | None]:
    """On PostgreSQL, a schema of this test's own (dropped after it); None on SQLite."""
    if SUITE_ENGINE != "postgresql":
        yield None
        return
    schema = new_schema_name()
    yield schema
    drop_schema(schema)


@pytest.fixture
def config_dir(tmp_path: Path, store_schema: str | None) -> Path:
    """A private copy of the shipped example config that a test may break (on this run's store engine)."""
    target = tmp_path / "config"
    shutil.copytree(EXAMPLE_CONFIG, target)
    if store_schema is not None:
        with (target / "gateway.toml").open("a", encoding="utf-8") as settings:
            settings.write(f'\n[store]\nurl = "{schema_url(store_schema)}"\n')
    return target


@pytest.fixture
def env() -> dict[str, str]:
    """An environment with nothing set: secrets come only from the config's env_file."""
    return {}


def edit(path: Path, change: Callable[[str], str]) -> None:
    """Rewrite a config file's text in place."""
    before = path.read_text(encoding="utf-8")
    after = change(before)
    assert after != before, f"edit to {path.name} changed nothing"
    path.write_text(after, encoding="utf-8")


def without_rate_limit(config_dir: Path, business: str = "warung-sari") -> None:
    """Raise a business's rate limit so a test exercises the path under load, not its 429s."""
    edit(
        config_dir / "businesses" / f"{business}.toml",
        lambda t: re.sub(
            r"burst = \d+", "burst = 100000", re.sub(r"per_second = \d+", "per_second = 100000", t)
        ),
    )


def quick_reconnects(config_dir: Path, seconds: float = 0.5) -> None:
    """Shorten the broker reconnect interval so a fault test does not wait out the default."""
    edit(
        config_dir / "gateway.toml",
        lambda t: re.sub(
            r"reconnect_interval_seconds = [\d.]+", f"reconnect_interval_seconds = {seconds}", t
        ),
    )


def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``hostgate`` as a user would, in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=60,
        check=False,
        cwd=REPO,
    )


@pytest.fixture(scope="session", autouse=True)
def clean_network_queues() -> Iterator[None]:
    """Purge the network's queues before and after the session, and hostgate's work queues before it."""
    import asyncio  # noqa: PLC0415 -- the session hook alone runs its own loop

    from tests.support import (  # noqa: PLC0415 -- support imports this module
        purge_network_queues,
        purge_work_queues,
    )

    # Work a crashed earlier run left in hostgate's own queues would reach this run's gateways.
    asyncio.run(purge_work_queues())
    asyncio.run(purge_network_queues())
    yield
    asyncio.run(purge_network_queues())
