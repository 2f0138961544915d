"""Operator sign-in sessions: a random token in an HttpOnly cookie, its hash in the store.

In the store, not in memory, so a console request landing on another worker or
replica finds the session any of them opened. Only the token's hash is kept, so a
copy of the database signs nobody in. A session ends when it expires, when its
operator signs out, or when its operator key is removed from the config.
"""

from __future__ import annotations

import hashlib
import secrets

from gateway.store import Store


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class OperatorSessions:
    """Tokens of signed-in operators."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def open(self, key_hash: str, minutes: int) -> str:
        """Start a session for the holder of ``key_hash``; return its token."""
        token = secrets.token_urlsafe(32)
        async with self._store.unit() as tx:
            await tx.sessions.open(_digest(token), key_hash, minutes * 60)
        return token

    async def valid(self, token: str | None, valid_hashes: list[str]) -> bool:
        """Whether ``token`` is a live session whose operator key is still configured."""
        if not token:
            return False
        async with self._store.read() as tx:
            key_hash = await tx.sessions.key_of(_digest(token))
        if key_hash is None:
            return False
        if key_hash not in valid_hashes:
            await self.close(token)
            return False
        return True

    async def close(self, token: str | None) -> None:
        """End a session (sign out)."""
        if token:
            async with self._store.unit() as tx:
                await tx.sessions.close(_digest(token))
