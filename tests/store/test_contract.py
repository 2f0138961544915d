"""The store contract: every engine behind the port passes the same tests."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gateway.errors import StoreConflict, StoreError
from gateway.store import RowKind, Store, Unit
from gateway.store.records import (
    AcceptedMessage,
    DisclosureRow,
    FinishedMessage,
    InboundDecision,
    MessageState,
    NewOutboxRow,
    OutboundDecision,
    StoredResponse,
)
from tests.conftest import REPO
from tests.engines import make_store, schema_url

BUSINESS = "warung-sari"


def _row(n: int, kind: RowKind = RowKind.EVENT, business: str = BUSINESS) -> NewOutboxRow:
    return NewOutboxRow(
        business_id=business,
        kind=kind,
        exchange="hostgate.outbound",
        routing_key=f"{business}.message",
        event_id=f"ev-{n}",
        event_type="com.hostgate.test",
        headers={"cloudEvents_id": f"ev-{n}", "cloudEvents_specversion": "1.0"},
        body=b'{"n":%d}' % n,
    )


def _disclosure(revision: int, business: str = BUSINESS) -> DisclosureRow:
    return DisclosureRow(business, revision, f"fp-{revision}", "hosting", b'{"r":%d}' % revision, "jws", "t")


async def _insert(store: Store, message_id: str) -> bool:
    async with store.unit() as tx:
        return await tx.messages.insert(
            BUSINESS, message_id, user_id="user-1", direction="inbound", status="accepted", revision=1
        )


class TestUnits:
    async def test_commit_on_clean_exit(self, store: Store) -> None:
        """What a unit wrote is visible to a read once the unit has returned."""
        assert await _insert(store, "m-1")
        async with store.read() as tx:
            found = await tx.messages.get(BUSINESS, "m-1", direction="inbound")
        assert found is not None
        assert (found.user_id, found.status, [h[0] for h in found.history]) == (
            "user-1",
            "accepted",
            ["accepted"],
        )

    async def test_rollback_keeps_others(self, store: Store) -> None:
        """A unit that raises leaves nothing behind, its own error comes out, and concurrent units commit."""

        async def fails() -> None:
            async with store.unit() as tx:
                await tx.messages.insert(
                    BUSINESS, "m-bad", user_id="u", direction="inbound", status="accepted", revision=1
                )
                raise ValueError("the caller's work failed")

        results = await asyncio.gather(
            *(_insert(store, f"m-{i}") for i in range(40)), fails(), return_exceptions=True
        )
        assert isinstance(results[-1], ValueError)
        assert results[:-1] == [True] * 40
        async with store.read() as tx:
            assert await tx.messages.get(BUSINESS, "m-bad", direction="inbound") is None
            for i in range(40):
                assert await tx.messages.get(BUSINESS, f"m-{i}", direction="inbound") is not None

    async def test_read_view_refuses_writes(self, store: Store) -> None:
        """Writing through a read view is a StoreError and leaves nothing."""
        with pytest.raises(StoreError):
            async with store.read() as tx:
                await tx.chats.open(BUSINESS, "user-1")
        async with store.read() as tx:
            assert await tx.chats.users_after(BUSINESS, None, 10) == []

    async def test_two_units_racing_for_one_row(self, store: Store) -> None:
        """Two units adding the same revision at once: exactly one wins, the other gets StoreConflict."""

        async def add() -> None:
            async with store.unit() as tx:
                await tx.disclosures.add(_disclosure(1))

        results = await asyncio.gather(add(), add(), return_exceptions=True)
        assert sorted(type(r).__name__ for r in results) == ["NoneType", "StoreConflict"]
        assert any(isinstance(r, StoreConflict) for r in results)

    async def test_closed_store_is_a_store_error(
        self, engine: str, tmp_path: Path, schema: str | None
    ) -> None:
        """A store used before open or after close answers StoreError, not a driver error."""
        store = make_store(engine, tmp_path, schema)
        with pytest.raises(StoreError, match="not open"):
            async with store.unit():
                pass


class TestOutbox:
    async def test_rows_come_back_in_append_order(self, store: Store) -> None:
        """Rows appended by concurrent units are fetched in seq order, with their content intact."""

        async def append(n: int) -> int:
            async with store.unit() as tx:
                return await tx.outbox.append(_row(n))

        seqs = await asyncio.gather(*(append(n) for n in range(30)))
        async with store.read() as tx:
            rows = await tx.outbox.fetch(100)
        assert [r.seq for r in rows] == sorted(seqs)
        by_event = {r.event_id: r for r in rows}
        assert by_event["ev-7"].body == b'{"n":7}'
        assert by_event["ev-7"].headers == {"cloudEvents_id": "ev-7", "cloudEvents_specversion": "1.0"}

    async def test_delete_cursor_and_depth(self, store: Store) -> None:
        """Deleted rows are gone, a fan-out's cursor is kept, depth counts rows and fan-outs."""
        async with store.unit() as tx:
            first = await tx.outbox.append(_row(1))
            fanout = await tx.outbox.append(_row(2, RowKind.FANOUT))
            await tx.outbox.append(_row(3))
        async with store.unit() as tx:
            await tx.outbox.delete([first])
            await tx.outbox.set_cursor(fanout, "user-0042")
        async with store.read() as tx:
            rows = await tx.outbox.fetch(10)
            depth = await tx.outbox.depth()
        assert [(r.kind, r.cursor) for r in rows] == [(RowKind.FANOUT, "user-0042"), (RowKind.EVENT, None)]
        assert (depth.rows, depth.fanouts) == (2, 1)
        assert depth.oldest_age_seconds >= 0

    async def test_expiration_travels_with_the_row(self, store: Store) -> None:
        """A row's per-message expiration comes back as it went in, apart from its headers."""
        row = NewOutboxRow(
            business_id=BUSINESS,
            kind=RowKind.EVENT,
            exchange="x",
            routing_key="k",
            event_id="e",
            event_type="t",
            headers={"cloudEvents_id": "e"},
            body=b"{}",
            expiration_ms=5000,
        )
        async with store.unit() as tx:
            await tx.outbox.append(row)
        async with store.read() as tx:
            (stored,) = await tx.outbox.fetch(1)
        assert (stored.expiration_ms, stored.headers) == (5000, {"cloudEvents_id": "e"})


