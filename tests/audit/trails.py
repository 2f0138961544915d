"""Build real trails with the real writer, for the audit tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.audit.chain import FILE_PATTERN
from gateway.audit.checkpoint import verifier_key
from gateway.audit.writer import ChainWriter, WriterSettings
from gateway.disclosure.keys import KeyRing


@dataclass(frozen=True)
class Trail:
    """A closed trail: its files, its checkpoints and the key that signed them."""

    directory: Path
    files: list[Path]
    checkpoints: Path
    key: str
    ring: KeyRing


def writer_for(
    directory: Path, ring: KeyRing, *, every: int = 5, rotate_bytes: int = 64 * 1024 * 1024
) -> ChainWriter:
    """A writer over ``directory`` that checkpoints every ``every`` records."""
    settings = WriterSettings(
        directory=directory,
        checkpoints_file=directory / "checkpoints.note",
        origin="test",
        rotate_bytes=rotate_bytes,
        checkpoint_every=every,
        checkpoint_seconds=3600,
    )
    return ChainWriter(settings, signer=lambda: (ring.active.kid, ring.active.private))


def build_trail(
    directory: Path, records: int, *, every: int = 5, rotate_bytes: int = 64 * 1024 * 1024
) -> Trail:
    """Write ``records`` records through the real writer and close it (a final checkpoint follows)."""
    ring = KeyRing.open(directory / "keys")
    audit = directory / "audit"
    writer = writer_for(audit, ring, every=every, rotate_bytes=rotate_bytes)
    writer.open()
    for i in range(records):
        writer.submit(
            {"event": "keys.rotated", "ts": f"2026-11-29T00:00:{i % 60:02d}Z", "kid": f"k{i}"}
        ).result()
    writer.close()
    key = verifier_key(ring.active.kid, ring.active.public)
    return Trail(audit, sorted(audit.glob(FILE_PATTERN)), audit / "checkpoints.note", key, ring)
