"""The outbox relay while the broker is away: it waits instead of retrying on every new row."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import structlog

from gateway.audit.pseudonym import Pseudonymizer
from gateway.audit.trail import AuditTrail
from gateway.broker.cloudevents import CloudEvent
from gateway.broker.publisher import Outgoing, Publisher
from gateway.disclosure.keys import KeyRing
from gateway.errors import BrokerError
from gateway.relay.relay import OutboxRelay
from gateway.relay.rows import outbox_row
from tests.audit.trails import writer_for
from tests.engines import SUITE_ENGINE, make_store


class DownBroker:
    """Stands in for the publisher (fast tier): refuses until told the broker is back, then fails once."""

    def __init__(self) -> None:
        self.attempts = 0
        self.up = False
        self.bug_once = True
        self.published: list[str] = []

    async def publish_window(self, items: Sequence[Outgoing]) -> int:
        self.attempts += 1
        if not self.up:
            raise BrokerError("broker not connected")
        if self.bug_once:
            self.bug_once = False
            raise RuntimeError("a bug in the publishing path")
        self.published += [item.event_id for item in items]
        return len(items)


async def test_new_rows_do_not_make_the_relay_spin_while_the_broker_is_down(
    tmp_path: Path, store_schema: str | None
) -> None:
    """100 wake-ups in an outage cost a few attempts and one log line; an unexpected error does not stop it."""
    store = make_store(SUITE_ENGINE, tmp_path, store_schema)
    await store.open()
    ring = KeyRing.open(tmp_path / "keys")
    writer = writer_for(tmp_path / "audit", ring)
    writer.open()
    broker = DownBroker()
    relay = OutboxRelay(
        store,
        cast("Publisher", broker),
        ring,
        AuditTrail(writer, Pseudonymizer(b"k" * 32)),
        idle_poll=0.5,
    )

    async def add(i: int) -> None:
        event = CloudEvent(id=f"e-{i}", type="com.hostgate.test", subject="b", data=b"{}")
        async with store.unit() as tx:
            await tx.outbox.append(outbox_row("b", "hostgate.outbound", "b.test", event))

    with structlog.testing.capture_logs() as logs:
        await relay.start()
        for i in range(100):
            await add(i)
            relay.wake()
            await asyncio.sleep(0.01)
        attempts_while_down = broker.attempts
        broker.up = True
        relay.broker_connected()
        for _ in range(300):  # until the relay has drained and said so
            if any(entry["event"] == "relay.resumed" for entry in logs):
                break
            await asyncio.sleep(0.02)
        await relay.close()
    writer.close()
    await store.aclose()
    waiting = [entry for entry in logs if entry["event"] == "relay.waiting_for_broker"]
    print(f"100 rows during the outage: {attempts_while_down} publish attempts, {len(waiting)} log line(s)")
    assert attempts_while_down <= 4
    assert len(waiting) == 1
    assert broker.published == [f"e-{i}" for i in range(100)], "drained in order once the broker is back"
    assert any(entry["event"] == "relay.resumed" for entry in logs)
    assert [e["log_level"] for e in logs if e["event"] == "relay.unexpected_error"] == ["error"]
