"""Disclosure revisions: one row per (business, revision), the signed body kept byte for byte."""

from __future__ import annotations

from gateway.store.records import DisclosureRow
from gateway.store.sql import Row, Sql

_COLUMNS = "business_id, revision, fingerprint, hosting_fingerprint, document, jws, created_at"


def _row(r: Row) -> DisclosureRow:
    return DisclosureRow(str(r[0]), int(r[1]), str(r[2]), str(r[3]), bytes(r[4]), str(r[5]), str(r[6]))


class SqlDisclosures:
    """Disclosures over :class:`Sql`."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def hold(self, business_id: str) -> None:
        """Make this unit the only one deciding the business's next revision, in any process."""
        await self._sql.hold(f"hostgate.disclosures:{business_id}")

    async def latest(self, business_id: str) -> DisclosureRow | None:
        """The newest revision of a business."""
        row = await self._sql.one(
            f"SELECT {_COLUMNS} FROM disclosures WHERE business_id = ? ORDER BY revision DESC LIMIT 1",  # noqa: S608 -- constant column list
            (business_id,),
        )
        return None if row is None else _row(row)

    async def latest_revision(self, business_id: str) -> int | None:
        """The newest revision number of a business (one index lookup, no document)."""
        row = await self._sql.one(
            "SELECT revision FROM disclosures WHERE business_id = ? ORDER BY revision DESC LIMIT 1",
            (business_id,),
        )
        return None if row is None else int(row[0])

    async def latest_revisions(self) -> dict[str, int]:
        """The newest revision number of every business."""
        rows = await self._sql.all("SELECT business_id, max(revision) FROM disclosures GROUP BY business_id")
        return {str(r[0]): int(r[1]) for r in rows}

    async def history(self, business_id: str) -> list[DisclosureRow]:
        """Every revision of a business, newest first."""
        rows = await self._sql.all(
            f"SELECT {_COLUMNS} FROM disclosures WHERE business_id = ? ORDER BY revision DESC",  # noqa: S608 -- constant column list
            (business_id,),
        )
        return [_row(r) for r in rows]

    async def add(self, row: DisclosureRow) -> None:
        """Persist a new revision; StoreConflict when that revision exists already."""
        await self._sql.execute(
            f"INSERT INTO disclosures ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 -- constant column list
            (
                row.business_id,
                row.revision,
                row.fingerprint,
                row.hosting_fingerprint,
                row.body,
                row.jws,
                row.created_at,
            ),
        )
