"""Verify a trail: every record intact, in order, linked, and matching every signed checkpoint.

The report names the first bad sequence number and what is wrong:
``changed``, ``missing``, ``reordered``, ``inserted``, ``duplicated``,
``bad_signature`` (a checkpoint), ``truncated`` (fewer records than a checkpoint
covers), ``rewritten`` (the chain disagrees with a checkpoint). A last line cut
short by a crash is ``incomplete``: reported, but not tampering.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.audit.chain import GENESIS, record_hash
from gateway.audit.checkpoint import Checkpoint, CheckpointError, split_notes, verify_note

Kind = Literal[
    "changed", "missing", "reordered", "inserted", "duplicated",
    "bad_signature", "truncated", "rewritten", "incomplete",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong, at one sequence number."""

    seq: int
    kind: Kind
    detail: str


@dataclass
class Report:
    """What verification found."""

    records: int = 0
    head: str = GENESIS
    checkpoints: int = 0
    findings: list[Finding] = field(default_factory=list)
    incomplete: Finding | None = None

    @property
    def first(self) -> Finding | None:
        """The tampering finding with the lowest sequence number."""
        return min(self.findings, key=lambda f: f.seq) if self.findings else None

    @property
    def intact(self) -> bool:
        """No tampering found (an incomplete tail alone is not tampering)."""
        return not self.findings


@dataclass(frozen=True, slots=True)
class _Line:
    raw: bytes
    terminated: bool


def _lines(paths: list[Path]) -> list[_Line]:
    return [
        _Line(chunk.rstrip(b"\n"), chunk.endswith(b"\n"))
        for path in paths
        for chunk in path.read_bytes().splitlines(keepends=True)
    ]


def _torn(raw: bytes) -> bool:
    """A prefix of a record, as a crash mid-write leaves it (not a record with junk after it)."""
    try:
        json.loads(raw)
    except UnicodeDecodeError:
        return True
    except json.JSONDecodeError as exc:
        return exc.pos >= len(raw.decode("utf-8", errors="replace"))
    return True  # parses, but its newline never made it to disk


def verify_chain(paths: list[Path], report: Report) -> list[dict[str, Any]]:
    """Check every record; return the records that verified, in order."""
    lines = _lines(paths)
    good: list[dict[str, Any]] = []
    seen: set[bytes] = set()
    seqs_ahead = _all_seqs(lines)
    expected, head = 1, GENESIS
    for index, line in enumerate(lines):
        last = index == len(lines) - 1
        if last and not line.terminated and _torn(line.raw):
            report.incomplete = Finding(
                expected, "incomplete", "the last line was cut short (crash while writing)"
            )
            break
        finding = _check(line.raw, expected, head, seen, seqs_ahead)
        if finding is not None:
            report.findings.append(finding)
            break
        record = json.loads(line.raw)
        seen.add(line.raw)
        good.append(record)
        expected, head = expected + 1, str(record["hash"])
    report.records, report.head = len(good), head
    return good


def _all_seqs(lines: list[_Line]) -> set[int]:
    seqs = set()
    for line in lines:
        try:
            seqs.add(int(json.loads(line.raw)["seq"]))
        except (ValueError, KeyError, TypeError):
            continue
    return seqs


def _check(raw: bytes, expected: int, head: str, seen: set[bytes], seqs: set[int]) -> Finding | None:
    try:
        record = json.loads(raw)
        seq, prev, digest = int(record["seq"]), str(record["prev"]), str(record["hash"])
        intact = record_hash(record) == digest
    except (ValueError, KeyError, TypeError):
        intact = False
    if not intact:
        return Finding(expected, "changed", "record is malformed or does not match its hash")
    if seq > expected:
        if expected in seqs:
            return Finding(expected, "reordered", f"record {seq} stands where {expected} belongs")
        return Finding(expected, "missing", f"records {expected}..{seq - 1} are missing")
    if seq < expected:
        kind: Kind = "duplicated" if raw in seen else "inserted"
        return Finding(seq, kind, f"a second record {seq} after record {expected - 1}")
    if prev != head:
        return Finding(max(expected - 1, 1), "changed", "the next record does not link to this one")
    return None


def verify_checkpoints(
    text: str, keys: dict[str, Ed25519PublicKey], records: list[dict[str, Any]], report: Report
) -> None:
    """Check each checkpoint's signature, and that the chain holds what it commits to."""
    matched = 0
    for note in split_notes(text):
        try:
            checkpoint: Checkpoint = verify_note(note, keys)
        except CheckpointError as exc:
            report.findings.append(Finding(max(matched, 1), "bad_signature", str(exc)))
            continue
        report.checkpoints += 1
        if checkpoint.size > len(records):
            report.findings.append(
                Finding(len(records) + 1, "truncated", f"a checkpoint covers {checkpoint.size} records")
            )
        elif records[checkpoint.size - 1]["hash"] != checkpoint.head:
            report.findings.append(
                Finding(matched + 1, "rewritten", f"records do not match the checkpoint at {checkpoint.size}")
            )
        else:
            matched = max(matched, checkpoint.size)


def verify(paths: list[Path], checkpoints: str | None, keys: dict[str, Ed25519PublicKey]) -> Report:
    """Verify trail files (in chain order) and, when given, a checkpoints file's notes."""
    report = Report()
    records = verify_chain(paths, report)
    if checkpoints is not None:
        verify_checkpoints(checkpoints, keys, records, report)
    return report
