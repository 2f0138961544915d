"""The store engine a benchmark runs on: SQLite in the scenario's own directory, or a PostgreSQL schema."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENGINES = ("sqlite", "postgresql")
PG_URL = os.environ.get("HOSTGATE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
_counter = itertools.count()


@contextmanager
def store_url(engine: str) -> Iterator[str | None]:
    """None for SQLite (the config's own state_dir); for PostgreSQL a fresh schema's URL, dropped after."""
    if engine == "sqlite":
        yield None
        return
    from gateway.store.postgres import drop_schema  # noqa: PLC0415 -- only PostgreSQL runs need it

    schema = f"hgb_{os.getpid()}_{next(_counter)}"
    url = f"{PG_URL}?schema={schema}"
    try:
        yield url
    finally:
        # Called from sync code and from inside a running loop alike: a loop of its own, on a thread.
        thread = threading.Thread(target=asyncio.run, args=(drop_schema(url),))
        thread.start()
        thread.join(60)


def use_store(config: Path, url: str | None) -> None:
    """Point a copied config directory at ``url`` (nothing to do for SQLite)."""
    if url is None:
        return
    with (config / "gateway.toml").open("a", encoding="utf-8") as settings:
        settings.write(f'\n[store]\nurl = "{url}"\n')
