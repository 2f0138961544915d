"""Whether a business's endpoint is healthy, failing since when, or disabled (and why)."""

from __future__ import annotations

import time

from gateway.store.sql import Sql


class SqlEndpoints:
    """Endpoint health over :class:`Sql`."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def record_success(self, business_id: str) -> None:
        """A delivery went through: the endpoint is not failing."""
        await self._sql.execute(
            "UPDATE endpoint_health SET failing_since = NULL"
            " WHERE business_id = ? AND failing_since IS NOT NULL",
            (business_id,),
        )

    async def record_failure(self, business_id: str) -> float:
        """A delivery failed; return since when the endpoint has been failing."""
        row = await self._sql.one(
            "INSERT INTO endpoint_health (business_id, failing_since) VALUES (?, ?)"
            " ON CONFLICT (business_id) DO UPDATE"
            " SET failing_since = coalesce(endpoint_health.failing_since, excluded.failing_since)"
            " RETURNING failing_since",
            (business_id, time.time()),
        )
        assert row is not None  # noqa: S101 -- an upsert with RETURNING always returns its row
        return float(row[0])

    async def disable(self, business_id: str, reason: str) -> bool:
        """Disable the endpoint; False when it already was."""
        changed = await self._sql.execute(
            "INSERT INTO endpoint_health (business_id, disabled_at, reason) VALUES (?, ?, ?)"
            " ON CONFLICT (business_id) DO UPDATE"
            " SET disabled_at = excluded.disabled_at, reason = excluded.reason"
            " WHERE endpoint_health.disabled_at IS NULL",
            (business_id, time.time(), reason),
        )
        return changed == 1

    async def enable(self, business_id: str) -> bool:
        """Re-enable the endpoint; False when it was not disabled."""
        changed = await self._sql.execute(
            "UPDATE endpoint_health SET disabled_at = NULL, reason = NULL, failing_since = NULL"
            " WHERE business_id = ? AND disabled_at IS NOT NULL",
            (business_id,),
        )
        return changed == 1

    async def disabled_reason(self, business_id: str) -> str | None:
        """Why the endpoint is disabled, or None when it is not."""
        row = await self._sql.one(
            "SELECT reason FROM endpoint_health WHERE business_id = ? AND disabled_at IS NOT NULL",
            (business_id,),
        )
        return None if row is None else str(row[0])
