"""The durable outbox: events written in the same unit as the state they report.

Rows are published in ``seq`` order and deleted only once confirmed. Three kinds:
``event`` (published in windows), ``disclosure`` (a barrier: published alone, so
nothing after it goes out before it is confirmed) and ``fanout`` (one row that
stands for a notice to every open chat of a business, with a durable cursor).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import orjson

from gateway.store.records import NewOutboxRow, OutboxDepth, OutboxRow, RowKind
from gateway.store.sql import Row, Sql

_SELECT = (
    "SELECT seq, business_id, kind, exchange, routing_key, event_id, event_type, headers, body,"
    " cursor, created_at FROM outbox"
)
# Kept beside the CloudEvents headers in the row; becomes the AMQP per-message expiration.
_EXPIRATION = "amqp:expiration-ms"


def _row(values: Row) -> OutboxRow:
    seq, business_id, kind, exchange, routing_key, event_id, event_type, headers, body, cursor, created = (
        values
    )
    stored = orjson.loads(headers)
    expiration = stored.pop(_EXPIRATION, None)
    return OutboxRow(
        seq=int(seq),
        business_id=str(business_id),
        kind=RowKind(str(kind)),
        exchange=str(exchange),
        routing_key=str(routing_key),
        event_id=str(event_id),
        event_type=str(event_type),
        headers=stored,
        body=bytes(body),
        cursor=None if cursor is None else str(cursor),
        created_at=float(created),
        expiration_ms=None if expiration is None else int(expiration),
    )


_INSERT = (
    "INSERT INTO outbox (business_id, kind, exchange, routing_key, event_id, event_type,"
    " headers, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _values(row: NewOutboxRow, now: float) -> tuple[object, ...]:
    stored = dict(row.headers)
    if row.expiration_ms is not None:
        stored[_EXPIRATION] = row.expiration_ms
    return (
        row.business_id,
        row.kind.value,
        row.exchange,
        row.routing_key,
        row.event_id,
        row.event_type,
        orjson.dumps(stored).decode(),
        row.body,
        now,
    )


class SqlOutbox:
    """The outbox over :class:`Sql`."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def append(self, row: NewOutboxRow) -> int:
        """Queue a row; return its seq."""
        found = await self._sql.one(_INSERT + " RETURNING seq", _values(row, time.time()))
        assert found is not None  # noqa: S101 -- INSERT ... RETURNING always returns the row
        return int(found[0])

    async def append_many(self, rows: Sequence[NewOutboxRow]) -> None:
        """Queue rows, in this order, in one statement."""
        now = time.time()
        await self._sql.executemany(_INSERT, [_values(row, now) for row in rows])

    async def fetch(self, limit: int, businesses: Sequence[str] | None = None) -> list[OutboxRow]:
        """The oldest ``limit`` rows (of ``businesses`` only, when given), in publish order."""
        if businesses is not None and not businesses:
            return []
        where = "" if businesses is None else f" WHERE business_id IN ({', '.join('?' * len(businesses))})"
        query = f"{_SELECT}{where} ORDER BY seq LIMIT ?"
        rows = await self._sql.all(query, (*(businesses or ()), limit))
        return [_row(r) for r in rows]

    async def businesses(self) -> list[str]:
        """The businesses that have rows waiting."""
        # A skip over the (business_id, seq) index, one step per business: a plain DISTINCT would
        # read every row, and a backlog while the broker is away can be millions.
        rows = await self._sql.all(
            "SELECT id FROM (WITH RECURSIVE b(id) AS (SELECT min(business_id) FROM outbox"
            " UNION ALL SELECT (SELECT min(business_id) FROM outbox WHERE business_id > b.id)"
            " FROM b WHERE b.id IS NOT NULL) SELECT id FROM b) AS waiting WHERE id IS NOT NULL"
        )
        return [str(r[0]) for r in rows]

    async def delete(self, seqs: Sequence[int]) -> None:
        """Remove rows that the broker confirmed."""
        await self._sql.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])

    async def set_cursor(self, seq: int, cursor: str) -> None:
        """Record fan-out progress: every chat up to ``cursor`` has been told."""
        await self._sql.execute("UPDATE outbox SET cursor = ? WHERE seq = ?", (cursor, seq))

    async def depth(self) -> OutboxDepth:
        """Rows waiting, fan-outs among them, age of the oldest."""
        row = await self._sql.one(
            "SELECT count(*), count(*) FILTER (WHERE kind = 'fanout'), min(created_at) FROM outbox"
        )
        assert row is not None  # noqa: S101 -- an aggregate always returns one row
        count, fanouts, oldest = row
        age = 0.0 if oldest is None else max(time.time() - float(oldest), 0.0)
        return OutboxDepth(rows=int(count), fanouts=int(fanouts), oldest_age_seconds=round(age, 3))