class TestMessages:
    async def test_insert_is_idempotent(self, store: Store) -> None:
        """The same message id twice: the second insert is refused and changes nothing."""
        assert await _insert(store, "m-1")
        assert not await _insert(store, "m-1")
        async with store.read() as tx:
            found = await tx.messages.get(BUSINESS, "m-1", direction="inbound")
        assert found is not None
        assert len(found.history) == 1

    async def test_state_and_history(self, store: Store) -> None:
        """A new state is stored and every report is appended to the history, in order."""
        await _insert(store, "m-1")
        async with store.unit() as tx:
            await tx.messages.set_state(
                BUSINESS,
                "m-1",
                MessageState("failed", "bounced"),
                direction="inbound",
                reported="failed",
                reason="bounced",
            )
        async with store.unit() as tx:
            await tx.messages.set_state(
                BUSINESS,
                "m-1",
                MessageState("delivered", "bounced"),
                direction="inbound",
                reported="delivered",
                reason=None,
            )
        async with store.read() as tx:
            state = await tx.messages.state(BUSINESS, "m-1", direction="inbound")
            found = await tx.messages.get(BUSINESS, "m-1", direction="inbound")
            other = await tx.messages.get("another-business", "m-1", direction="inbound")
        assert state == MessageState("delivered", "bounced")
        assert found is not None
        assert [(s, r) for s, r, _ in found.history] == [
            ("accepted", None),
            ("failed", "bounced"),
            ("delivered", None),
        ]
        assert other is None

    async def test_ids_are_per_direction(self, store: Store) -> None:
        """An inbound message with an outbound message's id is a message of its own; neither touches the other."""
        async with store.unit() as tx:
            assert await tx.messages.insert(
                BUSINESS, "m-1", user_id="u", direction="outbound", status="accepted", revision=1
            )
            assert await tx.messages.insert(
                BUSINESS, "m-1", user_id="u", direction="inbound", status="accepted", revision=1
            )
            await tx.messages.set_state(
                BUSINESS,
                "m-1",
                MessageState("delivered", None),
                direction="inbound",
                reported="delivered",
                reason=None,
            )
        async with store.read() as tx:
            outbound = await tx.messages.get(BUSINESS, "m-1", direction="outbound")
            inbound = await tx.messages.get(BUSINESS, "m-1", direction="inbound")
        assert outbound is not None
        assert inbound is not None
        assert (outbound.status, len(outbound.history)) == ("accepted", 1)
        assert (inbound.status, len(inbound.history)) == ("delivered", 2)

    async def test_history_begins_accepted_at_creation(self, store: Store) -> None:
        """Every history starts ``accepted`` at ``created_at``; what follows is kept in order, with reasons."""
        async with store.unit() as tx:
            assert await tx.messages.insert(
                BUSINESS,
                "m-failed",
                user_id="u",
                direction="inbound",
                status="failed",
                revision=1,
                failure="host refused",
                after_accepted=(("failed", "host refused"),),
            )
            assert await tx.messages.insert(
                BUSINESS, "m-sent", user_id="u", direction="outbound", status="sent", revision=1
            )
        async with store.read() as tx:
            failed = await tx.messages.get(BUSINESS, "m-failed", direction="inbound")
            sent = await tx.messages.get(BUSINESS, "m-sent", direction="outbound")
        assert failed is not None
        assert sent is not None
        assert [(s, r) for s, r, _ in failed.history] == [("accepted", None), ("failed", "host refused")]
        assert failed.history[0][2] == failed.created_at
        # A status other than accepted, given alone, is the entry after it.
        assert [(s, r) for s, r, _ in sent.history] == [("accepted", None), ("sent", None)]

    async def test_idempotency_records(self, store: Store) -> None:
        """An answer kept under a key is found again for that business only."""
        async with store.unit() as tx:
            await tx.messages.remember_response(BUSINESS, "key-1", StoredResponse("hash", 202, b"{}"))
        async with store.read() as tx:
            assert await tx.messages.idempotent_response(BUSINESS, "key-1") == StoredResponse(
                "hash", 202, b"{}"
            )
            assert await tx.messages.idempotent_response("other", "key-1") is None

    async def test_dedup_is_by_type_and_id(self, store: Store) -> None:
        """An event id is processed once per event type; the same id under another type is new."""
        async with store.unit() as tx:
            assert await tx.processed.first_time("com.hostgate.consent.decision", "ev-1")
            assert not await tx.processed.first_time("com.hostgate.consent.decision", "ev-1")
            assert await tx.processed.first_time("com.hostgate.message.receipt", "ev-1")


