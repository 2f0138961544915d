"""Readiness that sees a stuck broker: probes through each consumed queue.

The fault is real: the quorum queue's Raft member in the running RabbitMQ is
suspended (``sys:suspend``), so the broker still accepts publishes on the channel
but hands nothing to consumers; it is resumed however the test ends.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st

from gateway.adapter_registry import AdapterRegistry
from gateway.app import build_app
from gateway.broker.probe import QueueProbe, is_reply_address
from gateway.config import load_config
from gateway.http.keys import CONSUMERS
from tests.conftest import EXAMPLE_CONFIG, edit
from tests.support import rabbitmqctl, until, wait_until

BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"
STUCK_QUEUE = "hostgate.receipts"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestProbeRule:
    def test_a_probe_goes_out_at_once_then_only_after_its_answer_and_the_interval(self) -> None:
        """One probe outstanding at a time; the next one an interval after the answer."""
        clock = Clock()
        probe = QueueProbe("q", interval=10, deadline=30, clock=clock)
        token = probe.due()
        assert token is not None
        clock.now += 50
        assert probe.due() is None, "a second probe while one is outstanding"
        probe.answered(token)
        assert probe.status().last_round_trip_seconds == 50
        clock.now += 9
        assert probe.due() is None
        clock.now += 1
        assert probe.due() is not None

    def test_stuck_only_when_the_probe_is_late_and_nothing_else_arrived(self) -> None:
        """A late probe on a queue that still delivers other messages (a backlog) is not a stall."""
        clock = Clock()
        probe = QueueProbe("q", interval=10, deadline=30, clock=clock)
        token = probe.due()
        assert token is not None
        clock.now += 29
        assert probe.status().delivering
        clock.now += 2
        assert not probe.status().delivering
        probe.delivered()  # the backlog moves: the probe is behind it
        assert probe.status().delivering
        clock.now += 31
        assert not probe.status().delivering
        probe.answered("someone-else's")
        assert not probe.status().delivering, "an answer to another probe proves nothing"
        probe.answered(token)
        assert probe.status().delivering

    @given(st.lists(st.sampled_from(["tick", "due", "answer", "deliver", "restart"]), max_size=60))
    def test_never_more_than_one_probe_per_interval(self, steps: list[str]) -> None:
        """Whatever happens, probes go out at most once per interval after an answer, one at a time."""
        clock = Clock()
        probe = QueueProbe("q", interval=5, deadline=20, clock=clock)
        outstanding: str | None = None
        answered_at: float | None = None
        for step in steps:
            if step == "tick":
                clock.now += 1
            elif step == "due":
                token = probe.due()
                if token is not None:
                    assert outstanding is None
                    assert answered_at is None or clock.now - answered_at >= 5
                    outstanding = token
            elif step == "answer" and outstanding is not None:
                probe.answered(outstanding)
                outstanding, answered_at = None, clock.now
            elif step == "deliver":
                probe.delivered()
            elif step == "restart":
                probe.restart()
                outstanding, answered_at = None, None

    def test_answers_go_only_to_direct_reply_addresses(self) -> None:
        """A message with the probe header cannot make hostgate publish into a named queue."""
        assert is_reply_address("amq.rabbitmq.reply-to.g1h2AA5yZXBseUAxNDQ.abc==")
        assert not is_reply_address("hostgate.statuses")
        assert not is_reply_address("amq.rabbitmq.reply-to")
        assert not is_reply_address("")


def _quick_probes(config_dir: Path, interval: float, deadline: float) -> None:
    edit(
        config_dir / "gateway.toml",
        lambda t: re.sub(
            r"probe_deadline_seconds = [\d.]+",
            f"probe_deadline_seconds = {deadline}",
            re.sub(r"probe_interval_seconds = [\d.]+", f"probe_interval_seconds = {interval}", t),
        ),
    )


@asynccontextmanager
async def _gateway(config_dir: Path, name: str) -> AsyncIterator[TestClient[Any, Any]]:
    config = load_config(config_dir, {"HOSTGATE_AMQP_URL": BROKER_URL}, AdapterRegistry())
    client: TestClient[Any, Any] = TestClient(
        TestServer(build_app(config, connection_name=name), host="127.0.0.1", port=0)
    )
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def _erl(queue: str, call: str) -> str:
    """An Erlang expression applying ``call`` (suspend or resume) to the queue's Raft member."""
    return (
        f'{{ok, Q}} = rabbit_amqqueue:lookup(rabbit_misc:r(<<"/">>, queue, <<"{queue}">>)),'
        f" {{Name, _}} = amqqueue:get_pid(Q), sys:{call}(whereis(Name))."
    )


