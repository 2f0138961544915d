"""Accepted messages written in groups: the same rows and answers as one by one, on the suite's engine."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.bridge.accepting import (
    Answer,
    Idempotency,
    Prepared,
    SendRequest,
    accept_group,
    accept_one,
    group_accept,
)
from gateway.errors import SendRefused, StoreConflict, StoreError
from gateway.store import RowKind, Store
from gateway.store.records import AcceptedMessage, NewOutboxRow, StoredResponse
from tests.engines import break_store, opened_store, two_stores

BUSINESSES = ("b1", "b2")
USERS = ("u1", "u2", "u3")
KEYS = (None, "k1", "k2")
RETENTION = timedelta(days=30)


@dataclass(frozen=True)
class Ask:
    """One request of a generated group: who sends to whom, under which key, which body."""

    business: str
    user: str
    key: str | None
    body: int  # two bodies, so a reused key may come with the same body or another


@dataclass(frozen=True)
class Before:
    """What the store holds before the group: blocked users, answers kept under keys, chats seen."""

    blocked: frozenset[tuple[str, str]]
    kept: frozenset[tuple[str, str, int]]
    chats: frozenset[tuple[str, str]]


asks = st.builds(
    Ask, st.sampled_from(BUSINESSES), st.sampled_from(USERS), st.sampled_from(KEYS), st.integers(0, 1)
)
pairs = st.tuples(st.sampled_from(BUSINESSES), st.sampled_from(USERS))
befores = st.builds(
    Before,
    st.frozensets(pairs, max_size=3),
    st.frozensets(
        st.tuples(st.sampled_from(BUSINESSES), st.sampled_from(("k1", "k2")), st.integers(0, 1)), max_size=2
    ),
    st.frozensets(pairs, max_size=3),
)


def _prepared(run: int, index: int, ask: Ask) -> Prepared:
    business = f"r{run}-{ask.business}"
    message_id = f"msg-{run}-{index}"
    idempotency = None if ask.key is None else Idempotency(ask.key, f"hash-{ask.body}")
    request = SendRequest(business, ask.user, b"sealed", "application/octet-stream", idempotency, RETENTION)
    row = NewOutboxRow(
        business_id=business,
        kind=RowKind.EVENT,
        exchange="hostgate.outbound",
        routing_key=f"{business}.message",
        event_id=message_id,
        event_type="com.hostgate.message.outbound",
        headers={"cloudEvents_id": message_id},
        body=b'{"to":"%s"}' % ask.user.encode(),
        expiration_ms=1000,
    )
    audit = orjson.dumps({"event": "message.accepted", "message_id": message_id})
    body = orjson.dumps({"message_id": message_id, "status": "accepted"})
    message = AcceptedMessage(business, message_id, ask.user, "outbound", 1)
    return Prepared.of(request, message, row, audit, body)


async def _set_up(store: Store, run: int, before: Before) -> None:
    async with store.unit() as tx:
        for business, user in sorted(before.blocked):
            await tx.consents.record(f"r{run}-{business}", user, "block", 100.0)
        for business, key, body in sorted(before.kept):
            kept = StoredResponse(f"hash-{body}", 202, b'{"kept":"%s"}' % key.encode())
            if await tx.messages.idempotent_response(f"r{run}-{business}", key) is None:
                await tx.messages.remember_response(f"r{run}-{business}", key, kept)
        for business, user in sorted(before.chats):
            await tx.chats.open(f"r{run}-{business}", user)


async def _one_by_one(store: Store, items: list[Prepared]) -> list[Answer | SendRefused]:
    outcomes: list[Answer | SendRefused] = []
    for item in items:
        try:
            async with store.unit() as tx:
                outcomes.append(await accept_one(tx, item))
        except SendRefused as refused:
            outcomes.append(refused)
    return outcomes


async def _state(store: Store, run: int, items: list[Prepared]) -> dict[str, Any]:
    businesses = [f"r{run}-{b}" for b in BUSINESSES]
    async with store.read() as tx:
        messages = [
            None
            if (m := await tx.messages.get(i.message.business_id, i.message.message_id, direction="outbound"))
            is None
            else (m.user_id, m.status, [h[0] for h in m.history])
            for i in items
        ]
        rows = await tx.outbox.fetch(10_000, businesses)
        staged = await tx.audit.pending(10_000)
        answers = await tx.messages.idempotent_responses([(b, k) for b in businesses for k in ("k1", "k2")])
        chats = {b: await tx.chats.users_after(b, None, 100) for b in businesses}
    return {
        "messages": messages,
        "outbox": [(r.business_id, r.event_id, r.headers, r.body, r.expiration_ms) for r in rows],
        "audit": [s.record for s in staged if f'"msg-{run}-'.encode() in s.record],
        "answers": answers,
        "chats": chats,
    }


def _comparable(outcomes: list[Answer | SendRefused]) -> list[object]:
    return [o if isinstance(o, Answer) else type(o).__name__ for o in outcomes]


def test_a_group_writes_what_one_by_one_writes(tmp_path: Path) -> None:
    """Any group (keys repeated, reused with other bodies or kept before, users blocked) answers and writes as one by one."""
    runs = itertools.count()

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(before=befores, group=st.lists(asks, min_size=1, max_size=10))
    def check(before: Before, group: list[Ask]) -> None:
        run = next(runs)
        items = [_prepared(run, i, ask) for i, ask in enumerate(group)]

        async def both() -> None:
            await _set_up(grouped_store, run, before)
            await _set_up(alone_store, run, before)
            async with grouped_store.unit() as tx:
                grouped = await accept_group(tx, items)
            alone = await _one_by_one(alone_store, items)
            assert _comparable(grouped) == _comparable(alone)
            assert await _state(grouped_store, run, items) == await _state(alone_store, run, items)

        loop.run_until_complete(both())

    with two_stores(tmp_path) as (loop, grouped_store, alone_store):
        check()


class _CountingStore:
    """The suite's store, counting the units opened through it (what grouping saves)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.units = 0

    def unit(self) -> Any:
        """A unit of the real store, counted."""
        self.units += 1
        return self.store.unit()


