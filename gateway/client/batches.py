"""Batches of notices, for the network and for each user's client (format: gateway.disclosure.batch).

The network calls :func:`split_batch` on each ``com.hostgate.notice.batch`` message:
it checks the batch once (signature, template digest, the root over every entry) and
returns one :class:`BatchedNotice` per chat, whose ``body`` is what that user's client
gets. The client calls :func:`verify_batched_notice` on it, alone: its own entry, its
audit path, the signed head and the shared template; nothing about any other user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from gateway.disclosure.batch import entry_leaf, template_digest
from gateway.disclosure.document import NoticeDocument, canonical_json
from gateway.disclosure.jws import verify_detached
from gateway.disclosure.signed import JWS_EXTENSION, attributes, verify_event
from gateway.encoding import b64url_decode, b64url_encode
from gateway.errors import SignatureInvalid
from gateway.events import NOTICE_BATCH
from gateway.transparency import merkle

_ENTRY_FIELDS = 3  # user id, notice id, salt


@dataclass(frozen=True, slots=True)
class BatchedNotice:
    """One chat's notice out of a batch: who it is for, and the bytes to hand that user's client."""

    user_id: str
    notice_id: str
    body: bytes


@dataclass(frozen=True, slots=True)
class VerifiedNotice:
    """A batched notice a client has proven: the notice to show, the batch it came in, the key."""

    document: NoticeDocument
    batch_id: str
    kid: str


def _object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise SignatureInvalid(f"{what} is not JSON") from exc
    if not isinstance(value, dict):
        raise SignatureInvalid(f"{what} is not a JSON object")
    return value


def _root(head: Mapping[str, Any]) -> tuple[bytes, int]:
    try:
        root, size = b64url_decode(str(head["root"])), head["size"]
    except (KeyError, ValueError) as exc:
        raise SignatureInvalid("batch head lacks a valid root") from exc
    if len(root) != merkle.HASH_SIZE or not isinstance(size, int) or size < 1:
        raise SignatureInvalid("batch head lacks a valid root or size")
    return root, size


def _document(
    template: Mapping[str, Any], user_id: str, notice_id: str, head: Mapping[str, Any]
) -> NoticeDocument:
    try:
        return NoticeDocument.model_validate(
            {**template, "user_id": user_id, "notice_id": notice_id, "event": head.get("event", {})}
        )
    except ValidationError as exc:
        raise SignatureInvalid(f"batched notice is malformed: {exc.error_count()} field error(s)") from exc


def _entries(raw: object, size: int) -> list[tuple[str, str, str]]:
    if not isinstance(raw, list) or len(raw) != size:
        raise SignatureInvalid("batch entries do not match the head's size")
    entries: list[tuple[str, str, str]] = []
    for entry in raw:
        if not (
            isinstance(entry, list) and len(entry) == _ENTRY_FIELDS and all(isinstance(v, str) for v in entry)
        ):
            raise SignatureInvalid("a batch entry is not [user_id, notice_id, salt]")
        entries.append((entry[0], entry[1], entry[2]))
    return entries


@dataclass(frozen=True, slots=True)
class _Checked:
    kid: str
    jws: str
    head: dict[str, Any]
    template: dict[str, Any]
    entries: list[tuple[str, str, str]]
    tree: list[list[bytes]]


def _check(headers: Mapping[str, Any], body: bytes, keys: Mapping[str, Ed25519PublicKey]) -> _Checked:
    batch = _object(body, "batch body")
    head, template = batch.get("head"), batch.get("template")
    if not isinstance(head, dict) or not isinstance(template, dict):
        raise SignatureInvalid("batch body lacks its head or template")
    kid = verify_event(headers, canonical_json(head), keys)
    if attributes(headers).get("type") != NOTICE_BATCH:
        raise SignatureInvalid("not a notice batch")
    if head.get("template_sha256") != template_digest(template):
        raise SignatureInvalid("template does not match the signed digest")
    event = head.get("event")
    if not isinstance(event, dict) or template.get("business_id") != event.get("subject"):
        raise SignatureInvalid("template's business is not the batch's subject")
    root, size = _root(head)
    entries = _entries(batch.get("notices"), size)
    tree = merkle.levels([entry_leaf(*entry) for entry in entries])
    if tree[-1][0] != root:
        raise SignatureInvalid("entries do not hash to the signed root")
    jws = headers.get(f"cloudEvents_{JWS_EXTENSION}", headers.get(f"cloudEvents:{JWS_EXTENSION}", b""))
    return _Checked(kid, jws.decode() if isinstance(jws, bytes) else str(jws), head, template, entries, tree)


def split_batch(
    headers: Mapping[str, Any], body: bytes, keys: Mapping[str, Ed25519PublicKey]
) -> tuple[str, list[BatchedNotice]]:
    """Verify a batch as a whole; return its signing kid and one notice per chat, in order.

    SignatureInvalid when anything does not hold: the batch must then be dropped whole.
    """
    checked = _check(headers, body, keys)
    shared = {"head": checked.head, "jws": checked.jws, "template": checked.template}
    notices: list[BatchedNotice] = []
    for index, (user_id, notice_id, salt) in enumerate(checked.entries):
        path = [b64url_encode(h) for h in merkle.level_path(checked.tree, index)]
        entry = {"notice_id": notice_id, "salt": salt, "user_id": user_id}
        body_of_one = canonical_json({**shared, "notice": entry, "proof": {"hashes": path, "index": index}})
        notices.append(BatchedNotice(user_id, notice_id, body_of_one))
    return checked.kid, notices


def notices_of(
    headers: Mapping[str, Any], body: bytes, keys: Mapping[str, Ed25519PublicKey]
) -> tuple[str, list[NoticeDocument]]:
    """The network's own view of a batch: its kid and every chat's notice (checked once)."""
    checked = _check(headers, body, keys)
    documents = [
        _document(checked.template, user_id, notice_id, checked.head)
        for user_id, notice_id, _salt in checked.entries
    ]
    return checked.kid, documents


def _part(given: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = given.get(name)
    if not isinstance(value, dict):
        raise SignatureInvalid(f"notice lacks its {name}")
    return value


def _hashes(raw: object) -> list[bytes]:
    if not isinstance(raw, list) or not all(isinstance(h, str) for h in raw):
        raise SignatureInvalid("audit path is not a list of hashes")
    try:
        return [b64url_decode(h) for h in raw]
    except ValueError as exc:
        raise SignatureInvalid("audit path holds a hash that is not base64url") from exc


def verify_batched_notice(body: bytes, keys: Mapping[str, Ed25519PublicKey]) -> VerifiedNotice:
    """A user's client: prove one batched notice on its own; SignatureInvalid when it does not hold.

    The caller still checks that ``document.user_id`` is its own user, as for a per-chat notice.
    """
    given = _object(body, "notice")
    head, template, entry, proof = (_part(given, k) for k in ("head", "template", "notice", "proof"))
    protected = verify_detached(str(given.get("jws", "")), canonical_json(head), keys)
    event = head.get("event")
    if not isinstance(event, dict) or event.get("type") != NOTICE_BATCH:
        raise SignatureInvalid("head is not a notice batch's")
    if head.get("template_sha256") != template_digest(template):
        raise SignatureInvalid("template does not match the signed digest")
    root, size = _root(head)
    user_id, notice_id, salt = (entry.get(k) for k in ("user_id", "notice_id", "salt"))
    index = proof.get("index")
    if not (isinstance(user_id, str) and isinstance(notice_id, str) and isinstance(salt, str)):
        raise SignatureInvalid("entry is not {user_id, notice_id, salt}")
    if not isinstance(index, int) or not merkle.verify_inclusion(
        entry_leaf(user_id, notice_id, salt), index, size, _hashes(proof.get("hashes")), root
    ):
        raise SignatureInvalid("entry is not in the signed batch")
    document = _document(template, user_id, notice_id, head)
    if document.business_id != event.get("subject"):
        raise SignatureInvalid("notice's business is not the batch's subject")
    return VerifiedNotice(document, str(event.get("id", "")), str(protected["kid"]))