@contextmanager
def queue_suspended(queue: str) -> Iterator[None]:
    """Freeze the quorum queue's process in the running broker; resume it however the block ends."""
    rabbitmqctl("eval", _erl(queue, "suspend"))
    try:
        yield
    finally:
        subprocess.run(
            ["rabbitmqctl", "eval", _erl(queue, "resume")], capture_output=True, timeout=60, check=False
        )


async def _readiness(client: TestClient[Any, Any]) -> tuple[int, dict[str, Any]]:
    response = await client.get("/readyz")
    return response.status, await response.json()


@pytest.mark.broker
async def test_readyz_turns_503_while_a_consumed_queue_stops_delivering(config_dir: Path) -> None:
    """A queue that takes publishes but delivers nothing turns /readyz to 503 naming it; it recovers."""
    _quick_probes(config_dir, interval=0.2, deadline=2)
    async with _gateway(config_dir, "test:probe-stuck") as client:

        async def probed() -> bool:
            status, body = await _readiness(client)
            queues = body["checks"]["queues"]
            return status == 200 and all(q["probe_round_trip_seconds"] is not None for q in queues.values())

        await wait_until(probed, 20, "every queue's first probe answered")
        _, body = await _readiness(client)
        assert set(body["checks"]["queues"]) == {
            "hostgate.inbound",
            "hostgate.receipts",
            "hostgate.consents",
            "hostgate.statuses",
        }
        with queue_suspended(STUCK_QUEUE):
            await wait_until(lambda: _unready(client), 15, "503 while the queue is stuck")
            status, body = await _readiness(client)
            print(f"stuck: {body['reason']}")
            assert status == 503
            assert body["status"] == "unready"
            assert body["checks"]["broker"]["ok"] is True, "the connection itself is fine"
            assert body["checks"]["queues"][STUCK_QUEUE]["ok"] is False
            assert STUCK_QUEUE in body["reason"]
            others = {q: v["ok"] for q, v in body["checks"]["queues"].items() if q != STUCK_QUEUE}
            assert all(others.values()), others
            metrics = await (await client.get("/metrics")).text()
            assert f'hostgate_broker_queue_delivering{{queue="{STUCK_QUEUE}"}} 0.0' in metrics
        await wait_until(lambda: _ready(client), 20, "ready again once the queue delivers")


async def _ready(client: TestClient[Any, Any]) -> bool:
    return (await _readiness(client))[0] == 200


async def _unready(client: TestClient[Any, Any]) -> bool:
    return (await _readiness(client))[0] == 503


@pytest.mark.broker
async def test_two_gateways_answer_each_others_probes(config_dir: Path, tmp_path: Path) -> None:
    """With two gateways on the same queues, a probe consumed by the other one still comes back."""
    # The second has state of its own (one audit trail has one writer); they share only the queues.
    other = tmp_path / "second" / "config"
    shutil.copytree(EXAMPLE_CONFIG, other)
    for config in (config_dir, other):
        _quick_probes(config, interval=0.05, deadline=2)
    async with _gateway(config_dir, "test:probe-a") as first, _gateway(other, "test:probe-b") as second:
        apps = [client.app for client in (first, second) if client.app is not None]

        def answers() -> int:
            return sum(c.probes_answered for app in apps for c in app[CONSUMERS])

        await until(lambda: answers() >= 80, "80 probes answered between the two gateways", within=30)
        crossed = sum(c.probes_answered_for_others for app in apps for c in app[CONSUMERS])
        print(f"answered {answers()} probes, {crossed} of them consumed by the other gateway")
        assert crossed > 0, "no probe was consumed by the other gateway: the test proves nothing"
        for client in (first, second):
            status, body = await _readiness(client)
            assert status == 200, body