class TestDisclosures:
    async def test_latest_and_history(self, store: Store) -> None:
        """The latest revision is the highest; history is newest first; bytes come back exactly."""
        for revision in (1, 2, 3):
            async with store.unit() as tx:
                await tx.disclosures.add(_disclosure(revision))
        async with store.read() as tx:
            latest = await tx.disclosures.latest(BUSINESS)
            history = await tx.disclosures.history(BUSINESS)
            none = await tx.disclosures.latest("nobody")
        assert latest == _disclosure(3)
        assert [r.revision for r in history] == [3, 2, 1]
        assert none is None


class TestDecisions:
    async def test_an_inbound_decision_reads_every_fact_at_once(self, store: Store) -> None:
        """Nothing known, then each fact in turn: revision, message status, endpoint state, chat."""
        async with store.read() as tx:
            empty = await _inbound(tx, BUSINESS, "m-1", "u-1")
        assert empty == InboundDecision(None, None, None, chat_seen=None, failing=False)
        for revision in (1, 2):
            async with store.unit() as tx:
                await tx.disclosures.add(_disclosure(revision))
        await _insert(store, "m-1")
        before = time.time()
        async with store.unit() as tx:
            await tx.disclosures.add(_disclosure(1, business="another-business"))
            await tx.chats.open(BUSINESS, "u-1")
            await tx.endpoints.record_failure(BUSINESS)
        async with store.read() as tx:
            failing = await _inbound(tx, BUSINESS, "m-1", "u-1")
        async with store.unit() as tx:
            await tx.endpoints.disable(BUSINESS, "gone")
        async with store.read() as tx:
            known = await _inbound(tx, BUSINESS, "m-1", "u-1")
            unseen = await _inbound(tx, BUSINESS, "m-2", "u-2")
            other = await _inbound(tx, "another-business", "m-1", "u-1")
            # The same three in one statement, one of them asked twice: the same answers.
            asked = [
                (BUSINESS, "m-1", "u-1"),
                (BUSINESS, "m-2", "u-2"),
                ("another-business", "m-1", "u-1"),
                (BUSINESS, "m-1", "u-1"),
            ]
            together = await tx.decisions.inbound_many(asked)
            nothing = await tx.decisions.inbound_many([])
        assert together == {asked[0]: known, asked[1]: unseen, asked[2]: other}
        assert nothing == {}
        assert (failing.revision, failing.status, failing.disabled, failing.failing) == (
            2,
            "accepted",
            None,
            True,
        )
        assert failing.chat_seen is not None
        assert before <= failing.chat_seen <= time.time()
        assert (known.revision, known.status, known.disabled) == (2, "accepted", "gone")
        assert (unseen.revision, unseen.status, unseen.disabled, unseen.chat_seen) == (2, None, "gone", None)
        assert other == InboundDecision(1, None, None, chat_seen=None, failing=False)
        async with store.unit() as tx:
            await tx.endpoints.record_success(BUSINESS)
        async with store.read() as tx:
            assert not (await _inbound(tx, BUSINESS, "m-1", "u-1")).failing

    async def test_inbound_decisions_for_a_whole_group_in_one_read(self, store: Store) -> None:
        """Forty messages, recorded or not, of two businesses: each answer is that message's own."""
        async with store.unit() as tx:
            await tx.disclosures.add(_disclosure(3))
        for number in range(0, 40, 3):
            await _insert(store, f"m-{number}")
        asked = [(BUSINESS if n % 4 else "nobody", f"m-{n}", f"u-{n % 5}") for n in range(40)]
        async with store.read() as tx:
            together = await tx.decisions.inbound_many(asked)
            alone = {key: await _inbound(tx, *key) for key in asked[:3]}
        assert set(together) == set(asked)
        for (business, message, _), decision in together.items():
            recorded = business == BUSINESS and int(message[2:]) % 3 == 0
            assert decision.status == ("accepted" if recorded else None), message
            assert decision.revision == (3 if business == BUSINESS else None), message
        assert {key: together[key] for key in alone} == alone


