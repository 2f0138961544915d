"""Small private files the log, its witnesses and its clients keep: keys and last-seen state."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def ed25519_key_file(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key in ``path`` (hex seed), created 0600 on first use; another process's wins a race."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(os.urandom(32).hex() + "\n")
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(path.read_text().strip()))


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically and durably (0600): a crash leaves the old or the new."""
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    temporary.replace(path)
