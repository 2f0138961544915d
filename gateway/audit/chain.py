"""The hash chain: how a record is serialised and linked to the one before it.

A record is one line of canonical JSON (sorted keys, no spaces, UTF-8) holding
the event's fields plus ``seq`` (1, 2, ...), ``ts``, ``event``, ``prev`` (the
previous record's ``hash``, or 64 zeros for the first) and ``hash``: SHA-256,
hex, of the canonical JSON of the record without ``hash``. The head of the
chain is the last record's ``hash``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

GENESIS = "0" * 64
FILE_PATTERN = "audit-*.jsonl"


def canonical(record: Mapping[str, Any]) -> bytes:
    """Canonical JSON bytes of a record."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def record_hash(record: Mapping[str, Any]) -> str:
    """The hash a record must carry: over everything but ``hash`` itself."""
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def seal(fields: Mapping[str, Any], seq: int, prev: str) -> tuple[bytes, str]:
    """Link ``fields`` into the chain; return the line to write (with newline) and its hash."""
    record = {**fields, "seq": seq, "prev": prev}
    digest = hashlib.sha256(canonical(record)).hexdigest()
    record["hash"] = digest
    return canonical(record) + b"\n", digest


def file_name(index: int) -> str:
    """Name of the ``index``-th trail file; names sort in chain order."""
    return f"audit-{index:06d}.jsonl"
