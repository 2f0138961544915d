"""Writing finished deliveries: one alone, or the deliveries that finished together as a group.

A delivery's end (handed to the host, or given up) is prepared outside any unit:
its message row, its receipt's outbox row, its rendered audit record, and from the
decision read before the host call, whether the chat needs a write and whether the
endpoint was marked failing. :func:`group_recorder` writes the deliveries that
finished while the previous group was being written in one unit (a
:class:`~gateway.store.groups.GroupWriter`), with one statement per table for the
new messages among them: the same rows as writing them one by one in the order they
finished (a property test holds it to that). A message the decision read found
recorded already (a redelivery) is merged into its row, as one alone is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.bridge.status import Status, apply_receipt
from gateway.store import Store, Unit
from gateway.store.groups import GroupWriter
from gateway.store.records import FinishedMessage, NewOutboxRow


@dataclass(frozen=True, slots=True)
class Finished:
    """A finished delivery ready to be written: its message, receipt row and audit record."""

    message: FinishedMessage
    known: bool  # the decision read found the message's row: merge into it, do not insert
    open_chat: bool  # the user's chat was not seen lately: open or refresh it
    refresh_seconds: float  # how long the chat may go without a write (see chat_refresh_seconds)
    clears_failing: bool  # delivered to an endpoint marked failing: mark it healthy
    receipt: NewOutboxRow
    audit: bytes


async def record_one(tx: Unit, item: Finished) -> None:
    """Write one finished delivery in ``tx``."""
    await _record_message(tx, item)
    await tx.outbox.append(item.receipt)
    if item.clears_failing:
        await tx.endpoints.record_success(item.message.business_id)
    await tx.audit.stage(item.audit)


async def record_group(tx: Unit, items: Sequence[Finished]) -> list[None]:
    """Write finished deliveries in ``tx`` as :func:`record_one` would, one after another."""
    new: list[FinishedMessage] = []
    to_open: dict[tuple[str, str], None] = {}
    for item in items:
        if item.known:
            await _record_message(tx, item)
            continue
        new.append(item.message)
        if item.open_chat:
            to_open[(item.message.business_id, item.message.user_id)] = None
    if new:
        await tx.messages.insert_many(new)
    for business_id in dict.fromkeys(b for b, _ in to_open):
        await tx.chats.open_many(business_id, [u for b, u in to_open if b == business_id])
    await tx.outbox.append_many([item.receipt for item in items])
    for business_id in dict.fromkeys(i.message.business_id for i in items if i.clears_failing):
        await tx.endpoints.record_success(business_id)
    await tx.audit.stage_many([item.audit for item in items])
    return [None] * len(items)


async def _record_message(tx: Unit, item: Finished) -> None:
    # No processed-event row: the message's own row (keyed by its id) is what makes a
    # redelivery a no-op, read in the decision and merged here.
    message = item.message
    if item.open_chat:
        await tx.chats.open(message.business_id, message.user_id, refresh_after=item.refresh_seconds)
    # A first delivery is written as it ends (two statements); a redelivery merges into what is there.
    if not await tx.messages.insert(
        message.business_id,
        message.message_id,
        user_id=message.user_id,
        direction=message.direction,
        status=message.status,
        revision=message.revision,
        failure=message.failure,
        after_accepted=((message.status, message.reason),),
    ):
        await apply_receipt(
            tx.messages,
            message.business_id,
            message.message_id,
            Status(message.status),
            message.reason,
            direction=message.direction,
        )


def group_recorder(store: Store, written: Callable[[], None]) -> GroupWriter[Finished, None]:
    """Finished deliveries written in groups (:func:`record_group`), each alone on a clash."""
    return GroupWriter(store, record_group, record_one, written, name="inbound-record")
