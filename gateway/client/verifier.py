"""Verify events from hostgate: signed, untampered, not seen before, not older than what was seen.

Everything that fails is dropped with a reason; a client shows only what passes.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from gateway.broker.cloudevents import PREFIX, parse
from gateway.client.batches import notices_of
from gateway.client.jwks import kid_of
from gateway.client.transparency import LogVerifier
from gateway.disclosure.document import DisclosureDocument, NoticeDocument
from gateway.disclosure.signed import LOG_EXTENSION, verify_event
from gateway.errors import CheckpointError, CloudEventError, LogForked, SignatureInvalid
from gateway.events import DISCLOSURE_PUBLISHED, NOTICE_PUBLISHED
from gateway.transparency import note


@dataclass(frozen=True, slots=True)
class Accepted:
    """A verified event and its document."""

    event_id: str
    event_type: str
    kid: str
    document: DisclosureDocument | NoticeDocument


@dataclass(frozen=True, slots=True)
class Rejected:
    """An event the client must not show, and why."""

    reason: str
    detail: str = ""


def _document(
    event_type: str, subject: str | None, body: bytes
) -> DisclosureDocument | NoticeDocument | Rejected:
    model: type[DisclosureDocument | NoticeDocument]
    if event_type == DISCLOSURE_PUBLISHED:
        model = DisclosureDocument
    elif event_type == NOTICE_PUBLISHED:
        model = NoticeDocument
    else:
        return Rejected("unknown_type", event_type)
    try:
        document = model.model_validate_json(body)
    except ValidationError as exc:
        return Rejected("malformed", f"{exc.error_count()} field error(s)")
    if document.business_id != subject:
        return Rejected("malformed", "subject is not the document's business")
    return document


def _log_proof(headers: Mapping[str, Any]) -> dict[str, Any] | None:
    raw = headers.get(f"{PREFIX}{LOG_EXTENSION}", headers.get(f"cloudEvents:{LOG_EXTENSION}"))
    if raw is None:
        return None
    try:
        parsed = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


class EventVerifier:
    """Holds the JWKS, the ids seen and the newest revision per business and per chat."""

    def __init__(
        self, keys: Mapping[str, Ed25519PublicKey], remember: int = 200_000, log: LogVerifier | None = None
    ) -> None:
        self._keys = dict(keys)
        # With a log verifier, a disclosure is shown only with a valid proof that it is in the log.
        self.log = log
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember = remember
        self._disclosure_revision: dict[str, int] = {}
        self._notice_revision: dict[tuple[str, str], int] = {}

    def update_keys(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        """Replace the keys (after fetching the JWKS again)."""
        self._keys = dict(keys)

    def keys(self) -> dict[str, Ed25519PublicKey]:
        """The public keys events are checked against, by kid (a copy)."""
        return dict(self._keys)

    def knows_kid_of(self, headers: Mapping[str, Any]) -> bool:
        """Whether the event names a key we have; False means: fetch the JWKS again."""
        kid = kid_of(headers)
        return kid is None or kid in self._keys

    def check_fetched(self, body: bytes, jws: str, log_proof: str | None = None) -> Accepted | Rejected:
        """Verify a disclosure fetched over HTTP (``GET /disclosures/{id}``, its JWS, its log proof)."""
        try:
            signed = json.loads(body)["event"]
        except (ValueError, KeyError, TypeError):
            return Rejected("malformed", "body does not carry its signed event attributes")
        headers = {f"{PREFIX}{name}": value for name, value in signed.items()}
        headers[f"{PREFIX}jws"] = jws
        if log_proof is not None:
            headers[f"{PREFIX}{LOG_EXTENSION}"] = log_proof
        return self.check(headers, body)

    def check(
        self, headers: Mapping[str, Any], body: bytes, consistency: Sequence[bytes] = ()
    ) -> Accepted | Rejected:
        """Verify one AMQP message; accept it at most once.

        ``consistency`` proves the disclosure's checkpoint consistent with the last one the log
        verifier accepted (see :meth:`log_sizes`); a client following the log fetches it from the tiles.
        """
        try:
            event = parse(headers, body)
        except CloudEventError as exc:
            return Rejected("not_cloudevent", str(exc))
        try:
            kid = verify_event(headers, body, self._keys)
        except SignatureInvalid as exc:
            return Rejected("bad_signature", str(exc))
        document = _document(event.type, event.subject, body)
        if isinstance(document, Rejected):
            return document
        refused = self._refusal(event.id, document, headers, body, consistency)
        if refused is not None:
            return refused
        self._remember_id(event.id)
        self._advance(document)
        return Accepted(event.id, event.type, kid, document)

    def check_batch(self, headers: Mapping[str, Any], body: bytes) -> list[Accepted | Rejected]:
        """Verify a batch of notices once; one verdict per chat (or one rejection for the batch)."""
        try:
            kid, documents = notices_of(headers, body, self._keys)
        except SignatureInvalid as exc:
            return [Rejected("bad_signature", str(exc))]
        verdicts: list[Accepted | Rejected] = []
        for document in documents:
            refused = self._refusal(document.notice_id, document, headers, body, ())
            if refused is not None:
                verdicts.append(refused)
                continue
            self._remember_id(document.notice_id)
            self._advance(document)
            verdicts.append(Accepted(document.notice_id, NOTICE_PUBLISHED, kid, document))
        return verdicts

    def _refusal(
        self,
        event_id: str,
        document: DisclosureDocument | NoticeDocument,
        headers: Mapping[str, Any],
        body: bytes,
        consistency: Sequence[bytes],
    ) -> Rejected | None:
        """Why a well-signed event must still not be shown: seen already, not in the log, or stale."""
        if event_id in self._seen:
            return Rejected("duplicate", event_id)
        if self.log is not None and isinstance(document, DisclosureDocument):
            refused = self._not_in_log(headers, body, consistency)
            if refused is not None:
                return refused
        stale = self._stale(document)
        return Rejected("stale_revision", stale) if stale else None

    def log_sizes(self, headers: Mapping[str, Any]) -> tuple[int, int] | None:
        """(last accepted size, the event's checkpoint size) when a consistency proof is needed."""
        proof = _log_proof(headers)
        if self.log is None or self.log.last is None or proof is None:
            return None
        try:
            size = note.peek(str(proof["checkpoint"])).size
        except (CheckpointError, KeyError):
            return None
        last = self.log.last.size
        return None if size == last else (min(size, last), max(size, last))

    def _not_in_log(
        self, headers: Mapping[str, Any], body: bytes, consistency: Sequence[bytes]
    ) -> Rejected | None:
        assert self.log is not None  # noqa: S101 -- only called with a log verifier
        proof = _log_proof(headers)
        if proof is None:
            return Rejected("not_in_log", "disclosure carries no transparency-log proof")
        try:
            self.log.check_disclosure(body, proof, consistency)
        except LogForked as exc:
            return Rejected("log_forked", str(exc))
        except CheckpointError as exc:
            return Rejected("not_in_log", str(exc))
        return None

    def _stale(self, document: DisclosureDocument | NoticeDocument) -> str:
        if isinstance(document, DisclosureDocument):
            last = self._disclosure_revision.get(document.business_id, 0)
            if document.revision <= last:
                return f"revision {document.revision} <= {last} already seen"
            return ""
        last = self._notice_revision.get((document.business_id, document.user_id), 0)
        if document.revision < last:
            return f"notice for revision {document.revision} after revision {last}"
        return ""

    def _advance(self, document: DisclosureDocument | NoticeDocument) -> None:
        if isinstance(document, DisclosureDocument):
            self._disclosure_revision[document.business_id] = document.revision
        else:
            key = (document.business_id, document.user_id)
            self._notice_revision[key] = max(self._notice_revision.get(key, 0), document.revision)

    def _remember_id(self, event_id: str) -> None:
        self._seen[event_id] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
