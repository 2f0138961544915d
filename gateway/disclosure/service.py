"""Disclosure revisions: a new one whenever what a business discloses changes.

Each revision is persisted, signed, audited and queued for publishing in one
unit of work, before anything else can happen under it. A hosting change also
queues a fan-out of per-chat notices, which the relay publishes only after the
disclosure itself is confirmed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from gateway.audit.staging import stage
from gateway.audit.trail import AuditTrail
from gateway.broker.cloudevents import CloudEvent
from gateway.broker.topology import DISCLOSURES, NOTICES
from gateway.config.loader import Business
from gateway.disclosure.document import (
    DisclosureDocument,
    build_disclosure,
    canonical_json,
    document_fingerprint,
    hosting_fingerprint,
    notice_template,
)
from gateway.disclosure.feed import RevisionChange, RevisionFeed
from gateway.disclosure.keys import KeyRing
from gateway.disclosure.signed import signed_event
from gateway.errors import StoreError
from gateway.events import DISCLOSURE_PUBLISHED, NOTICE_PUBLISHED
from gateway.ids import new_id
from gateway.relay.rows import outbox_row
from gateway.store import RowKind, Store, Unit
from gateway.store.records import DisclosureRow
from gateway.transparency.log import append_revision

log = structlog.get_logger("hostgate.disclosure")


@dataclass(frozen=True, slots=True)
class NewRevision:
    """A revision that sync created."""

    business_id: str
    revision: int
    hosting_changed: bool


@dataclass(frozen=True, slots=True)
class StoredDisclosure:
    """The latest revision of a business as persisted: its body and detached JWS."""

    revision: int
    body: bytes
    jws: str
    # Parsed once per revision: the inbound path reads it for every message.
    document: DisclosureDocument


@dataclass(frozen=True, slots=True)
class PastRevision:
    """One revision of a business's history, with when it was made."""

    revision: int
    body: bytes
    created_at: datetime


