"""Durable retries: failures on cue from a real local endpoint, one webhook-id throughout, nothing lost."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import pytest

from gateway.broker.topology import DELIVERY_LIMIT
from gateway.disclosure.keys import KeyRing
from gateway.simulator import NetworkSimulator
from tests.bridge.conftest import BROKER_URL, Bridge, network_for, point_at_hosts
from tests.bridge.hosts import business_hosts
from tests.conftest import run_cli
from tests.support import purge_network_queues, serving, until, wait_for_trail

pytestmark = pytest.mark.broker


class TestRetries:
    async def test_5xx_then_success_same_webhook_id(self, bridge: Bridge) -> None:
        """Two 503s, then 204: delivered once, every attempt with the same webhook-id."""
        bridge.hosts.script["warung-sari"] = [(503, {}), (503, {})]
        message_id = await bridge.network.send("user-g", "warung-sari", "retry me")
        await bridge.network.wait_all_delivered(within=20)
        attempts = [wid for _, wid, _ in bridge.hosts.attempts]
        print(f"attempts: {attempts}")
        assert attempts == [message_id] * 3
        assert [m for m, _, _ in bridge.hosts.opened["warung-sari"]] == [message_id]

    async def test_retry_after_is_honoured(self, bridge: Bridge) -> None:
        """429 with Retry-After: 1 → the next attempt comes no sooner than a second later."""
        bridge.hosts.script["warung-sari"] = [(429, {"Retry-After": "1"})]
        await bridge.network.send("user-h", "warung-sari", "slow down")
        await bridge.network.wait_all_delivered(within=20)
        (first, _, status), (second, _, _) = bridge.hosts.attempts[:2]
        assert status == 429
        assert second - first >= 0.8  # 1 s, less the jitter allowed on the schedule step

    async def test_gone_disables_and_replay_delivers(self, bridge: Bridge) -> None:
        """410 disables the endpoint at once (audited), later messages are dead-lettered untried; enable + replay delivers them."""
        await purge_network_queues()  # dead deliveries other tests left behind
        bridge.hosts.script["warung-sari"] = [(410, {})]
        first = await bridge.network.send("user-i", "warung-sari", "are you there?")
        await until(lambda: bridge.network.stats.counts["receipt:rejected"] >= 1, "the rejected receipt")
        second = await bridge.network.send("user-i", "warung-sari", "hello?")
        await until(
            lambda: bridge.network.stats.counts["receipt:rejected"] >= 2, "the second rejected receipt"
        )
        assert len(bridge.hosts.attempts) == 1, "a disabled endpoint is not contacted"
        trail = await wait_for_trail(
            bridge.config_dir.parent / "var", '"event":"delivery.dead_lettered"', count=2
        )
        assert '"event":"endpoint.disabled"' in trail
        assert trail.count('"event":"delivery.dead_lettered"') == 2

        config = str(bridge.config_dir)

        async def cli(*args: str) -> subprocess.CompletedProcess[str]:
            # Off the loop: the gateway under test shares it, and a unit it has open must be able
            # to commit while the CLI waits for the store's write lock.
            return await asyncio.to_thread(run_cli, *args, "--business", "warung-sari", "--config", config)

        # More listings than the queue's delivery limit: looking must not count as a delivery
        # (a take-and-requeue would push the dead letters on to the last-resort queue).
        for _ in range(DELIVERY_LIMIT + 1):
            listed = await cli("deliveries", "list")
            assert listed.returncode == 0, listed.stderr
            assert "2 delivery(ies) dead-lettered" in listed.stdout, listed.stdout
        enabled = await cli("deliveries", "enable")
        assert enabled.returncode == 0, enabled.stderr
        replayed = await cli("deliveries", "replay")
        assert "2 delivery(ies) replayed" in replayed.stdout, replayed.stdout + replayed.stderr
        await until(lambda: len(bridge.hosts.opened["warung-sari"]) == 2, "the replayed deliveries")
        assert sorted(m for m, _, _ in bridge.hosts.opened["warung-sari"]) == sorted([first, second])


class TestCrash:
    async def test_kill_9_with_a_retry_pending(self, config_dir: Path) -> None:
        """Kill -9 while a delivery waits for its retry: after a restart it is made, once, with the same webhook-id."""
        async with business_hosts() as hosts:
            point_at_hosts(config_dir, hosts)
            path = config_dir / "businesses" / "warung-sari.toml"
            path.write_text(
                path.read_text().replace("retry_seconds = [0.2, 0.4, 0.6]", "retry_seconds = [2, 0.4]")
            )
            hosts.script["warung-sari"] = [(503, {})]
            with serving(config_dir) as (process, port, _):
                async with network_for(config_dir, port, "test:kill9:network") as network:
                    message_id = await network.send("user-k", "warung-sari", "survive a crash")
                    await until(lambda: len(hosts.attempts) == 1, "the first, failing attempt")
                    process.send_signal(signal.SIGKILL)
                    process.wait(10)
            keys = KeyRing.open(config_dir.parent / "var" / "keys").public_keys()
            await asyncio.sleep(2.5)  # the retry's delay passes while the gateway is down
            network = NetworkSimulator(BROKER_URL, keys, name="test:kill9:network2")
            await network.start()
            try:
                with serving(config_dir) as (process, port, _):
                    await until(
                        lambda: len(hosts.opened["warung-sari"]) == 1, "the delivery after restart", 30
                    )
                    await asyncio.sleep(0.5)
                    process.send_signal(signal.SIGTERM)
                    process.wait(15)
            finally:
                await network.close()
        print(f"attempts: {[(wid, status) for _, wid, status in hosts.attempts]}")
        assert [wid for _, wid, _ in hosts.attempts] == [message_id, message_id]
        assert [m for m, _, _ in hosts.opened["warung-sari"]] == [message_id]


class TestSlowAndFailingEndpoints:
    async def test_timeout_is_retried(self, bridge: Bridge) -> None:
        """An endpoint that does not answer within the business's timeout is retried, then delivered."""
        path = bridge.config_dir / "businesses" / "warung-sari.toml"
        path.write_text(path.read_text().replace("jitter = 0.1\n", "jitter = 0.1\ntimeout_seconds = 0.5\n"))
        await bridge.reload()
        bridge.hosts.script["warung-sari"] = [(-2, {})]
        message_id = await bridge.network.send("user-t", "warung-sari", "are you slow?")
        await bridge.network.wait_all_delivered(within=20)
        assert [wid for _, wid, _ in bridge.hosts.attempts] == [message_id, message_id]

    async def test_failing_too_long_disables(self, bridge: Bridge) -> None:
        """An endpoint failing for longer than disable_after_hours is disabled and the delivery dead-lettered."""
        path = bridge.config_dir / "businesses" / "warung-sari.toml"
        text = path.read_text().replace("retry_seconds = [0.2, 0.4, 0.6]", "retry_seconds = [0.6, 0.6, 0.6]")
        path.write_text(text.replace("jitter = 0.1\n", "jitter = 0.1\ndisable_after_hours = 0.0002\n"))
        await bridge.reload()
        bridge.hosts.script["warung-sari"] = [(500, {})] * 5
        await bridge.network.send("user-u", "warung-sari", "anyone?")
        await until(
            lambda: bridge.network.stats.counts["receipt:rejected"] >= 1, "the endpoint to be given up on"
        )
        trail = await wait_for_trail(bridge.config_dir.parent / "var", '"event":"endpoint.disabled"')
        assert '"event":"endpoint.disabled"' in trail
        assert "failing for more than" in trail


class TestSchedule:
    def test_jitter_does_not_multiply_delay_queues(self) -> None:
        """However the jitter falls, one schedule step maps to one delay queue; Retry-After picks a step."""
        import random  # noqa: PLC0415 -- only here
        from datetime import timedelta  # noqa: PLC0415 -- only here

        from gateway.broker.retries import next_delay  # noqa: PLC0415 -- only here

        rng = random.Random(1)  # noqa: S311 -- a reproducible test, not a secret
        schedule: list[float] = [0, 5, 300, 1800]
        delays = [next_delay(schedule, 2, 0.2, None, rng) for _ in range(200)]
        assert {d.queue_ms for d in delays if d} == {6000}
        assert all(4.0 <= d.seconds <= 6.0 and d.message_ms <= d.queue_ms for d in delays if d)
        after = next_delay(schedule, 2, 0.2, timedelta(seconds=60), rng)
        assert after is not None
        assert after.queue_ms == 360_000  # the 5-minute step, not a queue for "60 s"
        assert next_delay(schedule, 5, 0.2, None, rng) is None
