r"""Signed checkpoints in the signed-note format (as used by Go's checksum database).

A note is a text body, a blank line, then signature lines::

    hostgate.audit/<origin>
    <size>
    <head hash, hex>
    <time, RFC 3339>

    — <key name> <base64(key hash (4 bytes) || Ed25519 signature (64 bytes))>

The signature is over the body (every line up to and including the last newline
before the blank line). The key hash is the first 4 bytes of
SHA-256(``<name>\n`` || 0x01 || public key). A verifier key is written
``<name>+<key hash, 8 hex>+<base64(0x01 || public key)>``.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.errors import CheckpointError
from gateway.transparency.note import key_id, note, sign
from gateway.transparency.note import verifier_key as note_verifier_key

ORIGIN_PREFIX = "hostgate.audit/"
_ED25519 = b"\x01"
_DASH = "\u2014"  # an em dash starts every signature line


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What a checkpoint commits to: the first ``size`` records, whose last hash is ``head``."""

    origin: str
    size: int
    head: str
    time: datetime

    def body(self) -> str:
        """The signed text."""
        stamp = self.time.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return f"{ORIGIN_PREFIX}{self.origin}\n{self.size}\n{self.head}\n{stamp}\n"


def key_hash(name: str, public: Ed25519PublicKey) -> int:
    """The 32-bit key hash that names the key in a signature line."""
    return int(struct.unpack(">I", key_id(name, public))[0])


def verifier_key(name: str, public: Ed25519PublicKey) -> str:
    """The verifier key string for ``public`` under ``name``."""
    return note_verifier_key(name, public)


def parse_verifier_key(text: str) -> tuple[str, Ed25519PublicKey]:
    """Read ``<name>+<hash>+<base64 key>``; check the hash matches."""
    try:
        name, hash_hex, encoded = text.strip().split("+", 2)
        raw = base64.b64decode(encoded, validate=True)
    except ValueError as exc:
        raise CheckpointError("verifier key must be <name>+<hash>+<base64 key>") from exc
    if len(raw) != 33 or raw[:1] != _ED25519:  # noqa: PLR2004 -- algorithm byte + 32-byte key
        raise CheckpointError("verifier key is not an Ed25519 key")
    public = Ed25519PublicKey.from_public_bytes(raw[1:])
    if f"{key_hash(name, public):08x}" != hash_hex:
        raise CheckpointError("verifier key hash does not match the key")
    return name, public


def sign_note(checkpoint: Checkpoint, name: str, private: Ed25519PrivateKey) -> str:
    """The full note: body, blank line, one signature line."""
    body = checkpoint.body()
    return note(body, [sign(body, name, private)])


def split_notes(text: str) -> list[str]:
    """Split a checkpoints file (notes one after another) into notes."""
    notes, current = [], []
    for line in text.splitlines(keepends=True):
        current.append(line)
        if line.startswith(_DASH) and line.endswith("\n"):
            notes.append("".join(current))
            current = []
    if "".join(current).strip():
        notes.append("".join(current))
    return notes


def verify_note(note: str, keys: dict[str, Ed25519PublicKey]) -> Checkpoint:
    """Check a note's signature against a known key and return what it commits to."""
    body, sep, signatures = note.partition("\n\n")
    if not sep:
        raise CheckpointError("note has no signature block")
    body += "\n"
    verified = False
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _DASH:  # noqa: PLR2004 -- dash, name, signature
            raise CheckpointError("malformed signature line")
        name, encoded = parts[1], parts[2]
        public = keys.get(name)
        if public is None:
            continue
        blob = base64.b64decode(encoded)
        if len(blob) != 68 or struct.unpack(">I", blob[:4])[0] != key_hash(name, public):  # noqa: PLR2004 -- 4 + 64
            raise CheckpointError(f"signature by {name} names another key")
        try:
            public.verify(blob[4:], body.encode())
        except InvalidSignature as exc:
            raise CheckpointError(f"bad signature by {name}") from exc
        verified = True
    if not verified:
        raise CheckpointError("no signature by a known key")
    lines = body.splitlines()
    if len(lines) != 4 or not lines[0].startswith(ORIGIN_PREFIX):  # noqa: PLR2004 -- origin, size, head, time
        raise CheckpointError("checkpoint body is not origin/size/head/time")
    try:
        return Checkpoint(
            origin=lines[0].removeprefix(ORIGIN_PREFIX),
            size=int(lines[1]),
            head=lines[2],
            time=datetime.fromisoformat(lines[3]),
        )
    except ValueError as exc:
        raise CheckpointError("checkpoint body has a malformed field") from exc
