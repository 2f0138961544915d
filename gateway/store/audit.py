"""Audit records staged in the unit of the work they record, until the drain moves them to the chain."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gateway.store.records import StagedRecord
from gateway.store.sql import Sql

_STAGE = "INSERT INTO audit_staged (record) VALUES (?)"


class SqlAuditStaging:
    """Staged audit records over :class:`Sql`."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def stage(self, record: bytes) -> None:
        """Stage one rendered record."""
        await self._sql.execute(_STAGE, (record,))

    async def stage_many(self, records: Sequence[bytes]) -> None:
        """Stage rendered records, in this order, in one statement."""
        await self._sql.executemany(_STAGE, [(record,) for record in records])

    async def pending(self, limit: int) -> list[StagedRecord]:
        """The oldest staged records."""
        rows = await self._sql.all("SELECT id, record FROM audit_staged ORDER BY id LIMIT ?", (limit,))
        return [StagedRecord(int(r[0]), bytes(r[1])) for r in rows]

    async def count(self) -> int:
        """How many records wait for the chain (the drain's lag)."""
        row = await self._sql.one("SELECT count(*) FROM audit_staged")
        return 0 if row is None else int(row[0])

    async def forget(self, ids: Iterable[int]) -> None:
        """Drop exactly these staged records (the trail has them).

        Never "every id up to n": on PostgreSQL ids are handed out at insert and committed
        in any order, so a smaller id can become visible after a larger one was drained.
        """
        await self._sql.executemany("DELETE FROM audit_staged WHERE id = ?", [(i,) for i in ids])
