"""The durable outbox: events written in the same transaction as the state they report.

Rows are published in ``seq`` order and deleted only once confirmed. Three kinds:
``event`` (published in windows), ``disclosure`` (a barrier: published alone, so
nothing after it goes out before it is confirmed) and ``fanout`` (one row that
stands for a notice to every open chat of a business, with a durable cursor).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from enum import StrEnum

from gateway.broker.cloudevents import CloudEvent, parse

# Kept beside the CloudEvents headers in the row; becomes the AMQP per-message expiration.
_EXPIRATION = "amqp:expiration-ms"


class RowKind(StrEnum):
    """How the relay treats a row."""

    EVENT = "event"
    DISCLOSURE = "disclosure"
    FANOUT = "fanout"


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One pending publish."""

    seq: int
    business_id: str
    kind: RowKind
    exchange: str
    routing_key: str
    event: CloudEvent
    cursor: str | None
    created_at: float
    expiration_ms: int | None = None


def insert(
    db: sqlite3.Connection,
    business_id: str,
    *,
    kind: RowKind,
    exchange: str,
    routing_key: str,
    event: CloudEvent,
    expiration_ms: int | None = None,
) -> int:
    """Add a row (inside the caller's transaction); return its seq."""
    stored: dict[str, object] = dict(event.headers())
    if expiration_ms is not None:
        stored[_EXPIRATION] = expiration_ms
    headers = json.dumps(stored)
    cursor = db.execute(
        "INSERT INTO outbox (business_id, kind, exchange, routing_key, event_id, event_type,"
        " headers, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            business_id,
            kind.value,
            exchange,
            routing_key,
            event.id,
            event.type,
            headers,
            event.data,
            time.time(),
        ),
    )
    seq = cursor.lastrowid
    assert seq is not None  # noqa: S101 -- sqlite always sets lastrowid after INSERT
    return seq


def queue(
    db: sqlite3.Connection,
    business_id: str,
    exchange: str,
    routing_key: str,
    event: CloudEvent,
    expiration_ms: int | None = None,
) -> int:
    """Add an ordinary event row (published in windows, in order)."""
    return insert(
        db,
        business_id,
        kind=RowKind.EVENT,
        exchange=exchange,
        routing_key=routing_key,
        event=event,
        expiration_ms=expiration_ms,
    )


def _row(values: tuple[object, ...]) -> OutboxRow:
    seq, business_id, kind, exchange, routing_key, headers, body, cursor, created_at = values
    assert isinstance(headers, str)  # noqa: S101 -- schema guarantees
    assert isinstance(body, bytes)  # noqa: S101 -- schema guarantees
    stored = json.loads(headers)
    expiration = stored.pop(_EXPIRATION, None)
    return OutboxRow(
        seq=int(str(seq)),
        business_id=str(business_id),
        kind=RowKind(str(kind)),
        exchange=str(exchange),
        routing_key=str(routing_key),
        event=parse(stored, body),
        cursor=None if cursor is None else str(cursor),
        created_at=float(str(created_at)),
        expiration_ms=None if expiration is None else int(expiration),
    )


def fetch(db: sqlite3.Connection, limit: int) -> list[OutboxRow]:
    """The oldest ``limit`` rows, in publish order."""
    rows = db.execute(
        "SELECT seq, business_id, kind, exchange, routing_key, headers, body, cursor, created_at"
        " FROM outbox ORDER BY seq LIMIT ?",
        (limit,),
    ).fetchall()
    return [_row(tuple(r)) for r in rows]


def delete(db: sqlite3.Connection, seqs: list[int]) -> None:
    """Remove rows that the broker confirmed."""
    db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])


def set_cursor(db: sqlite3.Connection, seq: int, cursor: str) -> None:
    """Record fan-out progress: every chat up to ``cursor`` has been told."""
    db.execute("UPDATE outbox SET cursor = ? WHERE seq = ?", (cursor, seq))


@dataclass(frozen=True, slots=True)
class OutboxDepth:
    """How much is waiting, and for how long the oldest has waited."""

    rows: int
    fanouts: int
    oldest_age_seconds: float


def depth(db: sqlite3.Connection) -> OutboxDepth:
    """Rows waiting, fan-outs among them, age of the oldest."""
    count, fanouts, oldest = db.execute(
        "SELECT count(*), coalesce(sum(kind = 'fanout'), 0), min(created_at) FROM outbox"
    ).fetchone()
    age = 0.0 if oldest is None else max(time.time() - float(oldest), 0.0)
    return OutboxDepth(rows=int(count), fanouts=int(fanouts), oldest_age_seconds=round(age, 3))
