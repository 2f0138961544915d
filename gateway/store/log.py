"""The transparency log's leaves and signed checkpoints, sequenced by one row every appender updates."""

from __future__ import annotations

import time

from gateway.store.sql import Sql


class SqlLog:
    """The transparency log over :class:`Sql`."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def append(self, business_id: str, revision: int, entry: bytes, leaf_hash: bytes) -> int:
        """Add a leaf at the end; return its index (the size row is locked until the unit ends)."""
        row = await self._sql.one("UPDATE log_state SET size = size + 1 WHERE id = 1 RETURNING size - 1")
        assert row is not None  # noqa: S101 -- the migration creates the one row
        index = int(row[0])
        await self._sql.execute(
            "INSERT INTO log_leaves (idx, business_id, revision, entry, leaf_hash) VALUES (?, ?, ?, ?, ?)",
            (index, business_id, revision, entry, leaf_hash),
        )
        return index

    async def size(self) -> int:
        """How many leaves the log holds."""
        row = await self._sql.one("SELECT size FROM log_state WHERE id = 1")
        return 0 if row is None else int(row[0])

    async def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """The leaf hashes of indexes start..end-1, in order."""
        rows = await self._sql.all(
            "SELECT leaf_hash FROM log_leaves WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end)
        )
        return [bytes(r[0]) for r in rows]

    async def entries(self, start: int, end: int) -> list[bytes]:
        """The entries (signed disclosure bodies) of indexes start..end-1, in order."""
        rows = await self._sql.all(
            "SELECT entry FROM log_leaves WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end)
        )
        return [bytes(r[0]) for r in rows]

    async def index_of(self, business_id: str, revision: int) -> int | None:
        """Where a business's revision sits in the log, or None when it is not in it."""
        row = await self._sql.one(
            "SELECT idx FROM log_leaves WHERE business_id = ? AND revision = ?", (business_id, revision)
        )
        return None if row is None else int(row[0])

    async def save_checkpoint(self, size: int, note: str) -> bool:
        """Keep a signed checkpoint; False when one of that size is kept already."""
        added = await self._sql.execute(
            "INSERT INTO log_checkpoints (size, note, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (size, note, time.time()),
        )
        return added == 1

    async def latest_checkpoint(self) -> tuple[int, str] | None:
        """The largest signed checkpoint: its size and note."""
        row = await self._sql.one("SELECT size, note FROM log_checkpoints ORDER BY size DESC LIMIT 1")
        return None if row is None else (int(row[0]), str(row[1]))

    async def unlogged(self) -> list[tuple[str, int, bytes]]:
        """Revisions made before the log existed, oldest first; appends are locked until the unit ends."""
        # The same lock an append takes: two processes upgrading at once back-fill one after the other.
        await self._sql.execute("UPDATE log_state SET size = size WHERE id = 1")
        rows = await self._sql.all(
            "SELECT d.business_id, d.revision, d.document FROM disclosures d WHERE NOT EXISTS"
            " (SELECT 1 FROM log_leaves l WHERE l.business_id = d.business_id AND l.revision = d.revision)"
            " ORDER BY d.created_at, d.business_id, d.revision"
        )
        return [(str(r[0]), int(r[1]), bytes(r[2])) for r in rows]

    async def cosigned(self, size: int, note: str) -> None:
        """Replace the note of checkpoint ``size`` with the same checkpoint carrying more cosignatures."""
        await self._sql.execute("UPDATE log_checkpoints SET note = ? WHERE size = ?", (note, size))
