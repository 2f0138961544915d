r"""The audit trail's signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes.

The trail is a hash chain (each record names the one before it) and, over the
same records, an RFC 6962 Merkle log: leaf ``i`` is record ``i + 1``'s line
exactly as written, without its newline. A checkpoint commits to the first
``size`` records with the root of that tree, in the format the disclosure log
and every standard tlog witness or client use::

    hostgate.audit/<origin>
    <size>
    <root hash, standard base64>

    — <key name> <base64(key ID (4 bytes) || Ed25519 signature)>

The key name is the signing key's ``kid`` (keys rotate; ``hostgate audit key``
prints every verifier key), and the key ID is the signed-note one, so
``hostgate audit verify`` and any signed-note verifier read the same notes.
Notes written before the trail was a Merkle log (a hex chain head and a time
line instead of a root) are still read, so an older trail keeps verifying.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.errors import CheckpointError
from gateway.transparency.merkle import leaf_hash
from gateway.transparency.note import Checkpoint, Verifier, check_line, key_id, note, sign
from gateway.transparency.note import verifier_key as note_verifier_key

ORIGIN_PREFIX = "hostgate.audit/"
_DASH = "\u2014"  # an em dash starts every signature line
_HEX_HEAD = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class LegacyCheckpoint:
    """A note from before the Merkle log: the first ``size`` records, the last of which hashes to ``head``."""

    size: int
    head: str


def origin(name: str) -> str:
    """The checkpoint origin of the trail written on ``name`` (the gateway's host name)."""
    return f"{ORIGIN_PREFIX}{name}"


def leaf(line: bytes) -> bytes:
    """The Merkle leaf hash of one record line (without its newline)."""
    return leaf_hash(line)


def verifier_key(name: str, public: Ed25519PublicKey) -> str:
    """The verifier key string for ``public`` under ``name``."""
    return note_verifier_key(name, public)


def parse_verifier_key(text: str) -> tuple[str, Ed25519PublicKey]:
    """Read ``<name>+<key ID>+<base64 key>``; check the key ID matches."""
    verifier = Verifier.parse(text)
    return verifier.name, verifier.public


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


def verify_note(text: str, keys: dict[str, Ed25519PublicKey]) -> Checkpoint | LegacyCheckpoint:
    """Check a note's signature against a known key and return what it commits to."""
    body, sep, block = text.partition("\n\n")
    if not sep or not block.endswith("\n"):
        raise CheckpointError("note has no signature block")
    body += "\n"
    known = {(name, key_id(name, public)): Verifier(name, public) for name, public in keys.items()}
    signed = [check_line(line, known, body) for line in block[:-1].split("\n")]
    if not any(signed):
        raise CheckpointError("no signature by a known key")
    return _body(body)


def _body(body: str) -> Checkpoint | LegacyCheckpoint:
    lines = body.splitlines()
    if len(lines) == 4 and _HEX_HEAD.fullmatch(lines[2]):  # noqa: PLR2004 -- origin, size, head, time
        if not lines[0].startswith(ORIGIN_PREFIX) or not lines[1].isdigit():
            raise CheckpointError("checkpoint body is not origin/size/head/time")
        return LegacyCheckpoint(int(lines[1]), lines[2])
    checkpoint = Checkpoint.parse(body)
    if not checkpoint.origin.startswith(ORIGIN_PREFIX):
        raise CheckpointError(f"checkpoint origin {checkpoint.origin!r} is not an audit trail's")
    return checkpoint


def root_text(checkpoint: Checkpoint) -> str:
    """The root hash as the checkpoint body spells it (base64)."""
    return base64.b64encode(checkpoint.root).decode()
