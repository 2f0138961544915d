"""The one seam between the repositories and a database driver.

Repositories hold SQL that both engines run (``?`` placeholders, ``ON CONFLICT``,
``RETURNING``, ``FILTER``); each engine adapts its driver to :class:`Sql`, turning
driver errors into :class:`~gateway.errors.StoreError` as they come out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

Row = Sequence[Any]


class Sql(Protocol):
    """**Protocol:** run one statement on the unit's connection."""

    # Appended to a SELECT whose row the unit goes on to update: " FOR UPDATE" where units run
    # concurrently (PostgreSQL), "" where they already take turns (SQLite).
    for_update: str
    # An SQL expression for the database's clock, in seconds since the epoch (a float): what
    # leases are timed by, so processes whose own clocks disagree still agree on expiry.
    now: str
    # How a statement names a row of a table without a key of its own: SQLite's ``rowid``,
    # PostgreSQL's ``ctid`` (both found directly, without a scan, by ``… IN (SELECT …)``).
    row_id: str

    async def hold(self, name: str) -> None:
        """Hold the lock ``name`` until the unit ends, against units of other processes too."""

    async def execute(self, sql: str, args: Sequence[object] = ()) -> int:
        """Run a statement; return the rows it changed."""

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        """Run a statement once per row of arguments."""

    async def one(self, sql: str, args: Sequence[object] = ()) -> Row | None:
        """The first row of a query, or None."""

    async def all(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        """Every row of a query."""


def padded_values(rows: Sequence[Sequence[object]]) -> tuple[str, list[object]]:
    """``(?, ?), (?, ?) …`` for ``rows`` padded to a power of two by repeating the last; and the arguments.

    A statement's text is its key in both engines' prepared-statement caches: padded, a
    batched read stays a few prepared statements instead of one per batch size.
    """
    if not rows:
        raise ValueError("padded_values needs at least one row")
    size = 1 << (len(rows) - 1).bit_length()
    padded = [*rows, *[rows[-1]] * (size - len(rows))]
    one = "(" + ", ".join("?" * len(rows[0])) + ")"
    return ", ".join([one] * size), [value for row in padded for value in row]
