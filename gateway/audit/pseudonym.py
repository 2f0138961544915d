"""Keyed pseudonyms for user ids: the same user always maps to the same token, irreversibly.

The key lives with the gateway's signing keys, apart from the trail, so a copy of
the trail alone cannot be linked back to users by hashing guessed ids.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

PREFIX = "u_"
KEY_FILE = "audit-pseudonym.key"


class Pseudonymizer:
    """HMAC-SHA256 of a user id under a secret key, truncated to 128 bits."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def open(cls, directory: Path) -> Pseudonymizer:
        """Load the key from ``directory``, creating it (0600) on first use."""
        path = directory / KEY_FILE
        if not path.exists():
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
        return cls(bytes.fromhex(path.read_text().strip()))

    def __call__(self, user_id: str) -> str:
        """The pseudonym of ``user_id``."""
        # hmac.digest: the one-shot form, without an HMAC object per call.
        return PREFIX + hmac.digest(self._key, user_id.encode(), "sha256")[:16].hex()
