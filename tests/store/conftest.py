"""Fixtures for the store tests: every engine, opened on private state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway.store import Store
from tests.engines import ENGINES, drop_schema, make_store, new_schema_name


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each store engine in turn."""
    return str(request.param)


@pytest.fixture
def schema(engine: str) -> Iterator[str | None]:
    """A private PostgreSQL schema for this test (dropped after it); None on SQLite."""
    if engine != "postgresql":
        yield None
        return
    name = new_schema_name()
    yield name
    drop_schema(name)


@pytest.fixture
async def store(engine: str, tmp_path: Path, schema: str | None) -> AsyncIterator[Store]:
    """An open store of ``engine`` on state no other test sees."""
    opened = make_store(engine, tmp_path, schema)
    await opened.open()
    yield opened
    await opened.aclose()
