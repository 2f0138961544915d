"""The outbox relay: publishes outbox rows in order, deleting each only after its confirm.

While the broker is down the relay waits and the outbox grows on disk; when the
broker is back it drains in order. A disclosure row is published alone (a
barrier); a fan-out row expands into one signed notice per open chat, published
in windows with a durable cursor, so a crash resumes where it stopped (the last
window may be sent twice; notice ids are stable, so consumers drop the copies).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Literal

import structlog

from gateway.audit.staging import stage
from gateway.audit.trail import AuditTrail
from gateway.broker.cloudevents import PREFIX
from gateway.broker.publisher import Outgoing, Publisher
from gateway.client.jwks import kid_of
from gateway.disclosure.keys import KeyRing
from gateway.disclosure.signed import LOG_EXTENSION
from gateway.disclosure.signing_pool import NoticeWindow, SigningPool
from gateway.errors import BrokerError, CheckpointError, StoreUnavailable
from gateway.events import DISCLOSURE_PUBLISHED, NOTICE_BATCH
from gateway.relay.claims import BusinessClaims
from gateway.store import Store
from gateway.store.records import OutboxDepth, OutboxRow, RowKind
from gateway.telemetry.metrics import GatewayMetrics
from gateway.telemetry.tracing import TRACEPARENT, OpenSpan, Tracing
from gateway.waiting import wait_event

log = structlog.get_logger("hostgate.relay")

# A revision's proof of inclusion in the transparency log, as JSON, or None when it is not in it.
LogProof = Callable[[str, int], Awaitable[dict[str, object] | None]]

_NOTICE_NAMESPACE = uuid.UUID("6f1d8a8e-3c1b-4c1e-9d0a-1f6f2b7f0e11")
_BATCH_NAMESPACE = uuid.UUID("0c8f2b5e-7a4d-4f61-9a53-2d9e8b1c4a70")

# How a fan-out reaches the network: one signed message per chat, or one per window (a batch
# under one signature over a Merkle root, split by gateway.client for each chat).
NoticeForm = Literal["per_chat", "batch"]


def _traced(headers: dict[str, str | int], traceparent: str | None) -> dict[str, str | int]:
    """The headers with the publish span as the event's ``traceparent`` (the network's parent)."""
    return headers if traceparent is None else {**headers, PREFIX + TRACEPARENT: traceparent}


def _notice_id(row: OutboxRow, user: str) -> str:
    """Stable per fan-out and user, so a window sent twice after a crash carries the same ids."""
    return str(uuid.uuid5(_NOTICE_NAMESPACE, f"{row.event_id}:{user}"))


def _batch_id(row: OutboxRow, first_user: str) -> str:
    """Stable per fan-out and window (windows restart at the saved cursor, so they repeat)."""
    return str(uuid.uuid5(_BATCH_NAMESPACE, f"{row.event_id}:{first_user}"))


class OutboxRelay:
    """Drains the outbox to RabbitMQ."""

    def __init__(
        self,
        store: Store,
        publisher: Publisher,
        keys: KeyRing,
        audit: AuditTrail,
        *,
        window: int = 500,
        notice_form: NoticeForm = "per_chat",
        notice_window: int | None = None,
        idle_poll: float = 1.0,
        signing: SigningPool | None = None,
        log_proof: LogProof | None = None,
        metrics: GatewayMetrics | None = None,
        tracing: Tracing | None = None,
        claims: BusinessClaims | None = None,
    ) -> None:
        self._metrics = metrics or GatewayMetrics()
        self._claims = claims or BusinessClaims(store)
        self._tracing = tracing or Tracing()
        self._store = store
        self._publisher = publisher
        self._keys = keys
        self._audit = audit
        self._window = window
        self._notice_form = notice_form
        self._notice_window = notice_window or window
        self._idle_poll = idle_poll
        self._signing = signing or SigningPool(0)
        self._log_proof = log_proof
        self._wake = asyncio.Event()
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.published = 0

    def wake(self) -> None:
        """Tell the relay that rows were added."""
        self._wake.set()

    def broker_connected(self) -> None:
        """Tell the relay the broker is back (and the topology declared): retry at once."""
        self._connected.set()
        self._wake.set()

    async def start(self) -> None:
        """Run the relay in the background."""
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def close(self) -> None:
        """Stop the relay; unpublished rows stay in the outbox."""
        # The flag ends the loop even if a library swallows the cancellation (so close never hangs).
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.to_thread(self._signing.close)
        # Given up at once, so another process takes the businesses over without waiting out the leases.
        try:
            await self._claims.release()
        except Exception:  # noqa: BLE001 -- a store already gone: the leases lapse on their own
            log.info("relay.leases_left_to_lapse")

    async def _run(self) -> None:
        backoff = self._idle_poll
        failing = False
        while not self._closing:
            self._connected.clear()  # a reconnect from here on cuts a failure's wait short
            try:
                await self.drain()
            except Exception as exc:
                # The relay must outlive any one failure: the rows stay, it tries again later.
                if isinstance(exc, StoreUnavailable):
                    if not failing:
                        log.warning("relay.waiting_for_store", reason=str(exc))  # once per outage
                elif not isinstance(exc, BrokerError):
                    log.exception("relay.unexpected_error")  # a bug or a store failure: say so loudly
                elif not failing:
                    log.info("relay.waiting_for_broker", reason=str(exc))  # once per outage
                failing = True
                backoff = min(backoff * 2, 5.0)
                # New rows do not help while the broker is away: wait for it, or for the backoff.
                await wait_event(self._connected, backoff)
                continue
            if failing:
                log.info("relay.resumed")
                failing = False
            backoff = self._idle_poll
            await wait_event(self._wake, backoff)
            self._wake.clear()

    async def drain(self) -> None:
        """Publish until the outbox is empty; raise BrokerError when the broker fails."""
        while rows := await self._fetch():
            window: list[OutboxRow] = []
            for row in rows:
                if row.kind is RowKind.EVENT:
                    window.append(row)
                    continue
                await self._publish_rows(window)
                window = []
                if row.kind is RowKind.DISCLOSURE:
                    await self._publish_rows([await self._with_log_proof(row)])
                else:
                    await self._fan_out(row)
            await self._publish_rows(window)

    async def _with_log_proof(self, row: OutboxRow) -> OutboxRow:
        """The disclosure row with its transparency-log proof; none is published outside the log."""
        if self._log_proof is None:
            return row
        document = json.loads(row.body)
        proof = await self._log_proof(row.business_id, int(document["revision"]))
        if proof is None:
            raise CheckpointError(f"revision {document['revision']} of {row.business_id} is not in the log")
        headers = {**row.headers, PREFIX + LOG_EXTENSION: json.dumps(proof, separators=(",", ":"))}
        return dataclasses.replace(row, headers=headers)

    async def _fetch(self) -> list[OutboxRow]:
        """The next rows of the businesses this process holds (claimed or renewed here)."""
        businesses = await self._claims.claim()
        if not businesses:
            return []
        async with self._store.read() as tx:
            return await tx.outbox.fetch(self._window, businesses)

    async def _publish_rows(self, rows: list[OutboxRow]) -> None:
        # A business whose lease ran out meanwhile is another process's now: none of its rows go.
        rows = [r for r in rows if self._claims.holds(r.business_id)]
        if not rows:
            return
        spans = self._publish_spans(rows) if self._tracing.enabled else {}
        items = [
            Outgoing(
                r.exchange,
                r.routing_key,
                r.event_id,
                r.event_type,
                _traced(r.headers, spans[i].traceparent) if i in spans else r.headers,
                r.body,
                r.expiration_ms,
            )
            for i, r in enumerate(rows)
        ]
        confirmed = await self._publisher.publish_window(items)
        for i, span in spans.items():
            span.end(error=None if i < confirmed else "not confirmed")
        done = rows[:confirmed]
        if done:
            # Recorded in the unit that forgets the rows: a crash before it re-publishes
            # (a copy consumers drop) rather than leaving a gap in the trail.
            async with self._store.unit() as tx:
                for row in done:
                    if row.event_type == DISCLOSURE_PUBLISHED:
                        document = json.loads(row.body)
                        await stage(
                            tx,
                            self._audit,
                            "disclosure.published",
                            business=row.business_id,
                            revision=document["revision"],
                            event_id=row.event_id,
                            kid=kid_of(row.headers) or "unknown",
                        )
                await tx.outbox.delete([r.seq for r in done])
            self.published += len(done)
        if confirmed < len(rows):
            raise BrokerError(f"{len(rows) - confirmed} event(s) not confirmed; will retry")

    def _publish_spans(self, rows: list[OutboxRow]) -> dict[int, OpenSpan]:
        """A producer span for each row that carries a trace, by position in ``rows``."""
        spans: dict[int, OpenSpan] = {}
        for i, row in enumerate(rows):
            parent = row.headers.get(PREFIX + TRACEPARENT)
            if isinstance(parent, str):
                attributes = {"messaging.system": "rabbitmq", "messaging.destination.name": row.exchange}
                spans[i] = self._tracing.start(
                    f"publish {row.exchange}", parent=parent, kind="producer", attributes=attributes
                )
        return spans

    async def _fan_out(self, row: OutboxRow) -> None:
        # A pipeline over windows of users. While window k is on its way to the broker,
        # window k+1 is fetched and signed (in the signing pool's helper process when there
        # is one) and window k-1's progress is written. Window k+1 is published only once
        # window k is wholly confirmed, and progress is written in window order, so the
        # durable cursor never passes an unconfirmed notice.
        template = json.loads(row.body)
        revision, reason = int(str(template["revision"])), str(template["reason"])
        key, when = self._keys.active, datetime.now(UTC)

        async def next_window(cursor: str | None) -> tuple[NoticeWindow, list[Outgoing]]:
            async with self._store.read() as tx:
                users = await tx.chats.users_after(row.business_id, cursor, self._notice_window)
            recipients = [(user, _notice_id(row, user)) for user in users]
            window = NoticeWindow(row.event_type, row.business_id, when, template, recipients)
            if not recipients:
                return window, []
            if self._notice_form == "batch":
                batch_id = _batch_id(row, users[0])
                headers, body = await self._signing.batch(window, key, batch_id)
                return window, [
                    Outgoing(row.exchange, row.routing_key, batch_id, NOTICE_BATCH, headers, body)
                ]
            signed = await self._signing.sign(window, key)
            return window, [
                Outgoing(row.exchange, row.routing_key, notice_id, row.event_type, headers, body)
                for (_user, notice_id), (headers, body) in zip(window.recipients, signed, strict=True)
            ]

        upcoming = asyncio.create_task(next_window(row.cursor))
        publishing: asyncio.Task[int] | None = None
        saving: asyncio.Task[None] | None = None
        finished = False
        try:
            while True:
                window, items = await upcoming
                if not window.recipients:
                    finished = True
                    break
                # A fan-out outlasts a lease: renewed as it goes; if lost, the new holder resumes
                # from the saved cursor.
                await self._claims.claim()
                if not self._claims.holds(row.business_id):
                    log.warning("notices.fan_out_handed_over", business=row.business_id, fanout=row.event_id)
                    break
                publishing = asyncio.create_task(self._publisher.publish_window(items))
                upcoming = asyncio.create_task(next_window(window.recipients[-1][0]))
                confirmed = await publishing
                if saving is not None:
                    await saving
                if self._notice_form == "batch" and confirmed:
                    confirmed = len(window.recipients)  # a batch's one confirm covers every chat in it
                if confirmed:
                    sent = list(window.recipients[:confirmed])
                    saving = asyncio.create_task(self._save_progress(row, sent, revision, reason))
                    self.published += confirmed
                if confirmed < len(window.recipients):
                    raise BrokerError(f"notice fan-out for {row.business_id} paused at a failed confirm")
        finally:
            # Progress already confirmed is written whatever happened; no task is left behind.
            await asyncio.gather(
                *(t for t in (upcoming, publishing) if t is not None), return_exceptions=True
            )
            if saving is not None:
                await saving
        if not finished:
            return
        async with self._store.unit() as tx:
            await tx.outbox.delete([row.seq])
        log.info("notices.fanned_out", business=row.business_id, fanout=row.event_id)

    async def _save_progress(
        self, row: OutboxRow, sent: list[tuple[str, str]], revision: int, reason: str
    ) -> None:
        async with self._store.unit() as tx:
            await tx.outbox.set_cursor(row.seq, sent[-1][0])
            await tx.notices.record_sent(row.business_id, revision, reason, sent)
            # One record per confirmed window, naming each user (pseudonymised) and their notice:
            # `audit show --user` still finds what one user was shown, at a window's cost, not a chat's.
            await stage(
                tx,
                self._audit,
                "notices.published",
                business=row.business_id,
                revision=revision,
                reason=reason,
                recipients=sent,
            )
        self._metrics.child(self._metrics.notices_sent, row.business_id).inc(len(sent))

    async def depth(self) -> OutboxDepth:
        """What is waiting in the outbox."""
        async with self._store.read() as tx:
            return await tx.outbox.depth()
