"""Plain data that crosses the storage port: frozen rows in, frozen rows out (no domain types)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class RowKind(StrEnum):
    """How the relay treats an outbox row."""

    EVENT = "event"
    DISCLOSURE = "disclosure"
    FANOUT = "fanout"


@dataclass(frozen=True, slots=True)
class NewOutboxRow:
    """A publish to queue: where it goes, its CloudEvents headers and its body."""

    business_id: str
    kind: RowKind
    exchange: str
    routing_key: str
    event_id: str
    event_type: str
    headers: dict[str, Any]
    body: bytes
    expiration_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxRow(NewOutboxRow):
    """One pending publish, as stored: the row queued, its place in line and its fan-out progress."""

    seq: int
    cursor: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class OutboxDepth:
    """How much is waiting, and for how long the oldest has waited."""

    rows: int
    fanouts: int
    oldest_age_seconds: float


@dataclass(frozen=True, slots=True)
class DisclosureRow:
    """One persisted disclosure revision: its exact signed body and detached JWS."""

    business_id: str
    revision: int
    fingerprint: str
    hosting_fingerprint: str
    body: bytes
    jws: str
    created_at: str


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """What hostgate holds about one message (never content)."""

    business_id: str
    message_id: str
    user_id: str
    direction: str
    status: str
    revision: int
    failure: str | None
    created_at: float
    updated_at: float
    history: tuple[tuple[str, str | None, float], ...]


@dataclass(frozen=True, slots=True)
class MessageState:
    """The part of a message a receipt changes."""

    status: str
    failure: str | None


@dataclass(frozen=True, slots=True)
class InboundDecision:
    """What decides a user's message: the newest revision, the message's status, the endpoint, the chat."""

    revision: int | None  # None: the business has no disclosure yet
    status: str | None  # None: the message was never recorded
    disabled: str | None  # why the endpoint is disabled, None when it is not
    chat_seen: float | None = None  # when the user's chat was last seen (epoch s), None: no chat yet
    failing: bool = False  # the endpoint is marked failing: a success must clear it


@dataclass(frozen=True, slots=True)
class OutboundDecision:
    """What decides a business's message: whether the user blocked it, when their chat was seen."""

    blocked: bool
    chat_seen: float | None  # epoch s; None: no chat yet


@dataclass(frozen=True, slots=True)
class AcceptedMessage:
    """A new message whose row begins, as its history does, in ``accepted``."""

    business_id: str
    message_id: str
    user_id: str
    direction: str
    revision: int


@dataclass(frozen=True, slots=True)
class FinishedMessage:
    """A new message recorded in the status it ended in: accepted at its creation, then ``status``."""

    business_id: str
    message_id: str
    user_id: str
    direction: str
    status: str
    revision: int
    reason: str | None = None  # what the history says with ``status``
    failure: str | None = None  # kept on the row for a failed message


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """An answer kept for an idempotency key."""

    request_hash: str
    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class StagedRecord:
    """An audit record staged with the work it records, waiting for the chain."""

    id: int
    record: bytes


@dataclass(frozen=True, slots=True)
class ChatRow:
    """One open chat of a user."""

    business_id: str
    opened_at: float
    last_seen: float


@dataclass(frozen=True, slots=True)
class ConsentRow:
    """A user's latest decision about one business."""

    business_id: str
    decision: str
    decided_at: float


@dataclass(frozen=True, slots=True)
class NoticeRow:
    """A notice a user was sent."""

    business_id: str
    revision: int
    reason: str
    notice_id: str
    at: float


@dataclass(frozen=True, slots=True)
class UserMessageRow:
    """A message to or from a user, for their export."""

    message_id: str
    business_id: str
    direction: str
    status: str
    revision: int
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class UserData:
    """Everything held about one user, oldest first within each kind."""

    chats: tuple[ChatRow, ...]
    consents: tuple[ConsentRow, ...]
    notices: tuple[NoticeRow, ...]
    messages: tuple[UserMessageRow, ...]


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    """Rows past retention for one business, per table."""

    business_id: str
    tables: dict[str, int] = field(default_factory=dict)
