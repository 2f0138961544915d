"""Read and filter audit records for people: the compliance team's show and export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.audit.chain import FILE_PATTERN

FIXED_COLUMNS = ("seq", "ts", "event", "business", "user")
_CHAIN_FIELDS = frozenset({"prev", "hash"})


def trail_files(paths: Iterable[Path]) -> list[Path]:
    """Files to read, in chain order: directories expand to their trail files."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob(FILE_PATTERN)) if path.is_dir() else [path])
    return files


def read_records(files: list[Path]) -> Iterator[dict[str, Any]]:
    """Every complete record, in order (a torn last line is skipped)."""
    for path in files:
        *complete, _torn = path.read_bytes().split(b"\n")
        for line in complete:
            yield json.loads(line)


@dataclass(frozen=True, slots=True)
class Filter:
    """What a compliance reviewer asked for; None means any."""

    business: str | None = None
    user_pseudonym: str | None = None
    event: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, record: dict[str, Any]) -> bool:
        """Whether ``record`` passes every given criterion."""
        if self.business is not None and record.get("business") != self.business:
            return False
        if self.user_pseudonym is not None and not _names(record, self.user_pseudonym):
            return False
        if self.event is not None and record.get("event") != self.event:
            return False
        when = datetime.fromisoformat(str(record["ts"]))
        if self.since is not None and when < self.since:
            return False
        return not (self.until is not None and when > self.until)


def _names(record: dict[str, Any], pseudonym: str) -> bool:
    """Whether ``record`` is about the user: as its ``user``, or among a window's ``recipients``."""
    if record.get("user") == pseudonym:
        return True
    return any(pair[0] == pseudonym for pair in record.get("recipients", ()))


def for_user(record: dict[str, Any], pseudonym: str | None) -> dict[str, Any]:
    """``record`` as a reader asking about one user sees it: a window of notices narrowed to theirs.

    For display only (``show``, the console): exports keep every record whole, so its hash checks.
    """
    pairs = record.get("recipients")
    if pseudonym is None or not pairs:
        return record
    narrowed = {k: v for k, v in record.items() if k != "recipients"}
    narrowed["user"] = pseudonym
    narrowed["notice_id"] = next(notice for user, notice in pairs if user == pseudonym)
    narrowed["window"] = len(pairs)
    return narrowed


def details(record: dict[str, Any]) -> str:
    """The fields beyond the fixed columns, as ``key=value`` (a window's recipients as their count)."""
    rest = {k: v for k, v in record.items() if k not in FIXED_COLUMNS and k not in _CHAIN_FIELDS}
    if isinstance(rest.get("recipients"), list):
        rest["recipients"] = f"{len(rest['recipients'])} chats"
    return " ".join(f"{k}={v}" for k, v in sorted(rest.items()))


def table(records: Iterable[dict[str, Any]]) -> str:
    """A plain-text table with one row per record."""
    rows = [
        (
            str(r["seq"]),
            str(r["ts"]),
            str(r["event"]),
            str(r.get("business", "")),
            str(r.get("user", "")),
            details(r),
        )
        for r in records
    ]
    header = ("SEQ", "TIME", "EVENT", "BUSINESS", "USER", "DETAILS")
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(header[:-1])]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header[:-1], widths, strict=True)) + "  " + header[-1]]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1] for row in rows
    ]
    return "\n".join(lines)


def to_csv(records: Iterable[dict[str, Any]]) -> str:
    """CSV with the fixed columns first, then every other field seen, then prev and hash."""
    materialized = list(records)
    extra = sorted({k for r in materialized for k in r} - set(FIXED_COLUMNS) - _CHAIN_FIELDS)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*FIXED_COLUMNS, *extra, "prev", "hash"], extrasaction="ignore")
    writer.writeheader()
    for record in materialized:
        writer.writerow({k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in record.items()})
    return out.getvalue()


def to_jsonl(records: Iterable[dict[str, Any]]) -> str:
    """The records as they are in the trail, one per line."""
    return "".join(
        json.dumps(r, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n" for r in records
    )
