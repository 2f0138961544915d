"""Finished deliveries written in groups leave the same rows as written one by one (both engines)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.bridge.recording import Finished, group_recorder, record_one
from gateway.errors import StoreError
from gateway.store import RowKind, Store
from gateway.store.records import FinishedMessage, NewOutboxRow
from tests.engines import break_store, opened_store, two_stores

BUSINESSES = ("b1", "b2")
USERS = ("u1", "u2", "u3")
MESSAGES = ("m1", "m2", "m3", "m4")  # few ids, so a group repeats them and meets rows written before
DAY = 86_400.0


@dataclass(frozen=True)
class End:
    """One finished delivery of a generated group."""

    business: str
    user: str
    message: str
    failed: bool = False
    stale_read: bool = False  # the decision read missed a row another worker wrote since
    chat_seen: bool = False  # the decision read saw the user's chat lately
    failing: bool = False  # the decision read saw the endpoint marked failing


@dataclass(frozen=True)
class Before:
    """What the store holds before the group: messages recorded, chats open, endpoints failing."""

    recorded: frozenset[tuple[str, str, bool]]  # business, message, failed
    chats: frozenset[tuple[str, str]]
    failing: frozenset[str]


ends = st.builds(
    End,
    st.sampled_from(BUSINESSES),
    st.sampled_from(USERS),
    st.sampled_from(MESSAGES),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
befores = st.builds(
    Before,
    st.frozensets(
        st.tuples(st.sampled_from(BUSINESSES), st.sampled_from(MESSAGES), st.booleans()), max_size=3
    ),
    st.frozensets(st.tuples(st.sampled_from(BUSINESSES), st.sampled_from(USERS)), max_size=3),
    st.frozensets(st.sampled_from(BUSINESSES), max_size=2),
)


def _finished(run: int, index: int, end: End, before: Before) -> Finished:
    business = f"r{run}-{end.business}"
    recorded = any(b == end.business and m == end.message for b, m, _ in before.recorded)
    status, reason = ("failed", "host refused: 400") if end.failed else ("delivered", None)
    receipt = NewOutboxRow(
        business_id=business,
        kind=RowKind.EVENT,
        exchange="hostgate.outbound",
        routing_key=f"{business}.receipt",
        event_id=f"rcpt-{run}-{index}",
        event_type="com.hostgate.message.inbound.receipt",
        headers={"cloudEvents_id": f"rcpt-{run}-{index}"},
        body=orjson.dumps({"message_id": end.message, "status": status}),
    )
    return Finished(
        FinishedMessage(
            business, end.message, end.user, "inbound", status, 3, reason, reason if end.failed else None
        ),
        known=recorded and not end.stale_read,
        open_chat=not end.chat_seen,
        refresh_seconds=DAY,
        clears_failing=end.failing and not end.failed,
        receipt=receipt,
        audit=orjson.dumps({"event": "message.delivered", "run": run, "index": index}),
    )


async def _set_up(store: Store, run: int, before: Before) -> None:
    async with store.unit() as tx:
        for business, message, failed in sorted(before.recorded):
            status = "failed" if failed else "delivered"
            await tx.messages.insert(
                f"r{run}-{business}",
                message,
                user_id="u1",
                direction="inbound",
                status=status,
                revision=2,
                failure="earlier" if failed else None,
            )
        for business, user in sorted(before.chats):
            await tx.chats.open(f"r{run}-{business}", user)
        for business in sorted(before.failing):
            await tx.endpoints.record_failure(f"r{run}-{business}")


async def _state(store: Store, run: int) -> dict[str, Any]:
    businesses = [f"r{run}-{b}" for b in BUSINESSES]
    async with store.read() as tx:
        messages = {
            (b, m): None
            if (r := await tx.messages.get(b, m, direction="inbound")) is None
            else (r.user_id, r.status, r.failure, r.revision, [(h[0], h[1]) for h in r.history])
            for b in businesses
            for m in MESSAGES
        }
        rows = await tx.outbox.fetch(10_000, businesses)
        staged = await tx.audit.pending(10_000)
        chats = {b: await tx.chats.users_after(b, None, 100) for b in businesses}
        decisions = await tx.decisions.inbound_many([(b, "none", "u1") for b in businesses])
        failing = {b: decisions[b, "none", "u1"].failing for b in businesses}
    return {
        "messages": messages,
        "outbox": [(r.business_id, r.event_id, r.body) for r in rows],
        "audit": [s.record for s in staged if b'"run":%d,' % run in s.record],
        "chats": chats,
        "failing": failing,
    }


def test_a_group_writes_what_one_by_one_writes(tmp_path: Path) -> None:
    """Any group (ids repeated or recorded before, stale reads, failures, failing endpoints) writes as one by one."""
    runs = itertools.count()

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(before=befores, group=st.lists(ends, min_size=1, max_size=10))
    def check(before: Before, group: list[End]) -> None:
        run = next(runs)
        items = [_finished(run, i, end, before) for i, end in enumerate(group)]

        async def both() -> None:
            await _set_up(grouped_store, run, before)
            await _set_up(alone_store, run, before)
            writer = group_recorder(grouped_store, lambda: None)
            await asyncio.gather(*(writer.write(item) for item in items))
            for item in items:
                async with alone_store.unit() as tx:
                    await record_one(tx, item)
            assert await _state(grouped_store, run) == await _state(alone_store, run)

        loop.run_until_complete(both())

    with two_stores(tmp_path) as (loop, grouped_store, alone_store):
        check()


async def test_deliveries_that_finish_together_share_a_unit(tmp_path: Path) -> None:
    """Forty deliveries finishing at once are written in a few units, each with its row, receipt and record."""
    async with opened_store(tmp_path, "store") as store:
        units = 0
        real_unit = store.unit

        def counted() -> Any:
            nonlocal units
            units += 1
            return real_unit()

        store.unit = counted  # type: ignore[method-assign] # counting the units the writer opens
        before = Before(frozenset(), frozenset(), frozenset())
        items = [_finished(0, i, End("b1", f"u{i % 3}", f"x{i}"), before) for i in range(40)]
        writer = group_recorder(store, lambda: None)
        await asyncio.gather(*(writer.write(item) for item in items))
        print(f"\n40 deliveries written in {units} unit(s)")
        assert units <= 3
        async with store.read() as tx:
            recorded = [await tx.messages.get("r0-b1", f"x{i}", direction="inbound") for i in range(40)]
            rows = await tx.outbox.fetch(100, ["r0-b1"])
        assert all(r is not None and r.status == "delivered" for r in recorded)
        assert [r.event_id for r in rows] == [f"rcpt-0-{i}" for i in range(40)]


async def test_a_store_that_fails_fails_every_waiting_delivery(tmp_path: Path) -> None:
    """With the store gone, every waiting delivery gets the store's error (the consumer retries it); none hangs."""
    async with opened_store(tmp_path, "store") as store:
        writer = group_recorder(store, lambda: None)
        before = Before(frozenset(), frozenset(), frozenset())
        end = End("b1", "u1", "m1")
        await writer.write(_finished(0, 0, end, before))
        await break_store(store)
        items = [_finished(0, i, End("b1", "u1", f"y{i}"), before) for i in range(7)]
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(writer.write(item) for item in items), return_exceptions=True), 10
        )
        assert all(isinstance(o, StoreError) for o in outcomes), outcomes
