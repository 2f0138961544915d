"""The storage port is the only way to the database: no driver and no SQL anywhere else."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

from tests.conftest import REPO

DRIVERS = {"sqlite3", "asyncpg", "psycopg", "psycopg2", "aiosqlite"}
SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX)"
    r"|DROP\s+TABLE|BEGIN\s+IMMEDIATE|PRAGMA\s+\w+)\b",
    re.DOTALL,
)
ROOTS = ("gateway", "adapters", "bench")
STORE = REPO / "gateway" / "store"
# Raw baselines are not hostgate: the floor measures what the guarantees cost written without
# hostgate's code, so it has its own few statements by design.
BASELINES = {REPO / "bench" / "floor_delivery.py"}


def _sources() -> list[Path]:
    return [
        path
        for root in ROOTS
        for path in sorted((REPO / root).rglob("*.py"))
        if STORE not in path.parents and path not in BASELINES
    ]


def _driver_imports(path: Path, base: Path = REPO) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        else:
            continue
        found += [
            f"{path.relative_to(base)}:{node.lineno}: imports {n}"
            for n in names
            if n.split(".")[0] in DRIVERS
        ]
    return found


def _sql_strings(path: Path, base: Path = REPO) -> list[str]:
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    return [
        f"{path.relative_to(base)}:{token.start[0]}: SQL {token.string[:60]!r}"
        for token in tokens
        if token.type == tokenize.STRING and SQL.search(token.string)
    ]


def test_no_driver_or_sql_outside_the_store() -> None:
    """No module outside gateway/store/ imports a database driver or holds an SQL statement."""
    sources = _sources()
    assert len(sources) > 50  # the walk found the code
    problems = [p for path in sources for p in (*_driver_imports(path), *_sql_strings(path))]
    assert not problems, "\n".join(problems)


def test_the_check_catches_what_it_looks_for(tmp_path: Path) -> None:
    """The grep itself finds a driver import and an SQL string, naming file and line."""
    sample = tmp_path / "sample.py"
    sample.write_text('import sqlite3\nQUERY = "SELECT id FROM outbox"\n', encoding="utf-8")
    assert _driver_imports(sample, tmp_path) == ["sample.py:1: imports sqlite3"]
    assert _sql_strings(sample, tmp_path) == ["sample.py:2: SQL '\"SELECT id FROM outbox\"'"]
