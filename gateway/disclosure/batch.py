"""Notices in batches: one signature over the Merkle root of a window of per-chat notices.

One AMQP message (``com.hostgate.notice.batch``) carries a whole fan-out window:

- headers: the batch's CloudEvents attributes and ``cloudEvents_jws``, as for every event;
- body: ``{"head": HEAD, "notices": [[user_id, notice_id, salt], ...], "template": TEMPLATE}``;
- ``HEAD = {"event": attributes, "root": b64url, "size": n, "template_sha256": b64url}``, and
  the JWS payload is ``canonical_json(HEAD)``;
- leaf ``i`` is ``SHA-256(0x00 || canonical_json({"notice_id", "salt", "user_id"}))`` of the
  i-th entry (RFC 9162 hashing, the same tree code as the transparency log).

User X's notice is ``TEMPLATE`` plus X's ``user_id`` and ``notice_id``. A client proves it
alone, with what :mod:`gateway.client.batches` hands the network for that one user: the
template hashes to ``template_sha256``, X's entry is in ``root`` (its audit path), and HEAD
is signed. The 16 random bytes of ``salt`` per entry make a sibling hash in X's path
worthless for guessing who else was in the window; ``size`` tells X how many were.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime

from gateway.disclosure.document import canonical_json
from gateway.disclosure.keys import SigningKey
from gateway.disclosure.signed import EventSigner
from gateway.encoding import b64url_encode
from gateway.events import NOTICE_BATCH
from gateway.transparency import merkle

SALT_BYTES = 16


def entry_leaf(user_id: str, notice_id: str, salt: str) -> bytes:
    """The leaf hash of one chat's entry."""
    return merkle.leaf_hash(canonical_json({"notice_id": notice_id, "salt": salt, "user_id": user_id}))


def template_digest(template: Mapping[str, object]) -> str:
    """The head's ``template_sha256``: SHA-256 of the canonical template, base64url."""
    return b64url_encode(hashlib.sha256(canonical_json(template)).digest())


def sign_batch(
    batch_id: str,
    subject: str,
    when: datetime,
    template: Mapping[str, object],
    recipients: Sequence[tuple[str, str]],
    key: SigningKey,
) -> tuple[dict[str, str | int], bytes]:
    """AMQP headers and body of one batch of notices to ``recipients`` ((user id, notice id) pairs)."""
    entries = [
        (user, notice_id, b64url_encode(secrets.token_bytes(SALT_BYTES))) for user, notice_id in recipients
    ]
    tree = merkle.levels([entry_leaf(*entry) for entry in entries])
    head = {
        "root": b64url_encode(tree[-1][0]),
        "size": len(entries),
        "template_sha256": template_digest(template),
    }
    headers, head_bytes = EventSigner(NOTICE_BATCH, subject, key, when).sign(batch_id, head)
    # Assembled from canonical parts in key order, so the body is canonical JSON too.
    body = b"".join(
        (
            b'{"head":',
            head_bytes,
            b',"notices":',
            canonical_json(entries),
            b',"template":',
            canonical_json(template),
            b"}",
        )
    )
    return headers, body
