"""GroupReader: the keys asked for in one turn of the loop are read together, each answer its own."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import StoreError
from gateway.store import Store, Unit
from gateway.store.group_reads import GroupReader
from gateway.store.groups import GROUP_LIMIT
from gateway.store.records import InboundDecision
from tests.engines import SUITE_ENGINE, break_store, opened_store

BUSINESS = "nimbus-shop"
Key = tuple[str, str, str]


class Counted:
    """The store's many-keys read, counting its calls and the keys each was given."""

    def __init__(self) -> None:
        self.calls: list[list[Key]] = []

    async def __call__(self, tx: Unit, asked: Sequence[Key]) -> Mapping[Key, InboundDecision]:
        self.calls.append(list(asked))
        return await tx.decisions.inbound_many(asked)


async def _record(store: Store, *message_ids: str) -> None:
    async with store.unit() as tx:
        for message_id in message_ids:
            await tx.messages.insert(
                BUSINESS, message_id, user_id="u-1", direction="inbound", status="delivered", revision=1
            )


async def test_keys_asked_in_one_turn_share_one_read(store: Store) -> None:
    """Forty messages handled together: one read, and each learns its own message's status."""
    await _record(store, *(f"m-{n}" for n in range(0, 40, 2)))
    many = Counted()
    reader: GroupReader[Key, InboundDecision] = GroupReader(store, many, name="test")
    asked = [(BUSINESS, f"m-{n}", "u-1") for n in range(40)]
    answers = await asyncio.gather(*(reader.read(key) for key in [*asked, asked[0]]))
    assert len(many.calls) == 1
    assert sorted(many.calls[0]) == sorted(asked)  # the key asked twice is read once
    assert [a.status for a in answers] == [("delivered" if n % 2 == 0 else None) for n in range(40)] + [
        "delivered"
    ]


async def test_a_read_sees_what_committed_before_it_was_asked(store: Store) -> None:
    """Reads in later turns are reads of their own: a row committed in between is seen."""
    many = Counted()
    reader: GroupReader[Key, InboundDecision] = GroupReader(store, many, name="test")
    before = await reader.read((BUSINESS, "m-1", "u-1"))
    await _record(store, "m-1")
    after = await reader.read((BUSINESS, "m-1", "u-1"))
    assert (before.status, after.status) == (None, "delivered")
    assert len(many.calls) == 2


async def test_more_than_a_group_is_read_in_several(store: Store) -> None:
    """A turn asking more than GROUP_LIMIT keys is read in statements of at most GROUP_LIMIT."""
    many = Counted()
    reader: GroupReader[Key, InboundDecision] = GroupReader(store, many, name="test")
    count = GROUP_LIMIT * 2 + 5
    answers = await asyncio.gather(*(reader.read((BUSINESS, f"m-{n}", "u-1")) for n in range(count)))
    assert sorted(len(call) for call in many.calls) == [5, GROUP_LIMIT, GROUP_LIMIT]
    assert len(answers) == count


async def test_asks_made_while_reads_are_in_flight_go_together(store: Store) -> None:
    """With one read allowed in flight, what is asked meanwhile is one group, read when it ends."""
    release, reading = asyncio.Event(), asyncio.Event()
    calls: list[list[Key]] = []

    async def slow(tx: Unit, asked: Sequence[Key]) -> Mapping[Key, InboundDecision]:
        calls.append(list(asked))
        reading.set()
        if len(calls) == 1:
            await release.wait()
        return await tx.decisions.inbound_many(asked)

    reader: GroupReader[Key, InboundDecision] = GroupReader(store, slow, name="test", in_flight=1)
    first = asyncio.ensure_future(reader.read((BUSINESS, "m-0", "u-1")))
    await reading.wait()
    later = []
    for n in range(1, 6):  # five asks in five turns, all while the first read is in flight
        later.append(asyncio.ensure_future(reader.read((BUSINESS, f"m-{n}", "u-1"))))
        await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, *later)
    assert [sorted(c) for c in calls] == [
        [(BUSINESS, "m-0", "u-1")],
        [(BUSINESS, f"m-{n}", "u-1") for n in range(1, 6)],
    ]


