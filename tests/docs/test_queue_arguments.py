"""The queue arguments the docs state are the ones the broker reports, for every queue hostgate declares."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.broker.cloudevents import CloudEvent
from gateway.broker.retries import STATUS_RETRIES, Delay, RetryScheduler, dead_queue, delay_queue
from gateway.http.keys import BROKER, PUBLISHER
from tests.conftest import REPO
from tests.support import gateway_client, wait_until

pytestmark = pytest.mark.broker

DOCS_BUSINESS = "docs-queue-check"
HOUR_MS = 3_600_000


def _documented() -> list[tuple[re.Pattern[str], dict[str, Any]]]:
    spec = yaml.safe_load((REPO / "docs" / "asyncapi.yaml").read_text())
    table = []
    for entry in spec["x-hostgate-queues"]:
        for name in entry["names"]:
            pattern = re.escape(name).replace(re.escape("<business>"), "(?P<business>[a-z0-9-]+)")
            pattern = pattern.replace(re.escape("<ms>"), "(?P<ms>[0-9]+)")
            table.append((re.compile(f"^{pattern}$"), entry["arguments"]))
    return table


async def _reported() -> dict[str, dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl",
        "-q",
        "list_queues",
        "name",
        "arguments",
        "--formatter",
        "json",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    return {q["name"]: {k: v for k, _type, v in q["arguments"]} for q in json.loads(out)}


def _expected(arguments: dict[str, Any], match: re.Match[str]) -> dict[str, Any]:
    ms = match.groupdict().get("ms")
    return {k: int(ms) if v == "<ms>" and ms else v for k, v in arguments.items()}


async def _delete(*names: str) -> None:
    for name in names:
        process = await asyncio.create_subprocess_exec("rabbitmqctl", "-q", "delete_queue", name)
        await process.wait()


async def test_documented_arguments_match_the_broker(config_dir: Path) -> None:
    """Each hostgate and network queue, retry and dead-delivery queues included, has exactly the documented arguments."""
    documented = _documented()
    async with gateway_client(config_dir, "docs-queues") as client:
        app = client.app
        await wait_until(lambda: _connected(app), 15, "the broker link")
        event = CloudEvent(id="docs-queue-check", type="com.hostgate.test", subject=DOCS_BUSINESS, data=b"{}")
        made = [dead_queue(DOCS_BUSINESS)]
        # Declares each kind of retry delay, parking and dead-delivery queue the way a failing
        # delivery, a failing status webhook and a business at its bulkhead bound do.
        for retries in (
            RetryScheduler(app[PUBLISHER], app[BROKER]),
            RetryScheduler(app[PUBLISHER], app[BROKER], STATUS_RETRIES),
        ):
            await retries.later(event, DOCS_BUSINESS, Delay(3600.0, HOUR_MS), 1)
            made.append(delay_queue(HOUR_MS, retries.route))
            made.append(await retries.park(event, DOCS_BUSINESS))
            await retries.dead(event, DOCS_BUSINESS, "docs check")
        try:
            reported = await _reported()
        finally:
            await _delete(*made)
    ours = {name: args for name, args in reported.items() if name.startswith(("hostgate.", "network."))}
    assert set(made) <= set(ours)
    assert {"hostgate.inbound", "hostgate.dead-letter", "network.outbound"} <= set(ours)
    for name, arguments in sorted(ours.items()):
        matches = [(m, args) for pattern, args in documented if (m := pattern.match(name))]
        assert matches, f"{name} is declared but not documented in docs/asyncapi.yaml x-hostgate-queues"
        match, documented_arguments = matches[0]
        assert arguments == _expected(documented_arguments, match), name


async def _connected(app: Any) -> bool:
    return bool(app[BROKER].status().connected)
