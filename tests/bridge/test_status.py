"""A message's status never goes backwards, whatever order receipts arrive in (property tests on the real store)."""

from __future__ import annotations

import sqlite3

from hypothesis import given
from hypothesis import strategies as st

from gateway.bridge.status import RANK, Status, merge
from gateway.store import messages
from gateway.store.sqlite import _SCHEMA

RECEIPTS = [Status.SENT, Status.DELIVERED, Status.READ, Status.FAILED]


def _db() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None)
    for script in _SCHEMA:
        db.executescript(script)
    messages.insert(db, "acme", "m1", user_id="u1", direction="outbound", revision=1)
    return db


class TestStatus:
    @given(st.lists(st.sampled_from(RECEIPTS), max_size=12))
    def test_any_order_gives_the_highest_status(self, receipts: list[Status]) -> None:
        """After any sequence of receipts the status is the highest reported, and it never went down on the way."""
        db = _db()
        seen = [Status.ACCEPTED]
        for receipt in receipts:
            after = messages.apply_status(
                db, "acme", "m1", receipt, "bounced" if receipt is Status.FAILED else None
            )
            assert after is not None
            assert RANK[after] >= RANK[seen[-1]]
            seen.append(after)
        expected = max([Status.ACCEPTED, *receipts], key=RANK.__getitem__)
        record = messages.get(db, "acme", "m1")
        assert record is not None
        assert record.status is expected
        assert len(record.history) == len(receipts) + 1

    @given(st.permutations(RECEIPTS))
    def test_failure_is_never_lost(self, receipts: list[Status]) -> None:
        """A failure report is kept (in failure and history) even when a delivery outranks it."""
        db = _db()
        for receipt in receipts:
            messages.apply_status(db, "acme", "m1", receipt, "bounced" if receipt is Status.FAILED else None)
        record = messages.get(db, "acme", "m1")
        assert record is not None
        assert record.status is Status.READ
        assert record.failure == "bounced"
        assert ("failed", "bounced") in [(s, r) for s, r, _ in record.history]

    def test_late_delivered_after_read_changes_nothing(self) -> None:
        """Delivered after read leaves read."""
        assert merge(Status.READ, Status.DELIVERED) is Status.READ
