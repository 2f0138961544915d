"""The storage port (:mod:`gateway.store.port`) and its two engines, chosen by one setting.

``[store] url`` in ``gateway.toml`` (or ``HOSTGATE_STORE_URL``): unset or ``sqlite:///path``
for the embedded SQLite file, ``postgresql://…`` for PostgreSQL. Nothing outside this
package imports a database driver or holds SQL.
"""

from __future__ import annotations

from pathlib import Path

from gateway.errors import StoreError
from gateway.store.port import Store, Unit
from gateway.store.records import RowKind

STORE_FILE = "hostgate.sqlite3"

__all__ = ["STORE_FILE", "RowKind", "Store", "Unit", "open_store_at"]


def open_store_at(url: str | None, state_dir: Path, *, pool_size: int = 10) -> Store:
    """The engine for ``url`` (not yet opened); None means the SQLite file in ``state_dir``."""
    scheme = "sqlite" if url is None else url.split("://", 1)[0]
    if scheme == "sqlite":
        from gateway.store.sqlite import SqliteStore  # noqa: PLC0415 -- each engine loads only when chosen

        return SqliteStore(state_dir / STORE_FILE if url is None else Path(url.removeprefix("sqlite://")))
    assert url is not None  # noqa: S101 -- only SQLite has a default
    if scheme in {"postgresql", "postgres"}:
        from gateway.store.postgres import PostgresStore  # noqa: PLC0415 -- each engine loads only when chosen

        return PostgresStore(url, pool_size=pool_size)
    raise StoreError(f"[store] url: unknown engine {scheme!r}; use sqlite:/// or postgresql://")
