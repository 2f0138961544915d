"""A message's status never goes backwards, whatever order receipts arrive in (property tests on the real store)."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.bridge.status import RANK, Status, apply_receipt, merge
from gateway.store import Store
from gateway.store.records import MessageRecord
from tests.engines import SUITE_ENGINE, drop_schema, make_store, new_schema_name

RECEIPTS = [Status.SENT, Status.DELIVERED, Status.READ, Status.FAILED]


@asynccontextmanager
async def _store() -> AsyncIterator[Store]:
    """A fresh store of this run's engine holding one accepted message."""
    schema = new_schema_name() if SUITE_ENGINE == "postgresql" else None
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(SUITE_ENGINE, Path(tmp), schema)
        await store.open()
        try:
            async with store.unit() as tx:
                await tx.messages.insert(
                    "acme", "m1", user_id="u1", direction="outbound", status="accepted", revision=1
                )
            yield store
        finally:
            await store.aclose()
            if schema is not None:
                drop_schema(schema)


def _apply_all(receipts: list[Status]) -> tuple[list[Status], MessageRecord]:
    async def run() -> tuple[list[Status], MessageRecord]:
        seen = [Status.ACCEPTED]
        async with _store() as store:
            for receipt in receipts:
                async with store.unit() as tx:
                    after = await apply_receipt(
                        tx.messages, "acme", "m1", receipt, "bounced" if receipt is Status.FAILED else None
                    )
                assert after is not None
                seen.append(after)
            async with store.read() as tx:
                record = await tx.messages.get("acme", "m1", direction="outbound")
        assert record is not None
        return seen, record

    return asyncio.run(run())


class TestStatus:
    @settings(max_examples=40, deadline=None)
    @given(st.lists(st.sampled_from(RECEIPTS), max_size=12))
    def test_any_order_gives_the_highest_status(self, receipts: list[Status]) -> None:
        """After any sequence of receipts the status is the highest reported, and it never went down on the way."""
        seen, record = _apply_all(receipts)
        assert all(RANK[b] >= RANK[a] for a, b in itertools.pairwise(seen))
        expected = max([Status.ACCEPTED, *receipts], key=RANK.__getitem__)
        assert record.status == expected
        assert len(record.history) == len(receipts) + 1

    @settings(max_examples=24, deadline=None)
    @given(st.permutations(RECEIPTS))
    def test_failure_is_never_lost(self, receipts: list[Status]) -> None:
        """A failure report is kept (in failure and history) even when a delivery outranks it."""
        _seen, record = _apply_all(receipts)
        assert record.status == Status.READ
        assert record.failure == "bounced"
        assert ("failed", "bounced") in [(s, r) for s, r, _ in record.history]

    def test_late_delivered_after_read_changes_nothing(self) -> None:
        """Delivered after read leaves read."""
        assert merge(Status.READ, Status.DELIVERED) is Status.READ
