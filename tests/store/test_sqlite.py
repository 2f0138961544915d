"""The embedded store: group commit, and the inline read connection the hot path uses."""

from __future__ import annotations

import asyncio
import sqlite3
from functools import partial
from pathlib import Path

import pytest

from gateway.store import messages
from gateway.store.sqlite import SqliteStore, StoreError


async def _open(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "state" / "hostgate.sqlite3")
    await store.open()
    return store


def _insert(db: sqlite3.Connection, message_id: str) -> None:
    messages.insert(db, "warung-sari", message_id, user_id="user-1", direction="inbound", revision=1)


async def test_lookup_sees_every_commit_and_nothing_uncommitted(tmp_path: Path) -> None:
    """A lookup right after ``transact`` returns sees the row; a rolled-back row never shows."""
    store = await _open(tmp_path)
    try:

        def fails(db: sqlite3.Connection) -> None:
            _insert(db, "m-rolled-back")
            raise ValueError("the caller's work failed")

        results = await asyncio.gather(
            *(store.transact(partial(_insert, message_id=f"m-{i}")) for i in range(50)),
            store.transact(fails),
            return_exceptions=True,
        )
        assert isinstance(results[-1], ValueError)
        for i in range(50):
            found = store.lookup(partial(messages.get, business_id="warung-sari", message_id=f"m-{i}"))
            assert found is not None
            assert found.message_id == f"m-{i}"
        assert store.lookup(lambda db: messages.get(db, "warung-sari", "m-rolled-back")) is None
    finally:
        await store.close()


async def test_lookup_is_read_only_and_failures_are_store_errors(tmp_path: Path) -> None:
    """The inline connection refuses writes; its errors reach callers as StoreError naming the file."""
    store = await _open(tmp_path)
    try:
        with pytest.raises(StoreError, match=r"cannot read store .*hostgate\.sqlite3"):
            store.lookup(lambda db: _insert(db, "m-sneaky"))
        assert store.lookup(lambda db: messages.get(db, "warung-sari", "m-sneaky")) is None
    finally:
        await store.close()
    with pytest.raises(StoreError, match="not open"):
        store.lookup(lambda db: None)