async def test_requests_that_arrive_together_share_a_unit(tmp_path: Path) -> None:
    """Forty concurrent requests are all answered from a few units, and a request given up while queued is not written."""
    async with opened_store(tmp_path, "store") as store:
        counting = _CountingStore(store)
        written: list[int] = []
        groups = group_accept(counting, lambda: written.append(1))  # type: ignore[arg-type] # the counting wrapper stands in for the Store
        items = [_prepared(0, i, Ask("b1", f"u{i % 3}", None, 0)) for i in range(40)]
        tasks = [asyncio.create_task(groups.write(item)) for item in items]
        await asyncio.sleep(0)  # every task has queued its request; the writer has not run yet
        tasks[7].cancel()
        answers = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(answers[7], asyncio.CancelledError)
        assert [a for i, a in enumerate(answers) if i != 7] == [
            it.answer for i, it in enumerate(items) if i != 7
        ]
        print(f"\n40 requests written in {counting.units} unit(s)")
        assert counting.units <= 3
        assert written
        state = await _state(store, 0, items)
        assert state["messages"][7] is None
        assert sum(m is not None for m in state["messages"]) == 39


async def test_a_clash_in_a_group_is_only_its_own_requests(tmp_path: Path) -> None:
    """A group whose statement clashes is written request by request: the clashing one fails, the rest are accepted."""
    async with opened_store(tmp_path, "store") as store:
        items = [_prepared(0, i, Ask("b1", f"u{i % 3}", None, 0)) for i in range(10)]
        async with store.unit() as tx:  # another process wrote message 5's id first
            await tx.messages.accept_many([items[5].message])
        groups = group_accept(store, lambda: None)
        answers = await asyncio.gather(*(groups.write(item) for item in items), return_exceptions=True)
        assert isinstance(answers[5], StoreConflict)
        assert [a for i, a in enumerate(answers) if i != 5] == [
            it.answer for i, it in enumerate(items) if i != 5
        ]
        state = await _state(store, 0, items)
        assert [event_id for _, event_id, *_ in state["outbox"]] == [
            it.message.message_id for i, it in enumerate(items) if i != 5
        ]


async def test_a_store_that_fails_fails_every_waiting_request(tmp_path: Path) -> None:
    """With the store gone, every queued request gets the store's error at once; none is left waiting."""
    async with opened_store(tmp_path, "store") as store:
        groups = group_accept(store, lambda: None)
        await groups.write(_prepared(0, 0, Ask("b1", "u1", None, 0)))  # the store worked
        await break_store(store)
        items = [_prepared(0, i, Ask("b1", "u1", None, 0)) for i in range(1, 8)]
        answers = await asyncio.wait_for(
            asyncio.gather(*(groups.write(item) for item in items), return_exceptions=True), 10
        )
        assert all(isinstance(a, StoreError) for a in answers), answers
