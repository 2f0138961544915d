"""Console sign-in sessions, kept by the hash of their token so a copy of the database signs nobody in."""

from __future__ import annotations

from gateway.store.sql import Sql


class SqlSessions:
    """Operator sessions over :class:`Sql`, timed by the database's clock."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def open(self, token_hash: str, key_hash: str, seconds: float) -> None:
        """Start a session (and forget the expired ones)."""
        now = self._sql.now
        await self._sql.execute(f"DELETE FROM console_sessions WHERE expires_at <= {now}")  # noqa: S608 -- engine's clock expression
        await self._sql.execute(
            f"INSERT INTO console_sessions (token_hash, key_hash, expires_at) VALUES (?, ?, {now} + ?)",  # noqa: S608 -- engine's clock expression
            (token_hash, key_hash, seconds),
        )

    async def key_of(self, token_hash: str) -> str | None:
        """The operator key hash of a live session, or None (unknown or expired)."""
        row = await self._sql.one(
            f"SELECT key_hash FROM console_sessions WHERE token_hash = ? AND expires_at > {self._sql.now}",  # noqa: S608 -- engine's clock expression
            (token_hash,),
        )
        return None if row is None else str(row[0])

    async def close(self, token_hash: str) -> None:
        """End a session."""
        await self._sql.execute("DELETE FROM console_sessions WHERE token_hash = ?", (token_hash,))