async def _inbound(tx: Unit, business_id: str, message_id: str, user_id: str) -> InboundDecision:
    key = (business_id, message_id, user_id)
    return (await tx.decisions.inbound_many([key]))[key]


class TestChatsConsentsEndpoints:
    async def test_chats_page_in_byte_order(self, store: Store) -> None:
        """Users come back in byte order (upper case before lower), page after page, each once."""
        users = ["b", "B", "a", "A", "user-10", "user-9", "Zed", "émile"]
        async with store.unit() as tx:
            assert await tx.chats.open(BUSINESS, "a")
            assert not await tx.chats.open(BUSINESS, "a")
            await tx.chats.open_many(BUSINESS, users)
        seen: list[str] = []
        cursor: str | None = None
        while True:
            async with store.read() as tx:
                page = await tx.chats.users_after(BUSINESS, cursor, 3)
            if not page:
                break
            seen += page
            cursor = page[-1]
        assert seen == sorted(set(users), key=lambda u: u.encode())

    async def test_latest_consent_wins(self, store: Store) -> None:
        """Decisions are ordered by when the user made them, not by when they arrived."""
        async with store.unit() as tx:
            assert await tx.consents.record(BUSINESS, "u1", "block", 100.0)
            assert not await tx.consents.record(BUSINESS, "u1", "allow", 40.0)
            assert (await tx.decisions.outbound(BUSINESS, "u1")).blocked
            assert not (await tx.decisions.outbound("another-business", "u1")).blocked
            assert await tx.consents.record(BUSINESS, "u1", "allow", 101.0)
            assert not (await tx.decisions.outbound(BUSINESS, "u1")).blocked

    async def test_outbound_decision_reads_consent_and_chat(self, store: Store) -> None:
        """One read: no decision and no chat, then the chat's last_seen, then a block beside it."""
        async with store.unit() as tx:
            assert await tx.decisions.outbound(BUSINESS, "u1") == OutboundDecision(
                blocked=False, chat_seen=None
            )
            await tx.chats.open(BUSINESS, "u1")
        async with store.read() as tx:
            seen = (await tx.decisions.outbound(BUSINESS, "u1")).chat_seen
        assert seen is not None
        assert abs(seen - time.time()) < 60
        async with store.unit() as tx:
            await tx.consents.record(BUSINESS, "u1", "block", time.time())
            assert await tx.decisions.outbound(BUSINESS, "u1") == OutboundDecision(
                blocked=True, chat_seen=seen
            )

    async def test_endpoint_health(self, store: Store) -> None:
        """Failing since is the first failure; disable and enable report whether they changed anything."""
        async with store.unit() as tx:
            first = await tx.endpoints.record_failure(BUSINESS)
            again = await tx.endpoints.record_failure(BUSINESS)
            assert again == first
            assert await tx.endpoints.disable(BUSINESS, "gone")
            assert not await tx.endpoints.disable(BUSINESS, "gone again")
            assert await tx.endpoints.disabled_reason(BUSINESS) == "gone"
            assert await tx.endpoints.enable(BUSINESS)
            assert not await tx.endpoints.enable(BUSINESS)
            assert await tx.endpoints.disabled_reason(BUSINESS) is None
            await tx.endpoints.record_success(BUSINESS)