async def test_an_asker_that_gave_up_is_left_out(store: Store) -> None:
    """A read cancelled while it waits is not asked for; the others are answered."""
    many = Counted()
    reader: GroupReader[Key, InboundDecision] = GroupReader(store, many, name="test")
    gone = asyncio.ensure_future(reader.read((BUSINESS, "m-gone", "u-1")))
    kept = asyncio.ensure_future(reader.read((BUSINESS, "m-kept", "u-1")))
    await asyncio.sleep(0)  # both have asked
    gone.cancel()
    assert (await kept).status is None
    assert gone.cancelled()
    assert many.calls == [[(BUSINESS, "m-kept", "u-1")]]


async def test_a_store_that_breaks_fails_every_asker(store: Store) -> None:
    """Every read of a group fails with StoreError (none hangs), and so does the next group."""
    reader: GroupReader[Key, InboundDecision] = GroupReader(store, Counted(), name="test")
    await break_store(store)
    results = await asyncio.wait_for(
        asyncio.gather(
            *(reader.read((BUSINESS, f"m-{n}", "u-1")) for n in range(10)), return_exceptions=True
        ),
        10,
    )
    assert all(isinstance(r, StoreError) for r in results), results
    with pytest.raises(StoreError):
        await asyncio.wait_for(reader.read((BUSINESS, "m-next", "u-1")), 10)


async def test_a_missing_answer_fails_its_group_not_the_next(store: Store) -> None:
    """A many-keys function that leaves a key out fails that group's readers; the next group is read."""
    calls = 0

    async def forgetful(tx: Unit, asked: Sequence[Key]) -> Mapping[Key, InboundDecision]:
        nonlocal calls
        calls += 1
        answers = await tx.decisions.inbound_many(asked)
        return answers if calls > 1 else {}

    reader: GroupReader[Key, InboundDecision] = GroupReader(store, forgetful, name="test")
    first = await asyncio.gather(
        reader.read((BUSINESS, "m-1", "u-1")), reader.read((BUSINESS, "m-2", "u-1")), return_exceptions=True
    )
    assert all(isinstance(r, KeyError) for r in first), first
    assert (await reader.read((BUSINESS, "m-1", "u-1"))).status is None


@settings(max_examples=40, deadline=None)
@given(
    turns=st.lists(
        st.lists(st.tuples(st.sampled_from([BUSINESS, "other"]), st.integers(0, 5)), max_size=12),
        min_size=1,
        max_size=5,
    )
)
def test_any_schedule_of_asks_answers_each_its_own(
    tmp_path_factory: pytest.TempPathFactory, turns: list[list[tuple[str, int]]]
) -> None:
    """Asks spread over turns, keys repeated: each answer as read alone, no more reads than turns.

    On SQLite a read ends in the turn it starts, so each turn that asked is one read; on PostgreSQL
    asks made while reads are in flight may join a later turn's.
    """
    tmp_path = tmp_path_factory.mktemp("reads")

    async def run() -> None:
        async with opened_store(tmp_path, "store") as store:
            await _record(store, "m-0", "m-3")
            many = Counted()
            reader: GroupReader[Key, InboundDecision] = GroupReader(store, many, name="test")
            pending: list[tuple[Key, asyncio.Future[InboundDecision]]] = []
            for turn in turns:
                for business, number in turn:
                    key = (business, f"m-{number}", "u-1")
                    pending.append((key, asyncio.ensure_future(reader.read(key))))
                await asyncio.sleep(0)  # the next turn's asks come in a turn of their own
                await asyncio.sleep(0)
            for key, future in pending:
                alone = (await store_read(store, key)).status
                assert (await future).status == alone, key
            asked_turns = [sorted({(b, f"m-{n}", "u-1") for b, n in turn}) for turn in turns if turn]
            if SUITE_ENGINE == "sqlite":
                assert sorted(sorted(call) for call in many.calls) == sorted(asked_turns)
            assert len(many.calls) <= len(asked_turns)
            assert {key for call in many.calls for key in call} == {k for t in asked_turns for k in t}
            assert all(len(call) == len(set(call)) for call in many.calls)

    asyncio.run(run())


async def store_read(store: Store, key: Key) -> InboundDecision:
    """``key``'s decision read alone."""
    async with store.read() as tx:
        return (await tx.decisions.inbound_many([key]))[key]
