r"""C2SP checkpoints in C2SP signed notes, and C2SP tlog-cosignature/v1 witness cosignatures.

A checkpoint body (c2sp.org/tlog-checkpoint) is::

    <origin>\n
    <tree size, decimal>\n
    <root hash, standard base64>\n

A signed note (c2sp.org/signed-note) is the body, a blank line, then one line
per signature: ``— <key name> <base64(key ID (4 bytes) || signature)>``. For an
Ed25519 log key the key ID is the first 4 bytes of SHA-256(name || 0x0A || 0x01
|| public key) and the signature is over the body. A witness cosignature
(c2sp.org/tlog-cosignature) uses type byte 0x04 in its key ID and signs
``cosignature/v1\ntime <t>\n`` followed by the body; its signature field is key
ID || t (8 bytes, big-endian) || signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.errors import CheckpointError

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
DASH = "\u2014"
MAX_ORIGIN = 200


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's commitment: its origin, how many leaves, and the root hash of those leaves."""

    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        """The checkpoint text that is signed."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Read a checkpoint body (extension lines refused: hostgate's logs write none)."""
        lines = body.split("\n")
        if len(lines) != 4 or lines[3] != "":  # noqa: PLR2004 -- origin, size, root, and the final newline
            raise CheckpointError("checkpoint body is not origin, size and root hash lines")
        origin, size_text, root_text = lines[:3]
        if not origin or len(origin) > MAX_ORIGIN or not origin.isprintable():
            raise CheckpointError("checkpoint origin is empty, too long or not printable")
        if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
            raise CheckpointError("checkpoint size is not a decimal number")
        try:
            root = base64.b64decode(root_text, validate=True)
        except binascii.Error as exc:
            raise CheckpointError("checkpoint root hash is not base64") from exc
        if len(root) != 32:  # noqa: PLR2004 -- SHA-256
            raise CheckpointError("checkpoint root hash is not 32 bytes")
        return cls(origin, int(size_text), root)


def peek(text: str) -> Checkpoint:
    """The checkpoint a note claims, unverified (to plan a proof before :func:`open_note` checks it)."""
    return Checkpoint.parse(text.partition("\n\n")[0] + "\n")


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(name: str, public: Ed25519PublicKey, kind: int = ED25519) -> bytes:
    """The 4-byte key ID naming ``public`` under ``name`` for signatures of ``kind``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + _raw(public)).digest()[:4]


def verifier_key(name: str, public: Ed25519PublicKey, kind: int = ED25519) -> str:
    """The vkey text ``<name>+<key ID hex>+<base64(type || key)>`` others configure to verify us."""
    encoded = base64.b64encode(bytes([kind]) + _raw(public)).decode()
    return f"{name}+{key_id(name, public, kind).hex()}+{encoded}"


@dataclass(frozen=True, slots=True)
class Verifier:
    """One trusted key: a log's (Ed25519) or a witness's (cosignature/v1)."""

    name: str
    public: Ed25519PublicKey
    kind: int = ED25519

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Read a vkey; its key ID must match the key."""
        try:
            name, id_hex, encoded = vkey.strip().split("+", 2)
            raw = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise CheckpointError("verifier key must be <name>+<key ID>+<base64 key>") from exc
        if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):  # noqa: PLR2004 -- type + 32-byte key
            raise CheckpointError("verifier key is not an Ed25519 or cosignature/v1 key")
        verifier = cls(name, Ed25519PublicKey.from_public_bytes(raw[1:]), raw[0])
        if key_id(name, verifier.public, verifier.kind).hex() != id_hex:
            raise CheckpointError("verifier key ID does not match the key")
        return verifier

    @property
    def id(self) -> bytes:
        """This key's 4-byte key ID."""
        return key_id(self.name, self.public, self.kind)


def sign(body: str, name: str, private: Ed25519PrivateKey) -> str:
    """One signature line by a log key over ``body``."""
    blob = key_id(name, private.public_key()) + private.sign(body.encode())
    return f"{DASH} {name} {base64.b64encode(blob).decode()}\n"


def cosign(body: str, name: str, private: Ed25519PrivateKey, timestamp: int) -> str:
    """One tlog-cosignature/v1 line by a witness key over ``body`` at ``timestamp`` (Unix seconds)."""
    message = f"cosignature/v1\ntime {timestamp}\n{body}".encode()
    blob = (
        key_id(name, private.public_key(), COSIGNATURE_V1)
        + struct.pack(">Q", timestamp)
        + private.sign(message)
    )
    return f"{DASH} {name} {base64.b64encode(blob).decode()}\n"


def note(body: str, signatures: list[str]) -> str:
    """A signed note from a body and its signature lines."""
    return body + "\n" + "".join(signatures)


@dataclass(frozen=True, slots=True)
class OpenedNote:
    """A note whose signatures were checked: its checkpoint, and who signed it when."""

    checkpoint: Checkpoint
    body: str
    signers: frozenset[str]
    cosigned_at: dict[str, int]
    lines: tuple[str, ...]


def open_note(text: str, log: Verifier, witnesses: tuple[Verifier, ...] = ()) -> OpenedNote:
    """Check the log's signature (required) and any witness cosignatures; unknown signers are skipped."""
    body, sep, block = text.partition("\n\n")
    if not sep or not block.endswith("\n"):
        raise CheckpointError("note has no signature block")
    body += "\n"
    checkpoint = Checkpoint.parse(body)
    known = {(v.name, v.id): v for v in (log, *witnesses)}
    signers: set[str] = set()
    cosigned: dict[str, int] = {}
    lines = block[:-1].split("\n")
    for line in lines:
        checked = check_line(line, known, body)
        if checked is None:
            continue
        name, timestamp = checked
        signers.add(name)
        if timestamp is not None:
            cosigned[name] = timestamp
    if log.name not in signers or log.kind != ED25519:
        raise CheckpointError(f"checkpoint not signed by the log key {log.name}")
    if checkpoint.origin != log.name:
        raise CheckpointError(f"checkpoint origin {checkpoint.origin!r} is not the log's {log.name!r}")
    return OpenedNote(checkpoint, body, frozenset(signers), cosigned, tuple(lines))


def check_line(
    line: str, known: dict[tuple[str, bytes], Verifier], body: str
) -> tuple[str, int | None] | None:
    """Verify one signature line by a key in ``known``: its signer and cosigning time; None for other keys."""
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != DASH:  # noqa: PLR2004 -- dash, name, signature
        raise CheckpointError("malformed signature line")
    try:
        blob = base64.b64decode(parts[2], validate=True)
    except binascii.Error as exc:
        raise CheckpointError("signature is not base64") from exc
    verifier = known.get((parts[1], blob[:4]))
    if verifier is None:
        return None
    timestamp: int | None = None
    if verifier.kind == COSIGNATURE_V1:
        if len(blob) != 4 + 8 + 64:
            raise CheckpointError(f"cosignature by {verifier.name} is malformed")
        (timestamp,) = struct.unpack(">Q", blob[4:12])
        message, signature = f"cosignature/v1\ntime {timestamp}\n{body}".encode(), blob[12:]
    else:
        if len(blob) != 4 + 64:
            raise CheckpointError(f"signature by {verifier.name} is malformed")
        message, signature = body.encode(), blob[4:]
    try:
        verifier.public.verify(signature, message)
    except InvalidSignature as exc:
        raise CheckpointError(f"bad signature by {verifier.name}") from exc
    return verifier.name, timestamp