class TestRetentionAndExport:
    async def test_expired_counts_then_deletes(self, store: Store) -> None:
        """Counting changes nothing; deleting removes the message, its history, chats and notices."""
        await _insert(store, "m-old")
        async with store.unit() as tx:
            await tx.messages.set_state(
                BUSINESS,
                "m-old",
                MessageState("delivered", None),
                direction="inbound",
                reported="delivered",
                reason=None,
            )
            await tx.chats.open(BUSINESS, "user-1")
            await tx.notices.record_sent(BUSINESS, 1, "hosting_changed", [("user-1", "n-1")])
            await tx.messages.remember_response(BUSINESS, "k", StoredResponse("h", 202, b"{}"))
        future = 1e12
        async with store.unit() as tx:
            counted = await tx.retention.expired(BUSINESS, future)
            again = await tx.retention.expired(BUSINESS, future)
        assert counted == again
        # One history row: the first entry (accepted) is implied by the message's row.
        assert counted == {
            "message_events": 1,
            "messages": 1,
            "idempotency": 1,
            "notices_sent": 1,
            "chats": 1,
        }
        async with store.unit() as tx:
            assert await tx.retention.delete_expired(BUSINESS, future, 100) == counted
            await tx.retention.forget_processed(future, 100)
        async with store.read() as tx:
            assert await tx.messages.get(BUSINESS, "m-old", direction="inbound") is None
            assert await tx.retention.expired(BUSINESS, future) == dict.fromkeys(counted, 0)

    async def test_deletes_in_batches_without_orphans(self, store: Store) -> None:
        """Batches of at most ``limit`` rows a table; a message goes with its whole history."""
        for n in range(7):
            async with store.unit() as tx:
                await tx.messages.insert(
                    BUSINESS,
                    f"m-{n}",
                    user_id=f"user-{n}",
                    direction="inbound",
                    status="delivered",
                    revision=1,
                    after_accepted=(("delivered", None),),
                )
                await tx.chats.open(BUSINESS, f"user-{n}")
                await tx.notices.record_sent(BUSINESS, 1, "hosting_changed", [(f"user-{n}", f"n-{n}")])
                await tx.processed.first_time("t", f"e-{n}")
        future = 1e12
        batches: list[dict[str, int]] = []
        forgotten: list[int] = []
        while True:
            async with store.unit() as tx:
                counts = await tx.retention.delete_expired(BUSINESS, future, 3)
                forgotten.append(await tx.retention.forget_processed(future, 3))
            if not any(counts.values()):
                break
            batches.append(counts)
            async with store.read() as tx:
                left = await tx.retention.expired(BUSINESS, future)
            # Never a history without its message: the stored event of each message still there.
            assert left["message_events"] == left["messages"], (batches, left)
        print("batches", batches, "processed forgotten", forgotten)
        assert [b["messages"] for b in batches] == [3, 3, 1]
        assert [b["message_events"] for b in batches] == [3, 3, 1]
        assert [b["notices_sent"] for b in batches] == [3, 3, 1]
        assert [b["chats"] for b in batches] == [3, 3, 1]
        assert sum(forgotten) == 7
        assert max(forgotten) == 3

    async def test_export_reads_everything_of_one_user(self, store: Store) -> None:
        """A user's chats, consents, notices and messages, and nothing of another user."""
        await _insert(store, "m-1")
        async with store.unit() as tx:
            await tx.chats.open(BUSINESS, "user-1")
            await tx.chats.open(BUSINESS, "user-2")
            await tx.consents.record(BUSINESS, "user-1", "block", 5.0)
            await tx.notices.record_sent(
                BUSINESS, 2, "hosting_changed", [("user-1", "n-1"), ("user-2", "n-2")]
            )
        async with store.read() as tx:
            data = await tx.export.user_data("user-1")
        assert [c.business_id for c in data.chats] == [BUSINESS]
        assert [(c.decision, c.decided_at) for c in data.consents] == [("block", 5.0)]
        assert [n.notice_id for n in data.notices] == ["n-1"]
        assert [m.message_id for m in data.messages] == ["m-1"]


class TestAuditStaging:
    async def test_staged_records_drain_in_order(self, store: Store) -> None:
        """Staged records come back in staging order and exactly the ones named are forgotten."""
        async with store.unit() as tx:
            for n in range(5):
                await tx.audit.stage(b'{"n":%d}' % n)
        async with store.read() as tx:
            staged = await tx.audit.pending(10)
        assert [s.record for s in staged] == [b'{"n":%d}' % n for n in range(5)]
        async with store.unit() as tx:
            await tx.audit.forget([staged[0].id, staged[2].id, staged[3].id])
        async with store.read() as tx:
            assert [s.record for s in await tx.audit.pending(10)] == [b'{"n":1}', b'{"n":4}']
            assert await tx.audit.count() == 2


