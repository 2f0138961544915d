"""The storage port: what hostgate's services may ask of durable state, and nothing else.

Services see these Protocols and the rows in :mod:`gateway.store.records`; they never
see a connection, a cursor or SQL. Every read and write goes through a unit of work::

    async with store.unit() as tx:
        if await tx.processed.first_time("com.hostgate.message.receipt", event_id):
            await tx.outbox.append(row)

A unit commits on a clean exit and rolls back when its body raises; the body's own
exception comes out unchanged. Driver errors come out as :class:`~gateway.errors.StoreError`
(a unique-key clash as :class:`~gateway.errors.StoreConflict`). A unit's body awaits only
its own store calls: anything slow (a webhook, a publish) happens before or after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

from gateway.store.records import (
    AcceptedMessage,
    DisclosureRow,
    FinishedMessage,
    InboundDecision,
    MessageRecord,
    MessageState,
    NewOutboxRow,
    OutboundDecision,
    OutboxDepth,
    OutboxRow,
    StagedRecord,
    StoredResponse,
    UserData,
)


class Disclosures(Protocol):
    """**Protocol:** every disclosure revision of every business."""

    async def hold(self, business_id: str) -> None:
        """Make this unit the only one deciding the business's next revision, in any process."""

    async def latest(self, business_id: str) -> DisclosureRow | None:
        """The newest revision of a business."""

    async def latest_revision(self, business_id: str) -> int | None:
        """The newest revision number of a business (one index lookup, no document)."""

    async def latest_revisions(self) -> dict[str, int]:
        """The newest revision number of every business."""

    async def history(self, business_id: str) -> list[DisclosureRow]:
        """Every revision of a business, newest first."""

    async def add(self, row: DisclosureRow) -> None:
        """Persist a new revision; StoreConflict when that revision exists already."""


class Outbox(Protocol):
    """**Protocol:** events written with the state they report, published in ``seq`` order."""

    async def append(self, row: NewOutboxRow) -> int:
        """Queue a row; return its seq."""

    async def append_many(self, rows: Sequence[NewOutboxRow]) -> None:
        """Queue rows, in this order, in one statement."""

    async def fetch(self, limit: int, businesses: Sequence[str] | None = None) -> list[OutboxRow]:
        """The oldest ``limit`` rows (of ``businesses`` only, when given), in publish order."""

    async def businesses(self) -> list[str]:
        """The businesses that have rows waiting."""

    async def delete(self, seqs: Sequence[int]) -> None:
        """Remove rows the broker confirmed."""

    async def set_cursor(self, seq: int, cursor: str) -> None:
        """Record fan-out progress: every chat up to ``cursor`` has been told."""

    async def depth(self) -> OutboxDepth:
        """Rows waiting, fan-outs among them, age of the oldest."""


class Messages(Protocol):
    """**Protocol:** message metadata (never content), status history and idempotency records."""

    async def insert(
        self,
        business_id: str,
        message_id: str,
        *,
        user_id: str,
        direction: str,
        status: str,
        revision: int,
        failure: str | None = None,
        after_accepted: Sequence[tuple[str, str | None]] = (),
    ) -> bool:
        """Record a new message in ``status``; False if it exists.

        Its history: ``accepted`` at its creation, then ``after_accepted`` (or ``status`` when
        that is empty and ``status`` is not ``accepted``).
        """

    async def accept_many(self, messages: Sequence[AcceptedMessage]) -> None:
        """Record new messages in ``accepted`` in one statement; StoreConflict if any exists."""

    async def insert_many(self, messages: Sequence[FinishedMessage]) -> None:
        """Record new messages, each in its status with its one history entry; StoreConflict if any exists."""

    async def state(self, business_id: str, message_id: str, *, direction: str) -> MessageState | None:
        """The status and failure of a message, or None; in a unit, the row stays locked until it ends."""

    async def set_state(
        self,
        business_id: str,
        message_id: str,
        state: MessageState,
        *,
        direction: str,
        reported: str,
        reason: str | None,
    ) -> None:
        """Store the new state and append what was reported to the history."""

    async def get(self, business_id: str, message_id: str, *, direction: str) -> MessageRecord | None:
        """One message of one business in one direction (``inbound``/``outbound``); ids are per direction."""

    async def idempotent_response(self, business_id: str, key: str) -> StoredResponse | None:
        """The answer given before under this key, if any."""

    async def remember_response(self, business_id: str, key: str, response: StoredResponse) -> None:
        """Keep the answer for this key (in the same unit as the work it reports)."""

    async def idempotent_responses(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], StoredResponse]:
        """The answers given before under any of these (business, key) pairs, in one statement."""

    async def remember_responses(self, answers: Sequence[tuple[str, str, StoredResponse]]) -> None:
        """Keep answers for (business, key) pairs in one statement; StoreConflict if a key is kept."""


