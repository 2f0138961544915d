"""`kill -9` of the gateway at random moments under ingest load and hosting changes, then restart.

Scored like a queue checker: every message a business was answered 202 for
reaches the network, nothing else does, and every disclosure revision is
published once per number (copies of the same event allowed), none skipped.
Requests cut off by a kill are retried with the same Idempotency-Key, as a
careful client would; the gateway must give the same answer if it had
committed them.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import random
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.audit.query import trail_files
from gateway.audit.verify import verify
from gateway.broker.topology import DISCLOSURES, OUTBOUND
from gateway.events import DISCLOSURE_PUBLISHED, OUTBOUND_MESSAGE
from tests.bridge.conftest import API_KEYS
from tests.broker_capture import Captured, capture
from tests.conftest import edit, without_rate_limit
from tests.support import serving, wait_status

pytestmark = [pytest.mark.broker, pytest.mark.reliability]
MESSAGES = 6_000
KILLS = 3
SENDERS = 32


@pytest.fixture
async def captured(request: pytest.FixtureRequest) -> AsyncIterator[Captured]:
    """A durable queue on the outbound and disclosure exchanges, bound before the gateway first starts."""
    async with capture([OUTBOUND.exchange, DISCLOSURES.exchange], request.node.name) as queue:
        yield queue


class Load:
    """Messages to send, each with its own Idempotency-Key; what was answered 202, and with which id."""

    def __init__(self, count: int) -> None:
        businesses = sorted(API_KEYS)
        self.todo = collections.deque(
            (f"crash-{i}", businesses[i % len(businesses)], i) for i in range(count)
        )
        self.accepted: dict[str, str] = {}
        self.answers: collections.Counter[int] = collections.Counter()
        self.cut_off = 0

    async def run(self, base: str, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set or nothing is left; requests cut off go back on the list."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            await asyncio.gather(*(self._sender(session, base, stop) for _ in range(SENDERS)))

    async def _sender(self, session: aiohttp.ClientSession, base: str, stop: asyncio.Event) -> None:
        while not stop.is_set() and self.todo:
            item = self.todo.popleft()
            key, business, i = item
            body = {
                "recipient": f"user-{i % 97}",
                "payload": base64.b64encode(f"sealed {i}".encode()).decode(),
            }
            headers = {"Authorization": f"Bearer {API_KEYS[business]}", "Idempotency-Key": key}
            try:
                async with session.post(f"{base}/v1/messages", json=body, headers=headers) as response:
                    self.answers[response.status] += 1
                    assert response.status == 202, await response.text()
                    message_id = (await response.json())["message_id"]
            except (aiohttp.ClientError, TimeoutError):
                self.cut_off += 1
                self.todo.appendleft(item)  # no answer: the client retries with the same key
                await asyncio.sleep(0.05)
                continue
            earlier = self.accepted.setdefault(key, message_id)
            assert earlier == message_id, f"{key}: answered {earlier} before the crash, {message_id} after"


def _move_nimbus(config_dir: Path, round_no: int) -> None:
    edit(
        config_dir / "businesses" / "nimbus-shop.toml",
        lambda t: t.replace(
            'operator = "Meta"' if round_no == 0 else f'operator = "Cloud {round_no - 1}"',
            f'operator = "Cloud {round_no}"',
        ),
    )


async def _round(config_dir: Path, load: Load, rng: random.Random, round_no: int) -> None:
    """Serve, load, change hosting and SIGHUP, then kill -9 a moment later."""
    with serving(config_dir) as (process, port, _lines):
        stop = asyncio.Event()
        sending = asyncio.create_task(load.run(f"http://127.0.0.1:{port}", stop))
        await asyncio.sleep(rng.uniform(0.3, 1.5))
        _move_nimbus(config_dir, round_no)
        process.send_signal(signal.SIGHUP)
        await asyncio.sleep(rng.uniform(0.0, 0.4))  # may land mid-revision, mid-publish or after
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        stop.set()
        await sending


async def _final_round(config_dir: Path, load: Load) -> subprocess.CompletedProcess[str] | None:
    with serving(config_dir) as (process, port, _lines):
        await load.run(f"http://127.0.0.1:{port}", asyncio.Event())
        deadline = time.monotonic() + 60
        while True:
            body = await asyncio.to_thread(wait_status, port, "/readyz", 200, 30)
            if body["checks"]["outbox"]["rows"] == 0:
                break
            assert time.monotonic() < deadline, f"outbox did not drain: {body}"
            await asyncio.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        process.wait(15)
    return None


async def test_kill_9_under_load_loses_nothing(config_dir: Path, captured: Captured) -> None:
    """3 random kill -9s during ingest and hosting changes: every 202 published, revisions 1..4 once each."""
    for business in API_KEYS:
        without_rate_limit(config_dir, business)
    rng = random.Random(20261129)  # noqa: S311 -- test timing, not security
    load = Load(MESSAGES)
    started = time.monotonic()
    for round_no in range(KILLS):
        await _round(config_dir, load, rng, round_no)
    await _final_round(config_dir, load)
    elapsed = time.monotonic() - started

    messages = await captured.settle(quiet=2.0, within=90)
    published: collections.Counter[str] = collections.Counter()
    revisions: dict[int, set[str]] = collections.defaultdict(set)
    bodies: dict[int, set[bytes]] = collections.defaultdict(set)
    for headers, body in messages:
        kind = headers.get("cloudEvents_type")
        if kind == OUTBOUND_MESSAGE:
            published[json.loads(body)["message_id"]] += 1
        elif kind == DISCLOSURE_PUBLISHED and headers.get("cloudEvents_subject") == "nimbus-shop":
            revision = json.loads(body)["revision"]
            revisions[revision].add(str(headers["cloudEvents_id"]))
            bodies[revision].add(body)

    copies = sum(published.values()) - len(published)
    print(
        f"{MESSAGES} messages, {KILLS} kill -9s in {elapsed:.1f}s: answered {dict(load.answers)}, "
        f"cut off and retried {load.cut_off}, accepted {len(load.accepted)}, published {len(published)} "
        f"distinct (+{copies} at-least-once copies); nimbus-shop revisions {sorted(revisions)}"
    )
    assert not load.todo
    assert len(load.accepted) == MESSAGES
    assert set(published) == set(load.accepted.values()), "every 202 reaches the network, and nothing else"
    assert sorted(revisions) == list(range(1, KILLS + 2)), "no revision skipped"
    assert all(len(ids) == 1 for ids in revisions.values()), f"a revision issued twice: {revisions}"
    assert all(len(b) == 1 for b in bodies.values()), "copies of a revision must be the same bytes"

    report = verify(trail_files([config_dir.parent / "var" / "audit"]), None, {})
    assert report.first is None, report.describe()