_CRASH = """
import asyncio, os, sys
from pathlib import Path
from tests.engines import make_store

async def main() -> None:
    store = make_store({engine!r}, Path({tmp!r}), {schema!r})
    await store.open()
    async with store.unit() as tx:
        await tx.chats.open("b", "committed")
    async with store.unit() as tx:
        await tx.chats.open("b", "never-committed")
        os._exit(0)  # the process dies between the write and the commit

asyncio.run(main())
"""


class TestCrashAndMigrations:
    async def test_crash_between_write_and_commit(
        self, engine: str, tmp_path: Path, schema: str | None
    ) -> None:
        """A process killed inside a unit leaves what it committed before and nothing of that unit."""
        script = textwrap.dedent(_CRASH).format(engine=engine, tmp=str(tmp_path), schema=schema)
        child = await asyncio.create_subprocess_exec(sys.executable, "-c", script, cwd=REPO)
        assert await asyncio.wait_for(child.wait(), 60) == 0
        store = make_store(engine, tmp_path, schema)
        await store.open()
        try:
            async with store.read() as tx:
                assert await tx.chats.users_after("b", None, 10) == ["committed"]
        finally:
            await store.aclose()

    async def test_processes_starting_together_migrate_once(
        self, engine: str, tmp_path: Path, schema: str | None
    ) -> None:
        """Four stores opening the same fresh state at once all come up on one schema."""
        stores = [make_store(engine, tmp_path, schema) for _ in range(4)]
        await asyncio.gather(*(s.open() for s in stores))
        try:
            async with stores[0].unit() as tx:
                await tx.chats.open("b", "u")
            async with stores[3].read() as tx:
                assert await tx.chats.users_after("b", None, 10) == ["u"]
        finally:
            for s in stores:
                await s.aclose()

    async def test_schema_newer_than_the_code(self, engine: str, tmp_path: Path, schema: str | None) -> None:
        """A database migrated by a newer hostgate is refused with an error naming the setting."""
        store = make_store(engine, tmp_path, schema)
        await store.open()
        async with store.unit() as tx:
            await tx.chats.open("b", "u")
        await store.aclose()
        await _pretend_newer(engine, tmp_path, schema)
        with pytest.raises(StoreError, match=r"newer than this hostgate.*\[store\] url"):
            await make_store(engine, tmp_path, schema).open()


async def _pretend_newer(engine: str, tmp_path: Path, schema: str | None) -> None:
    if engine == "sqlite":
        import sqlite3  # noqa: PLC0415 -- the test reaches under the port on purpose

        db = sqlite3.connect(tmp_path / "state" / "hostgate.sqlite3")
        db.execute("PRAGMA user_version=999")
        db.close()
        return
    import asyncpg  # noqa: PLC0415 -- the test reaches under the port on purpose

    assert schema is not None
    conn = await asyncpg.connect(schema_url(schema).split("?")[0], server_settings={"search_path": schema})
    try:
        await conn.execute("INSERT INTO hostgate_schema (version) VALUES (999)")
    finally:
        await conn.close()


class TestLog:
    async def test_appends_are_one_sequence_even_when_units_race(self, store: Store) -> None:
        """Appends from concurrent units get consecutive indexes, none twice, in commit order."""

        async def append(n: int) -> int:
            async with store.unit() as tx:
                return await tx.log.append(f"b{n % 3}", n, f"entry {n}".encode(), bytes([n]) * 32)

        indexes = await asyncio.gather(*(append(n) for n in range(20)))
        assert sorted(indexes) == list(range(20))
        async with store.read() as tx:
            assert await tx.log.size() == 20
            hashes = await tx.log.leaf_hashes(0, 20)
            entries = await tx.log.entries(5, 7)
            where = await tx.log.index_of("b1", 4)
        assert [h[0] for h in hashes] == [indexes.index(i) for i in range(20)]
        assert entries == [f"entry {indexes.index(i)}".encode() for i in (5, 6)]
        assert where == indexes[4]

    async def test_a_rolled_back_append_leaves_no_gap(self, store: Store) -> None:
        """An append in a unit that fails is gone, and the next one takes its index."""

        async def fail_after_append() -> None:
            async with store.unit() as tx:
                await tx.log.append("b", 1, b"x", bytes(32))
                raise RuntimeError

        with pytest.raises(RuntimeError):
            await fail_after_append()
        async with store.unit() as tx:
            assert await tx.log.append("b", 1, b"y", bytes(32)) == 0

    async def test_checkpoints_are_kept_once_per_size(self, store: Store) -> None:
        """A checkpoint of a size already kept is not replaced; the largest is the latest."""
        async with store.unit() as tx:
            assert await tx.log.save_checkpoint(1, "one")
            assert not await tx.log.save_checkpoint(1, "one again")
            assert await tx.log.save_checkpoint(3, "three")
        async with store.read() as tx:
            assert await tx.log.latest_checkpoint() == (3, "three")