class ProcessedEvents(Protocol):
    """**Protocol:** incoming event ids already handled, for dedup."""

    async def first_time(self, event_type: str, event_id: str) -> bool:
        """Mark (type, id) processed; False when it already was (a redelivery)."""


class Chats(Protocol):
    """**Protocol:** which users talk to which business."""

    async def open(self, business_id: str, user_id: str, *, refresh_after: float = 0.0) -> bool:
        """Open (or refresh) a chat; True when it is new. Seen within ``refresh_after`` s: no write."""

    async def open_many(self, business_id: str, user_ids: Sequence[str]) -> None:
        """Open many chats at once (bulk onboarding, tests and benchmarks)."""

    async def users_after(self, business_id: str, after: str | None, limit: int) -> list[str]:
        """Users with an open chat, in user-id (byte) order, after ``after``."""


class Consents(Protocol):
    """**Protocol:** users' decisions to allow or block a business; the latest decision wins."""

    async def record(self, business_id: str, user_id: str, decision: str, decided_at: float) -> bool:
        """Store a decision unless a later one is stored; True when it took effect."""


class Endpoints(Protocol):
    """**Protocol:** whether a business's endpoint is healthy, failing since when, or disabled."""

    async def record_success(self, business_id: str) -> None:
        """A delivery went through."""

    async def record_failure(self, business_id: str) -> float:
        """A delivery failed; return since when the endpoint has been failing."""

    async def disable(self, business_id: str, reason: str) -> bool:
        """Disable the endpoint; False when it already was."""

    async def enable(self, business_id: str) -> bool:
        """Re-enable the endpoint; False when it was not disabled."""

    async def disabled_reason(self, business_id: str) -> str | None:
        """Why the endpoint is disabled, or None."""


class Notices(Protocol):
    """**Protocol:** which notice each user was sent (for exports)."""

    async def record_sent(
        self, business_id: str, revision: int, reason: str, sent: Iterable[tuple[str, str]]
    ) -> None:
        """Record notices confirmed by the broker: ``sent`` is (user id, notice id) pairs."""


class AuditStaging(Protocol):
    """**Protocol:** audit records staged in the unit of the work they record, drained in id order."""

    async def stage(self, record: bytes) -> None:
        """Stage one rendered record."""

    async def stage_many(self, records: Sequence[bytes]) -> None:
        """Stage rendered records, in this order, in one statement."""

    async def pending(self, limit: int) -> list[StagedRecord]:
        """The oldest staged records."""

    async def count(self) -> int:
        """How many records wait for the chain (the drain's lag)."""

    async def forget(self, ids: Iterable[int]) -> None:
        """Drop exactly these staged records (the trail has them); ids commit in any order."""


class Retention(Protocol):
    """**Protocol:** what is past a business's retention, counted or deleted."""

    async def expired(self, business_id: str, before: float) -> dict[str, int]:
        """Rows older than ``before`` per table (nothing deleted)."""

    async def delete_expired(self, business_id: str, before: float, limit: int) -> dict[str, int]:
        """Delete up to ``limit`` rows a table older than ``before`` (a message with its history)."""

    async def forget_processed(self, before: float, limit: int) -> int:
        """Drop at most ``limit`` processed-event ids older than ``before``; how many went."""


class Export(Protocol):
    """**Protocol:** everything held about one user."""

    async def user_data(self, user_id: str) -> UserData:
        """Chats, consents, notices and messages of a user."""


