"""Writing accepted messages: one request alone, or the requests that arrived together as a group.

A request is prepared outside any unit (its event, outbox row and audit record
built, its disclosure revision read); what is left needs the store: the answer
kept under its Idempotency-Key, whether the user blocked the business, the rows.
:func:`group_accept` writes the requests that queued while the previous group was
being written in one unit (a :class:`~gateway.store.groups.GroupWriter`), with one
statement per table for all of them: the same rows and answers as writing them one
by one in arrival order (a property test holds it to that), for a fraction of the
statements — on PostgreSQL, of the round trips. Nothing waits for a group to fill:
a request that finds no group being written starts one at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from gateway.bridge.status import chat_needs_write, chat_refresh_seconds
from gateway.errors import IdempotencyKeyReused, RecipientBlocked, SendRefused
from gateway.store import Store, Unit
from gateway.store.groups import GroupWriter
from gateway.store.records import AcceptedMessage, NewOutboxRow, StoredResponse

ACCEPTED = 202


@dataclass(frozen=True, slots=True)
class Idempotency:
    """A request's ``Idempotency-Key`` and what the key is bound to: the hash of the exact body."""

    key: str
    request_hash: str


@dataclass(frozen=True, slots=True)
class SendRequest:
    """A validated ``POST /v1/messages`` from one business."""

    business_id: str
    recipient: str
    payload: bytes
    content_type: str
    idempotency: Idempotency | None
    retention: timedelta
    # The request's span, carried to the network as the CloudEvents ``traceparent`` extension.
    traceparent: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """The HTTP status and JSON body to return (the same again for a repeated idempotency key)."""

    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request ready to be written: its message, outbox row, audit record and 202 answer."""

    message: AcceptedMessage
    idempotency: Idempotency | None
    refresh_seconds: float  # how long the user's chat may go without a write (see chat_refresh_seconds)
    row: NewOutboxRow
    audit: bytes
    answer: Answer

    @classmethod
    def of(
        cls, request: SendRequest, message: AcceptedMessage, row: NewOutboxRow, audit: bytes, body: bytes
    ) -> Prepared:
        """Bundle what a request writes."""
        refresh = chat_refresh_seconds(request.retention.total_seconds())
        return cls(message, request.idempotency, refresh, row, audit, Answer(ACCEPTED, body))


async def accept_one(tx: Unit, item: Prepared) -> Answer:
    """Write one request in ``tx``; raise SendRefused when it may not be sent."""
    message, idempotency = item.message, item.idempotency
    if idempotency is not None:
        earlier = await tx.messages.idempotent_response(message.business_id, idempotency.key)
        if earlier is not None:
            return _replay(earlier, idempotency)
    # One read for the consent and the chat: a statement less per request.
    decision = await tx.decisions.outbound(message.business_id, message.user_id)
    if decision.blocked:
        raise RecipientBlocked
    await tx.messages.accept_many([message])
    # A chat seen lately is not touched: a user's burst of messages does not rewrite its row.
    if chat_needs_write(decision.chat_seen, item.refresh_seconds, time.time()):
        await tx.chats.open(message.business_id, message.user_id)
    await tx.outbox.append(item.row)
    await tx.audit.stage(item.audit)
    if idempotency is not None:
        await tx.messages.remember_response(message.business_id, idempotency.key, _kept(item))
    return item.answer


async def accept_group(tx: Unit, items: Sequence[Prepared]) -> list[Answer | SendRefused]:
    """Write requests in ``tx`` as :func:`accept_one` would, one after another; each answer or refusal."""
    keyed = [(i.message.business_id, i.idempotency.key) for i in items if i.idempotency is not None]
    # Answers kept before the group, and then by its own requests in turn: one map for both.
    earlier = await tx.messages.idempotent_responses(keyed)
    decisions = await tx.decisions.outbound_many(
        list(dict.fromkeys((i.message.business_id, i.message.user_id) for i in items))
    )
    outcomes: list[Answer | SendRefused] = []
    accepted: list[Prepared] = []
    to_open: dict[tuple[str, str], None] = {}
    horizon = time.time()
    for item in items:
        pair = (item.message.business_id, item.message.user_id)
        key = None if item.idempotency is None else (pair[0], item.idempotency.key)
        if key is not None and key in earlier:
            outcomes.append(_replay_or_refusal(earlier[key], item.idempotency))
            continue
        decision = decisions[pair]
        if decision.blocked:
            outcomes.append(RecipientBlocked())
            continue
        accepted.append(item)
        outcomes.append(item.answer)
        if key is not None:
            earlier[key] = _kept(item)
        if chat_needs_write(decision.chat_seen, item.refresh_seconds, horizon):
            to_open[pair] = None
    if accepted:
        await _write(tx, accepted, list(to_open))
    return outcomes


async def _write(tx: Unit, accepted: list[Prepared], to_open: list[tuple[str, str]]) -> None:
    await tx.messages.accept_many([item.message for item in accepted])
    for business_id in dict.fromkeys(b for b, _ in to_open):
        await tx.chats.open_many(business_id, [u for b, u in to_open if b == business_id])
    await tx.outbox.append_many([item.row for item in accepted])
    await tx.audit.stage_many([item.audit for item in accepted])
    kept = [
        (item.message.business_id, item.idempotency.key, _kept(item))
        for item in accepted
        if item.idempotency is not None
    ]
    if kept:
        await tx.messages.remember_responses(kept)


def _kept(item: Prepared) -> StoredResponse:
    assert item.idempotency is not None  # noqa: S101 -- only keyed requests keep an answer
    return StoredResponse(item.idempotency.request_hash, item.answer.status, item.answer.body)


def _replay(earlier: StoredResponse, idempotency: Idempotency) -> Answer:
    if earlier.request_hash != idempotency.request_hash:
        raise IdempotencyKeyReused
    return Answer(earlier.status, earlier.body)


def _replay_or_refusal(earlier: StoredResponse, idempotency: Idempotency | None) -> Answer | SendRefused:
    assert idempotency is not None  # noqa: S101 -- only keyed requests find an earlier answer
    try:
        return _replay(earlier, idempotency)
    except IdempotencyKeyReused as refused:
        return refused


def group_accept(store: Store, written: Callable[[], None]) -> GroupWriter[Prepared, Answer]:
    """Requests written in groups (:func:`accept_group`), each alone on a clash (:func:`accept_one`)."""
    return GroupWriter(store, accept_group, accept_one, written, name="outbound-accept")