class TestLeases:
    async def test_one_holder_until_it_expires(self, store: Store) -> None:
        """A lease held by A is refused to B; A renews it; once it runs out B takes it over."""
        async with store.unit() as tx:
            assert await tx.leases.claim("job", "a", 0.5)
            assert not await tx.leases.claim("job", "b", 0.5)
            assert await tx.leases.claim("job", "a", 0.5), "the holder renews"
            assert await tx.leases.holds("job", "a")
            assert not await tx.leases.holds("job", "b")
        await asyncio.sleep(0.7)
        async with store.unit() as tx:
            assert not await tx.leases.holds("job", "a"), "expired: A may no longer act on it"
            assert await tx.leases.claim("job", "b", 30)
            assert not await tx.leases.claim("job", "a", 30), "A comes back too late"
            assert await tx.leases.live("jo") == {"job": "b"}

    async def test_release_and_live_by_prefix(self, store: Store) -> None:
        """A released lease is free at once; ``live`` lists unexpired leases under a prefix only."""
        async with store.unit() as tx:
            for name, holder in (
                ("outbox:a", "p1"),
                ("outbox:b", "p2"),
                ("outboxes", "p3"),
                ("relay:p1", "p1"),
            ):
                assert await tx.leases.claim(name, holder, 30)
            await tx.leases.release("outbox:a", "p2")  # not p2's: nothing happens
            assert await tx.leases.live("outbox:") == {"outbox:a": "p1", "outbox:b": "p2"}
            await tx.leases.release("outbox:a", "p1")
            assert await tx.leases.claim("outbox:a", "p2", 30)
            assert await tx.leases.live("outbox:") == {"outbox:a": "p2", "outbox:b": "p2"}

    async def test_racing_claims_have_one_winner(
        self, engine: str, tmp_path: Path, schema: str | None
    ) -> None:
        """Two stores on one database (two processes) claim the same lease at once, 20 times: one wins."""
        other = make_store(engine, tmp_path, schema)
        await other.open()
        try:
            stores = [make_store(engine, tmp_path, schema), other]
            await stores[0].open()
            try:
                for round_number in range(20):

                    async def claim(store: Store, holder: str, name: str = f"race-{round_number}") -> bool:
                        async with store.unit() as tx:
                            return await tx.leases.claim(name, holder, 30)

                    won = await asyncio.gather(claim(stores[0], "a"), claim(stores[1], "b"))
                    assert sorted(won) == [False, True]
            finally:
                await stores[0].aclose()
        finally:
            await other.aclose()


class TestSessions:
    async def test_a_session_lives_until_it_expires_or_closes(self, store: Store) -> None:
        """Found by its token's hash while live; gone once expired (purged by the next open) or closed."""
        async with store.unit() as tx:
            await tx.sessions.open("t-short", "key-1", 0.3)
            await tx.sessions.open("t-long", "key-2", 60)
        async with store.read() as tx:
            assert await tx.sessions.key_of("t-short") == "key-1"
            assert await tx.sessions.key_of("nobody") is None
        await asyncio.sleep(0.5)
        async with store.unit() as tx:
            assert await tx.sessions.key_of("t-short") is None
            await tx.sessions.close("t-long")
            assert await tx.sessions.key_of("t-long") is None