class Log(Protocol):
    """**Protocol:** the transparency log: leaves in one sequence, and its signed checkpoints."""

    async def append(self, business_id: str, revision: int, entry: bytes, leaf_hash: bytes) -> int:
        """Add a leaf at the end; return its index (appends are serialized until the unit ends)."""

    async def size(self) -> int:
        """How many leaves the log holds."""

    async def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """The leaf hashes of indexes start..end-1, in order."""

    async def entries(self, start: int, end: int) -> list[bytes]:
        """The entries of indexes start..end-1, in order."""

    async def index_of(self, business_id: str, revision: int) -> int | None:
        """Where a business's revision sits in the log, or None."""

    async def save_checkpoint(self, size: int, note: str) -> bool:
        """Keep a signed checkpoint; False when one of that size is kept already."""

    async def latest_checkpoint(self) -> tuple[int, str] | None:
        """The largest signed checkpoint: its size and note."""

    async def unlogged(self) -> list[tuple[str, int, bytes]]:
        """Revisions made before the log existed, oldest first; appends are locked until the unit ends."""

    async def cosigned(self, size: int, note: str) -> None:
        """Replace the note of checkpoint ``size`` with the same checkpoint carrying more cosignatures."""


class Leases(Protocol):
    """**Protocol:** named jobs held by one process at a time, timed by the database's clock."""

    async def claim(self, name: str, holder: str, seconds: float) -> bool:
        """Take or renew ``name`` for ``seconds``; False when someone else holds it unexpired."""

    async def holds(self, name: str, holder: str) -> bool:
        """Whether ``holder`` holds ``name`` now (kept until the unit ends where units run at once)."""

    async def release(self, name: str, holder: str) -> None:
        """Give ``name`` up at once, if ``holder`` has it."""

    async def live(self, prefix: str) -> dict[str, str]:
        """Unexpired leases whose name starts with ``prefix``: name -> holder."""


class Sessions(Protocol):
    """**Protocol:** console sign-in sessions, by the hash of their token."""

    async def open(self, token_hash: str, key_hash: str, seconds: float) -> None:
        """Start a session (and forget the expired ones)."""

    async def key_of(self, token_hash: str) -> str | None:
        """The operator key hash of a live session, or None (unknown or expired)."""

    async def close(self, token_hash: str) -> None:
        """End a session."""


class Rates(Protocol):
    """**Protocol:** token buckets shared by every process, refilled by the database's clock."""

    async def take(self, key: str, want: int, per_second: float, burst: int) -> tuple[int, float]:
        """Take up to ``want`` whole tokens; return how many, and the seconds until one is free if none."""


class Decisions(Protocol):
    """**Protocol:** reads that decide one step in a single statement."""

    async def inbound_many(
        self, asked: Sequence[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], InboundDecision]:
        """Per (business, message, user): newest revision, message status, endpoint state, chat seen."""

    async def outbound(self, business_id: str, user_id: str) -> OutboundDecision:
        """Whether the user's latest decision blocks the business, and when their chat was seen."""

    async def outbound_many(
        self, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], OutboundDecision]:
        """:meth:`outbound` for many (business, user) pairs in one statement."""


class Unit(Protocol):
    """**Protocol:** one transaction; commits on clean exit, rolls back on error."""

    disclosures: Disclosures
    outbox: Outbox
    messages: Messages
    processed: ProcessedEvents
    chats: Chats
    consents: Consents
    endpoints: Endpoints
    notices: Notices
    audit: AuditStaging
    retention: Retention
    export: Export
    log: Log
    leases: Leases
    sessions: Sessions
    rates: Rates
    decisions: Decisions


@runtime_checkable
class Store(Protocol):
    """**Protocol:** hostgate's durable state; every read and write goes through a unit of work."""

    engine: str

    async def open(self) -> None:
        """Connect, and create or migrate the schema (under a lock)."""

    def unit(self) -> AbstractAsyncContextManager[Unit, bool | None]:
        """A read-write unit of work."""

    def read(self) -> AbstractAsyncContextManager[Unit, bool | None]:
        """A read-only view of what is committed (writes in it fail)."""

    async def aclose(self) -> None:
        """Close connections and threads."""
