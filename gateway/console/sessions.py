"""Operator sign-in sessions: a random token in an HttpOnly cookie, held in memory.

A restart signs everyone out, which is the safe default for a small operator team.
A session ends when it expires or when its operator key is removed from the config.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

# A bound on memory: past it, the oldest session is dropped (its operator signs in again).
MAX_SESSIONS = 200


@dataclass(frozen=True, slots=True)
class Session:
    """Who signed in (the hash of their operator key) and until when."""

    key_hash: str
    expires_at: float


class OperatorSessions:
    """Tokens of signed-in operators."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    def open(self, key_hash: str, minutes: int) -> str:
        """Start a session for the holder of ``key_hash``; return its token."""
        now = time.monotonic()
        self._sessions = {t: s for t, s in self._sessions.items() if s.expires_at > now}
        while len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        token = secrets.token_urlsafe(32)
        self._sessions[token] = Session(key_hash, now + minutes * 60)
        return token

    def find(self, token: str | None, valid_hashes: list[str]) -> Session | None:
        """The live session for ``token`` whose key is still configured, if any."""
        session = self._sessions.get(token) if token else None
        if session is None:
            return None
        if session.expires_at <= time.monotonic() or session.key_hash not in valid_hashes:
            self._sessions.pop(token or "", None)
            return None
        return session

    def close(self, token: str | None) -> None:
        """End a session (sign out)."""
        if token:
            self._sessions.pop(token, None)
