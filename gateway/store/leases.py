"""Leases: a named job held by one process at a time, cluster-wide, for a few seconds at a time.

A holder claims a lease for ``seconds`` and renews it by claiming again before it runs
out; once it has run out anyone may take it over. Times are the database's clock, so
the processes' own clocks may disagree. Work done under a lease checks ``holds`` in
the same unit as the work (on PostgreSQL that locks the lease row until the unit ends,
so a takeover waits for it): a holder that paused past its expiry cannot write.
"""

from __future__ import annotations

from gateway.store.sql import Sql


class SqlLeases:
    """Leases over :class:`Sql`."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def claim(self, name: str, holder: str, seconds: float) -> bool:
        """Take or renew ``name`` for ``seconds``; False when someone else holds it unexpired."""
        now = self._sql.now
        row = await self._sql.one(
            f"INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, {now} + ?)"  # noqa: S608 -- engine's clock expression
            " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at"
            f" WHERE leases.holder = excluded.holder OR leases.expires_at < {now}"
            " RETURNING holder",
            (name, holder, seconds),
        )
        return row is not None

    async def holds(self, name: str, holder: str) -> bool:
        """Whether ``holder`` holds ``name`` now (and, on PostgreSQL, keeps it until the unit ends)."""
        row = await self._sql.one(
            f"SELECT 1 FROM leases WHERE name = ? AND holder = ? AND expires_at >= {self._sql.now}"  # noqa: S608 -- engine's clock expression
            + self._sql.for_update,
            (name, holder),
        )
        return row is not None

    async def release(self, name: str, holder: str) -> None:
        """Give ``name`` up at once (a clean shutdown), if ``holder`` has it."""
        await self._sql.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))

    async def live(self, prefix: str) -> dict[str, str]:
        """Unexpired leases whose name starts with ``prefix``: name -> holder."""
        rows = await self._sql.all(
            f"SELECT name, holder FROM leases WHERE name >= ? AND name < ? AND expires_at >= {self._sql.now}",  # noqa: S608 -- engine's clock expression
            (prefix, prefix + "\U0010ffff"),
        )
        return {str(r[0]): str(r[1]) for r in rows}