class TestGroupWrites:
    """The statements that write a group of accepted requests, or of finished deliveries, at once."""

    async def test_outbound_many_answers_what_outbound_answers(self, store: Store) -> None:
        """Each (business, user) pair gets the decision the single read gives, whatever the group's size."""
        async with store.unit() as tx:
            await tx.consents.record(BUSINESS, "blocked", "block", 100.0)
            await tx.consents.record(BUSINESS, "allowed", "allow", 100.0)
            await tx.chats.open(BUSINESS, "allowed")
            await tx.chats.open("other-shop", "blocked")
        users = ["blocked", "allowed", "stranger"]
        pairs = [(b, u) for b in (BUSINESS, "other-shop") for u in users]
        async with store.read() as tx:
            for size in range(1, len(pairs) + 1):  # 1..6: exact and padded sizes alike
                many = await tx.decisions.outbound_many(pairs[:size])
                assert set(many) == set(pairs[:size])
                for business, user in pairs[:size]:
                    assert many[(business, user)] == await tx.decisions.outbound(business, user)
            assert await tx.decisions.outbound_many([]) == {}
        assert many[(BUSINESS, "blocked")].blocked
        assert not many[("other-shop", "blocked")].blocked
        assert many[("other-shop", "blocked")].chat_seen is not None

    async def test_answers_kept_and_found_by_business_and_key(self, store: Store) -> None:
        """Answers kept in one statement are found per (business, key); the same key elsewhere is another."""
        first, second = StoredResponse("h1", 202, b'{"n":1}'), StoredResponse("h2", 202, b'{"n":2}')
        async with store.unit() as tx:
            await tx.messages.remember_responses([(BUSINESS, "k1", first), ("other-shop", "k1", second)])
        async with store.read() as tx:
            found = await tx.messages.idempotent_responses(
                [(BUSINESS, "k1"), (BUSINESS, "k2"), ("other-shop", "k1"), ("third", "k1"), (BUSINESS, "k1")]
            )
            assert found == {(BUSINESS, "k1"): first, ("other-shop", "k1"): second}
            assert await tx.messages.idempotent_response(BUSINESS, "k1") == first
            assert await tx.messages.idempotent_responses([]) == {}
        with pytest.raises(StoreConflict):
            async with store.unit() as tx:
                await tx.messages.remember_responses([(BUSINESS, "k2", first), (BUSINESS, "k1", second)])
        async with store.read() as tx:  # the clash undid the whole unit, k2 included
            assert await tx.messages.idempotent_responses([(BUSINESS, "k2")]) == {}

    async def test_accept_many_records_accepted_messages(self, store: Store) -> None:
        """Messages accepted together read back as accepted; an id that exists fails the whole unit."""
        messages = [AcceptedMessage(BUSINESS, f"g-{i}", f"user-{i}", "outbound", 3) for i in range(3)]
        async with store.unit() as tx:
            await tx.messages.accept_many(messages)
        async with store.read() as tx:
            for message in messages:
                found = await tx.messages.get(BUSINESS, message.message_id, direction="outbound")
                assert found is not None
                assert (found.user_id, found.status, found.revision) == (message.user_id, "accepted", 3)
                assert [h[0] for h in found.history] == ["accepted"]
        with pytest.raises(StoreConflict):
            async with store.unit() as tx:
                await tx.messages.accept_many(
                    [AcceptedMessage(BUSINESS, "g-new", "u", "outbound", 3), messages[1]]
                )
        async with store.read() as tx:
            assert await tx.messages.get(BUSINESS, "g-new", direction="outbound") is None

    async def test_insert_many_records_finished_messages(self, store: Store) -> None:
        """Messages recorded together read back in their status with their history; an id that exists fails the unit."""
        messages = [
            FinishedMessage(BUSINESS, "f-1", "user-1", "inbound", "delivered", 4),
            FinishedMessage(
                BUSINESS, "f-2", "user-2", "inbound", "failed", 4, "host refused", "host refused"
            ),
        ]
        async with store.unit() as tx:
            await tx.messages.insert_many(messages)
        async with store.read() as tx:
            delivered = await tx.messages.get(BUSINESS, "f-1", direction="inbound")
            failed = await tx.messages.get(BUSINESS, "f-2", direction="inbound")
        assert delivered is not None
        assert failed is not None
        assert (delivered.user_id, delivered.status, delivered.failure, delivered.revision) == (
            "user-1",
            "delivered",
            None,
            4,
        )
        assert [(h[0], h[1]) for h in delivered.history] == [("accepted", None), ("delivered", None)]
        assert (failed.status, failed.failure) == ("failed", "host refused")
        assert [(h[0], h[1]) for h in failed.history] == [("accepted", None), ("failed", "host refused")]
        with pytest.raises(StoreConflict):
            async with store.unit() as tx:
                await tx.messages.insert_many(
                    [FinishedMessage(BUSINESS, "f-new", "u", "inbound", "delivered", 4), messages[0]]
                )
        async with store.read() as tx:
            assert await tx.messages.get(BUSINESS, "f-new", direction="inbound") is None

    async def test_rows_and_records_written_together_keep_their_order(self, store: Store) -> None:
        """Outbox rows and audit records written in one statement come back as appended one by one would."""
        async with store.unit() as tx:
            await tx.outbox.append(_row(0))
            await tx.outbox.append_many([_row(1), _row(2), _row(3)])
            await tx.audit.stage(b'{"n":0}')
            await tx.audit.stage_many([b'{"n":1}', b'{"n":2}'])
        async with store.read() as tx:
            rows = await tx.outbox.fetch(10)
            staged = await tx.audit.pending(10)
        assert [r.event_id for r in rows] == ["ev-0", "ev-1", "ev-2", "ev-3"]
        assert [r.body for r in rows] == [_row(i).body for i in range(4)]
        assert rows[1].headers == _row(1).headers
        assert [s.record for s in staged] == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
