"""Read a dotenv-style file of ``NAME=value`` lines (demos; production uses the environment)."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.errors import EnvFileError

_LINE = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)")


def read_env_file(path: Path) -> dict[str, str]:
    """Parse ``path``; blank lines and ``#`` comments are skipped, values may be quoted."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EnvFileError(f"cannot read env file {path}: {exc.strerror}") from exc
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.fullmatch(stripped)
        if match is None:
            # Never echo the line: it may hold a secret.
            raise EnvFileError(f"{path} line {number}: expected NAME=value")
        value = match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":  # noqa: PLR2004 -- a pair of quotes
            value = value[1:-1]
        values[match.group(1)] = value
    return values
