"""Disclosure revisions: a new one whenever what a business discloses changes.

Each revision is persisted, signed and queued for publishing in one SQLite
transaction, before anything else can happen under it. A hosting change also
queues a fan-out of per-chat notices, which the relay publishes only after the
disclosure itself is confirmed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import structlog

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
from gateway.events import DISCLOSURE_PUBLISHED, NOTICE_PUBLISHED
from gateway.ids import new_id
from gateway.store import outbox
from gateway.store.sqlite import SqliteStore

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

    def __init__(self, store: SqliteStore, keys: KeyRing, audit: AuditTrail) -> None:
        self._store = store
        self._keys = keys
        self._audit = audit
        # The current revision is read on every message; it changes only through sync() here.
        self._latest: dict[str, StoredDisclosure] = {}
        self.feed = RevisionFeed()

    async def sync(self, businesses: Mapping[str, Business]) -> list[NewRevision]:
        """Create a revision for every business whose disclosure changed; return them."""
        created = await self._store.run(lambda: self._sync(businesses))
        for revision in created:
            self._latest.pop(revision.business_id, None)
        await self.feed.publish(RevisionChange(r.business_id, r.revision) for r in created)
        return created

    def _sync(self, businesses: Mapping[str, Business]) -> list[NewRevision]:
        created = []
        for business in businesses.values():
            revision = self._store.transaction(partial(self._sync_one, business=business))
            if revision is not None:
                created.append(revision)
                log.info(
                    "disclosure.revised",
                    business=revision.business_id,
                    revision=revision.revision,
                    hosting_changed=revision.hosting_changed,
                )
        return created

    def _sync_one(self, db: sqlite3.Connection, *, business: Business) -> NewRevision | None:
        latest = db.execute(
            "SELECT revision, fingerprint, hosting_fingerprint FROM disclosures"
            " WHERE business_id = ? ORDER BY revision DESC LIMIT 1",
            (business.id,),
        ).fetchone()
        fingerprint = document_fingerprint(business)
        hosting = hosting_fingerprint(business)
        if latest is not None and latest[1] == fingerprint:
            return None
        previous = None if latest is None else int(latest[0])
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
        body = event.data
        jws = str(event.extensions["jws"])
        db.execute(
            "INSERT INTO disclosures (business_id, revision, fingerprint, hosting_fingerprint,"
            " document, jws, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (business.id, revision, fingerprint, hosting, body, jws, now.isoformat()),
        )
        outbox.insert(
            db,
            business.id,
            kind=outbox.RowKind.DISCLOSURE,
            exchange=DISCLOSURES.exchange,
            routing_key=business.id,
            event=event,
        )
        hosting_changed = latest is not None and latest[2] != hosting
        if hosting_changed:
            _queue_fanout(db, document, "hosting_changed")
        # On disk before the revision commits (we are on the store's thread; the writer has its own).
        self._store.defer(
            self._record_revision(document, onboarded=latest is None, hosting_changed=hosting_changed)
        )
        return NewRevision(business.id, revision, hosting_changed)

    def _record_revision(
        self, document: DisclosureDocument, *, onboarded: bool, hosting_changed: bool
    ) -> Future[int]:
        if onboarded:
            return self._audit.submit(
                "business.onboarded",
                business=document.business_id,
                hosting_class=document.hosting_class.value,
                operator=document.operator,
            )
        return self._audit.submit(
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
        found = await self._read_latest(business_id)
        if found is not None:
            self._latest[business_id] = found
        return found

    async def _read_latest(self, business_id: str) -> StoredDisclosure | None:

        def read() -> StoredDisclosure | None:
            row = self._store.db.execute(
                "SELECT revision, document, jws FROM disclosures WHERE business_id = ?"
                " ORDER BY revision DESC LIMIT 1",
                (business_id,),
            ).fetchone()
            if row is None:
                return None
            body = bytes(row[1])
            return StoredDisclosure(
                int(row[0]), body, str(row[2]), DisclosureDocument.model_validate_json(body)
            )

        return await self._store.run(read)

    async def history(self, business_id: str) -> list[PastRevision]:
        """Every persisted revision of a business, newest first."""

        def read() -> list[PastRevision]:
            rows = self._store.db.execute(
                "SELECT revision, document, created_at FROM disclosures WHERE business_id = ?"
                " ORDER BY revision DESC",
                (business_id,),
            ).fetchall()
            return [PastRevision(int(r[0]), bytes(r[1]), datetime.fromisoformat(r[2])) for r in rows]

        return await self._store.run(read)


def _queue_fanout(db: sqlite3.Connection, document: DisclosureDocument, reason: str) -> None:
    template = CloudEvent(
        id=new_id(),
        type=NOTICE_PUBLISHED,
        subject=document.business_id,
        data=canonical_json(notice_template(document, reason)),
    )
    routing_key = f"{document.business_id}.{reason}"
    outbox.insert(
        db,
        document.business_id,
        kind=outbox.RowKind.FANOUT,
        exchange=NOTICES.exchange,
        routing_key=routing_key,
        event=template,
    )