class DisclosureService:
    """Keeps each business's persisted revision in step with its config."""

    def __init__(self, store: Store, keys: KeyRing, audit: AuditTrail) -> None:
        self._store = store
        self._keys = keys
        self._audit = audit
        # The current revision is read on every message; it changes only through sync() here.
        self._latest: dict[str, StoredDisclosure] = {}
        self.feed = RevisionFeed()

    async def sync(self, businesses: Mapping[str, Business]) -> list[NewRevision]:
        """Create a revision for every business whose disclosure changed; return them."""
        created = []
        for business in businesses.values():
            async with self._store.unit() as tx:
                revision = await self._sync_one(tx, business)
            if revision is not None:
                created.append(revision)
                self._latest.pop(revision.business_id, None)
                log.info(
                    "disclosure.revised",
                    business=revision.business_id,
                    revision=revision.revision,
                    hosting_changed=revision.hosting_changed,
                )
        await self.feed.publish(RevisionChange(r.business_id, r.revision) for r in created)
        return created

    async def follow_store(self) -> None:
        """Feed the live page revisions made by any replica (until cancelled); what exists now is not news."""
        with contextlib.suppress(StoreError):  # the store is away: the first read below says so
            self.feed.know(await self._latest_revisions())
        await self.feed.follow(self._latest_revisions)

    async def _latest_revisions(self) -> dict[str, int]:
        async with self._store.read() as tx:
            return await tx.disclosures.latest_revisions()

    async def _sync_one(self, tx: Unit, business: Business) -> NewRevision | None:
        # Replicas reloading the same change at once: the first makes the revision, the others
        # then read it here (after the lock) and find nothing to do.
        await tx.disclosures.hold(business.id)
        latest = await tx.disclosures.latest(business.id)
        fingerprint = document_fingerprint(business)
        hosting = hosting_fingerprint(business)
        if latest is not None and latest.fingerprint == fingerprint:
            return None
        previous = None if latest is None else latest.revision
        revision = 1 if previous is None else previous + 1
        now = datetime.now(UTC)
        document = build_disclosure(business, revision, previous, now)
        event = signed_event(
            DISCLOSURE_PUBLISHED,
            new_id(),
            subject=business.id,
            document=document.model_dump(mode="json", exclude={"event"}),
            key=self._keys.active,
            when=now,
        )
        await tx.disclosures.add(
            DisclosureRow(
                business_id=business.id,
                revision=revision,
                fingerprint=fingerprint,
                hosting_fingerprint=hosting,
                body=event.data,
                jws=str(event.extensions["jws"]),
                created_at=now.isoformat(),
            )
        )
        # In the log in the same unit: a revision exists exactly when it is a leaf of the log.
        await append_revision(tx, business.id, revision, event.data)
        await tx.outbox.append(
            outbox_row(business.id, DISCLOSURES.exchange, business.id, event, kind=RowKind.DISCLOSURE)
        )
        hosting_changed = latest is not None and latest.hosting_fingerprint != hosting
        if hosting_changed:
            await queue_fanout(tx, document, "hosting_changed")
        await self._record_revision(tx, document, onboarded=latest is None, hosting_changed=hosting_changed)
        return NewRevision(business.id, revision, hosting_changed)

    async def _record_revision(
        self, tx: Unit, document: DisclosureDocument, *, onboarded: bool, hosting_changed: bool
    ) -> None:
        if onboarded:
            await stage(
                tx,
                self._audit,
                "business.onboarded",
                business=document.business_id,
                hosting_class=document.hosting_class.value,
                operator=document.operator,
            )
            return
        await stage(
            tx,
            self._audit,
            "hosting.changed" if hosting_changed else "disclosure.revised",
            business=document.business_id,
            revision=document.revision,
            hosting_class=document.hosting_class.value,
            operator=document.operator,
            region=document.region,
            retention_seconds=document.retention_seconds,
            endpoint_kid=document.endpoint_key.kid,
        )

    async def latest(self, business_id: str) -> StoredDisclosure | None:
        """The newest persisted revision of a business, if any."""
        cached = self._latest.get(business_id)
        if cached is not None:
            return cached
        async with self._store.read() as tx:
            row = await tx.disclosures.latest(business_id)
        if row is None:
            return None
        found = StoredDisclosure(
            row.revision, row.body, row.jws, DisclosureDocument.model_validate_json(row.body)
        )
        self._latest[business_id] = found
        return found

    async def at_revision(self, business_id: str, revision: int | None) -> StoredDisclosure | None:
        """The document of ``revision``, the newest the caller just read from the store.

        What decides a delivery reads the newest revision number in its own unit and asks
        for it here, never for the bare cache: another process may have committed a revision
        this one has not seen. The cached document is reused only when it is that revision.
        """
        if revision is None:
            return None
        cached = self._latest.get(business_id)
        if cached is not None and cached.revision == revision:
            return cached
        self._latest.pop(business_id, None)
        return await self.latest(business_id)

    async def history(self, business_id: str) -> list[PastRevision]:
        """Every persisted revision of a business, newest first."""
        async with self._store.read() as tx:
            rows = await tx.disclosures.history(business_id)
        return [PastRevision(r.revision, r.body, datetime.fromisoformat(r.created_at)) for r in rows]


async def queue_fanout(tx: Unit, document: DisclosureDocument, reason: str) -> None:
    """Queue one fan-out row: a notice under ``document`` to every open chat of its business."""
    template = CloudEvent(
        id=new_id(),
        type=NOTICE_PUBLISHED,
        subject=document.business_id,
        data=canonical_json(notice_template(document, reason)),
    )
    routing_key = f"{document.business_id}.{reason}"
    await tx.outbox.append(
        outbox_row(document.business_id, NOTICES.exchange, routing_key, template, kind=RowKind.FANOUT)
    )
