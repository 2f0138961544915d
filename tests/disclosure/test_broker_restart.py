"""Disclosures and notices survive RabbitMQ stopping mid-stream: none lost, order kept, copies dropped."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import apply_config
from gateway.broker.topology import DISCLOSURES, NOTICES
from gateway.client.jwks import keys_from_jwks
from gateway.client.verifier import Accepted, EventVerifier, Rejected
from gateway.disclosure.document import DisclosureDocument, NoticeDocument
from gateway.http.keys import AUDIT, CONFIG, RELAY, STORE
from tests.broker_capture import Captured, capture
from tests.conftest import edit, quick_reconnects
from tests.support import broker_stopping, gateway_client, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.broker_restart, pytest.mark.reliability]

BUSINESSES = ("warung-sari", "nimbus-shop", "kirana-travel")
CHATS_PER_BUSINESS = 200  # each change: 3 disclosures + 600 notices; at least 4 changes: 2,400+ events


@pytest.fixture
async def captured(request: pytest.FixtureRequest) -> AsyncIterator[Captured]:
    """A durable queue bound to the disclosure and notice exchanges before the gateway starts."""
    async with capture([DISCLOSURES.exchange, NOTICES.exchange], request.node.name) as queue:
        yield queue


@pytest.fixture
async def gateway(
    captured: Captured, config_dir: Path, request: pytest.FixtureRequest
) -> AsyncIterator[TestClient[Any, Any]]:
    """The gateway in-process on the example config, reconnecting quickly."""
    quick_reconnects(config_dir)
    async with gateway_client(config_dir, request.node.name) as client:
        yield client


async def _readiness(client: TestClient[Any, Any]) -> tuple[int, dict[str, Any]]:
    response = await client.get("/readyz")
    return response.status, await response.json()


async def _change_all_regions(client: TestClient[Any, Any], config_dir: Path, region: str) -> None:
    for business in BUSINESSES:
        path = config_dir / "businesses" / f"{business}.toml"
        edit(
            path,
            lambda t: "\n".join(
                f'region = "{region}"' if line.startswith("region = ") else line for line in t.splitlines()
            ),
        )
    app = client.app
    assert await app[CONFIG].reload(lambda fresh: apply_config(app, fresh))


async def test_nothing_lost_when_broker_stops_mid_stream(
    gateway: TestClient[Any, Any], captured: Captured, config_dir: Path
) -> None:
    """Thousands of disclosure and notice events produced while the broker stops, and while it is down, all arrive in per-business order."""
    app = gateway.app
    await wait_until(lambda: _drained(gateway), 20, "initial disclosures published")
    store = app[STORE]
    for business in BUSINESSES:
        users = [f"user-{business[:3]}-{i:04d}" for i in range(CHATS_PER_BUSINESS)]
        async with store.unit() as tx:
            await tx.chats.open_many(business, users)

    relay = app[RELAY]
    revisions = 1
    async with broker_stopping() as stopping:
        # Keep producing (a change every 100 ms, each fanning out to every chat) while the
        # broker goes down, so it dies mid-stream...
        while not stopping.done():
            revisions += 1
            await _change_all_regions(gateway, config_dir, f"region-{revisions}")
            await asyncio.sleep(0.1)
        during = relay.published
        # ...and produce twice more while it is down: those can only wait in the outbox.
        for _ in range(2):
            revisions += 1
            await _change_all_regions(gateway, config_dir, f"region-{revisions}")
        status, ready = await _readiness(gateway)
        assert status == 503
        assert ready["checks"]["outbox"]["rows"] > 0
        print(
            f"changes={revisions - 1} published before the broker went down={during}; outbox while down: {ready['checks']['outbox']}"
        )
    await wait_until(lambda: _drained(gateway), 90, "outbox drained after the broker came back")
    messages = await captured.settle(quiet=2.0, within=90)
    print(f"published in all (with retries): {relay.published}")
    assert revisions >= 4

    jwks = await (await gateway.get("/.well-known/jwks.json")).json()
    verifier = EventVerifier(keys_from_jwks(jwks))
    accepted: list[Accepted] = []
    rejected: Counter[str] = Counter()
    for message_headers, message_body in messages:
        verdict = verifier.check(message_headers, message_body)
        if isinstance(verdict, Rejected):
            rejected[verdict.reason] += 1
        else:
            accepted.append(verdict)

    disclosures = [a.document for a in accepted if isinstance(a.document, DisclosureDocument)]
    notices = [a.document for a in accepted if isinstance(a.document, NoticeDocument)]
    expected_notices = {
        (b, revision, f"user-{b[:3]}-{i:04d}")
        for b in BUSINESSES
        for revision in range(2, revisions + 1)
        for i in range(CHATS_PER_BUSINESS)
    }
    print(
        f"received={len(messages)} accepted={len(accepted)} rejected={dict(rejected)} "
        f"disclosures={len(disclosures)} notices={len(notices)} expected={3 * revisions + len(expected_notices)}"
    )
    assert set(rejected) <= {"duplicate"}, rejected
    assert sorted((d.business_id, d.revision) for d in disclosures) == sorted(
        (b, r) for b in BUSINESSES for r in range(1, revisions + 1)
    )
    assert {(n.business_id, n.revision, n.user_id) for n in notices} == expected_notices
    assert len(notices) == len(expected_notices)

    # The audit trail names every notice in its window's notices.published, by pseudonym, never a raw id.
    await asyncio.get_running_loop().run_in_executor(None, app[AUDIT].writer.close)
    trail_text = "".join(
        p.read_text() for p in sorted((config_dir.parent / "var" / "audit").glob("audit-*.jsonl"))
    )
    windows = [r for r in map(json.loads, trail_text.splitlines()) if r["event"] == "notices.published"]
    assert sum(len(r["recipients"]) for r in windows) >= len(expected_notices)
    assert "user-" not in trail_text

    _assert_per_business_order(accepted)


def _assert_per_business_order(accepted: list[Accepted]) -> None:
    """Per business, revisions arrive in order and each notice after its revision's disclosure."""
    arrival: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for a in accepted:
        kind = "disclosure" if isinstance(a.document, DisclosureDocument) else "notice"
        arrival[a.document.business_id].append((kind, a.document.revision))
    for business, sequence in arrival.items():
        seen_revision = 0
        for kind, revision in sequence:
            if kind == "disclosure":
                assert revision == seen_revision + 1, (business, sequence[:5])
                seen_revision = revision
            else:
                assert revision <= seen_revision, f"{business}: notice for {revision} before its disclosure"


async def _drained(client: TestClient[Any, Any]) -> bool:
    status, body = await _readiness(client)
    return status == 200 and body["checks"]["outbox"]["rows"] == 0
