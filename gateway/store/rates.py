"""Token buckets shared by every process: one row per key, refilled by the database's clock.

A process takes a *batch* of tokens at a time and spends them locally, so the row is
written once per batch, not once per request. Tokens are only ever handed out from the
row, so however many processes take, the total admitted never exceeds the bucket.
"""

from __future__ import annotations

from gateway.store.sql import Sql


class SqlRates:
    """Shared token buckets over :class:`Sql`."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def take(self, key: str, want: int, per_second: float, burst: int) -> tuple[int, float]:
        """Take up to ``want`` whole tokens; return how many, and the seconds until one is free if none."""
        now = self._sql.now
        refilled = f"rate_buckets.tokens + ({now} - rate_buckets.updated) * ?"
        row = await self._sql.one(
            f"INSERT INTO rate_buckets (key, tokens, updated) VALUES (?, ?, {now})"  # noqa: S608 -- engine's clock expression
            f" ON CONFLICT (key) DO UPDATE SET tokens = CASE WHEN {refilled} > ? THEN ? ELSE {refilled} END,"
            f" updated = {now} RETURNING tokens",
            (key, float(burst), per_second, float(burst), float(burst), per_second),
        )
        assert row is not None  # noqa: S101 -- an upsert with RETURNING always returns its row
        tokens = float(row[0])
        granted = min(want, int(tokens))
        if granted:
            await self._sql.execute(
                "UPDATE rate_buckets SET tokens = tokens - ? WHERE key = ?", (granted, key)
            )
            return granted, 0.0
        return 0, (1 - tokens) / per_second
