"""Writing what queued together in one unit: group commit for any kind of item.

A service that writes one small unit per item (a request accepted, a delivery
recorded) hands the item to a :class:`GroupWriter` instead. The writer takes
whatever queued until its unit's turn came and writes it with one call of the
service's group function, one statement per table for all of them; the
service's one-item function is the fallback when a group's statement clashes
with another process (each item alone, so a clash is only its own item's).
Nothing waits for a group to fill: an item that finds no writer waiting starts one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from gateway.errors import StoreError, StoreUnavailable
from gateway.store.port import Store, Unit

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")

# The most items one unit writes; more wait for the next (a unit's statements stay small).
GROUP_LIMIT = 128

# Writes a group in the unit; one outcome per item, in order (an exception instance is that item's error).
GroupFunction = Callable[[Unit, Sequence[Item]], Awaitable[Sequence[Outcome | Exception]]]
OneFunction = Callable[[Unit, Item], Awaitable[Outcome]]


class GroupWriter(Generic[Item, Outcome]):
    """Writes items in groups: a group is what queued until its unit's turn came.

    A writer takes its group only once its unit has begun, so everything that arrived while
    the units before it were written goes in at once. Up to ``in_flight`` writers run: one
    writing, one waiting for its turn (on SQLite it joins the transaction the first one's
    COMMIT will end), and one whose group waits for that COMMIT.
    """

    def __init__(
        self,
        store: Store,
        group: GroupFunction[Item, Outcome],
        one: OneFunction[Item, Outcome],
        written: Callable[[], None],
        *,
        name: str,
        in_flight: int = 3,
    ) -> None:
        self._store = store
        self._group = group
        self._one = one
        self._written = written  # told after each unit (the relay has rows to publish)
        self._name = name
        self._in_flight = in_flight
        self._queue: list[tuple[Item, asyncio.Future[Outcome]]] = []
        self._writers = 0
        self._waiting_writer = False  # a writer whose unit has not begun, so it has no group yet
        self._tasks: set[asyncio.Task[None]] = set()

    async def write(self, item: Item) -> Outcome:
        """Write ``item`` with whatever else is waiting; its outcome once the unit has committed."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._spawn()
        # An item given up while it waits is left out of its group; once in one, it is written
        # with the rest (as a unit already under way is), and only its outcome is dropped.
        return await future

    def _spawn(self) -> None:
        if self._queue and not self._waiting_writer and self._writers < self._in_flight:
            self._writers += 1
            self._waiting_writer = True
            task = asyncio.create_task(self._write_next(), name=self._name)
            self._tasks.add(task)  # held until done: the loop keeps only weak references to tasks
            task.add_done_callback(self._tasks.discard)

    def _take(self) -> list[tuple[Item, asyncio.Future[Outcome]]]:
        self._waiting_writer = False
        group = [(i, f) for i, f in self._queue[:GROUP_LIMIT] if not f.done()]
        del self._queue[:GROUP_LIMIT]
        self._spawn()  # the next writer waits for its turn while this one writes
        return group

    async def _write_next(self) -> None:
        try:
            await self._write_group()
        finally:
            self._writers -= 1
            self._spawn()

    async def _write_group(self) -> None:
        group: list[tuple[Item, asyncio.Future[Outcome]]] | None = None
        try:
            async with self._store.unit() as tx:
                group = self._take()
                outcomes = await self._group(tx, [item for item, _ in group]) if group else []
        except StoreError as exc:
            if group is None or isinstance(exc, StoreUnavailable):
                # No unit could begin (or the store went away): this group and what waits fail alike.
                settle_all(group if group is not None else self._take(), exc)
                return
            # A clash in the group's statements (another process wrote the same key first):
            # each item alone, so one item's clash is only its own.
            for item, future in group:
                await self._write_alone(item, future)
            return
        except BaseException as exc:
            settle_all(group if group is not None else self._take(), exc)
            if not isinstance(exc, Exception):
                raise
            return  # a bug: every item of the group fails with it (and logs it); the next goes on
        self._written()
        for (_, future), outcome in zip(group, outcomes, strict=True):
            settle(future, outcome)

    async def _write_alone(self, item: Item, future: asyncio.Future[Outcome]) -> None:
        try:
            async with self._store.unit() as tx:
                outcome = await self._one(tx, item)
        except BaseException as exc:
            settle(future, exc)
            if not isinstance(exc, Exception):
                raise
            return
        self._written()
        settle(future, outcome)


def settle_all(group: Sequence[tuple[object, asyncio.Future[Outcome]]], exc: BaseException) -> None:
    """Fail every waiter of ``group`` that still waits with ``exc``."""
    for _, future in group:
        settle(future, exc)


def settle(future: asyncio.Future[Outcome], outcome: Outcome | BaseException) -> None:
    """Give a waiter its outcome (an exception instance is its error), unless it gave up."""
    if future.done():
        return
    if isinstance(outcome, asyncio.CancelledError):
        future.cancel()
    elif isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
