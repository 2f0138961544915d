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

from gateway.audit.chain import GENESIS, canonical, record_hash
from gateway.audit.checkpoint import LegacyCheckpoint, leaf, split_notes, verify_note
from gateway.errors import CheckpointError
from gateway.transparency.merkle import CompactRange

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

    def describe(self) -> str:
        """One line for people: the first tampering, else what was verified."""
        first = self.first
        if first is not None:
            return f"TAMPERED at seq {first.seq}: {first.kind}: {first.detail}"
        summary = f"{self.records} records, head {self.head}, {self.checkpoints} checkpoint(s) verified"
        if self.incomplete is not None:
            return f"incomplete at seq {self.incomplete.seq}: {self.incomplete.detail}; {summary}"
        return f"intact: {summary}"


@dataclass(frozen=True, slots=True)
class _Line:
    raw: bytes
    terminated: bool


def _lines(paths: list[Path]) -> list[_Line]:
    # Records end with b"\n" only: a b"\r" (or any other line break Python knows) is a changed byte.
    lines: list[_Line] = []
    for path in paths:
        data = path.read_bytes()
        chunks = data.split(b"\n")
        lines.extend(_Line(chunk, terminated=True) for chunk in chunks[:-1])
        if chunks[-1]:
            lines.append(_Line(chunks[-1], terminated=False))
    return lines


def _torn(raw: bytes) -> bool:
    """A prefix of a record, as a crash mid-write leaves it (not a record with junk after it)."""
    try:
        json.loads(raw)
    except UnicodeDecodeError:
        return True  # cut inside a multi-byte character
    except json.JSONDecodeError as exc:
        # A prefix of one JSON object is always unfinished; only a whole object followed by
        # something else gives "Extra data".
        return not exc.msg.startswith("Extra data")
    return True  # a whole record whose newline never made it to disk


def verify_chain(paths: list[Path], report: Report) -> list[dict[str, Any]]:
    """Check every record; return the records that verified, in order."""
    lines = _lines(paths)
    good: list[dict[str, Any]] = []
    seen: set[bytes] = set()
    state = _State(seqs=_all_seqs(lines))
    for index, line in enumerate(lines):
        last = index == len(lines) - 1
        if last and not line.terminated and _torn(line.raw):
            report.incomplete = Finding(
                state.expected, "incomplete", "last line cut short (crash while writing)"
            )
            break
        following = lines[index + 1].raw if not last else None
        finding = _check(line.raw, state, seen, following)
        if finding is not None:
            report.findings.append(finding)
            break
        record = json.loads(line.raw)
        seen.add(line.raw)
        good.append(record)
        state.advance(record)
    report.records, report.head = len(good), state.head
    return good


@dataclass
class _State:
    """Where the walk along the chain stands."""

    seqs: set[int]
    expected: int = 1
    head: str = GENESIS
    last_prev: str | None = None

    def advance(self, record: dict[str, Any]) -> None:
        self.expected += 1
        self.last_prev, self.head = str(record["prev"]), str(record["hash"])


def _all_seqs(lines: list[_Line]) -> set[int]:
    seqs = set()
    for line in lines:
        try:
            seqs.add(int(json.loads(line.raw)["seq"]))
        except (ValueError, KeyError, TypeError):
            continue
    return seqs


def _prev_of(raw: bytes | None) -> str | None:
    try:
        return None if raw is None else str(json.loads(raw)["prev"])
    except (ValueError, KeyError, TypeError):
        return None


def _misplaced(raw: bytes, seq: int, prev: str, state: _State, seen: set[bytes]) -> Finding:
    expected = state.expected
    if seq > expected:
        kind: Kind = "reordered" if expected in state.seqs else "missing"
        return Finding(expected, kind, f"record {seq} stands where record {expected} belongs")
    if raw in seen:
        return Finding(expected, "duplicated", f"a copy of record {seq} stands where {expected} belongs")
    if seq == expected - 1 and prev == state.last_prev:
        # Two records claim the same place: the one before this was slipped in.
        return Finding(seq, "inserted", f"two records claim seq {seq}")
    return Finding(expected, "inserted", f"a record claiming seq {seq} stands where {expected} belongs")


def _check(raw: bytes, state: _State, seen: set[bytes], following: bytes | None) -> Finding | None:
    expected = state.expected
    try:
        record = json.loads(raw)
        seq, prev = int(record["seq"]), str(record["prev"])
        # Byte for byte as the writer wrote it: same content in another spelling is a change too.
        intact = record_hash(record) == str(record["hash"]) and canonical(record) == raw
    except (ValueError, KeyError, TypeError):
        intact = False
    if not intact:
        return Finding(expected, "changed", "record is malformed or does not match its hash")
    if seq != expected:
        return _misplaced(raw, seq, prev, state, seen)
    if prev != state.head:
        if _prev_of(following) == state.head:
            return Finding(expected, "inserted", "a record that does not link to the chain was slipped in")
        return Finding(max(expected - 1, 1), "changed", "the next record does not link to this one")
    return None


def verify_checkpoints(
    text: str,
    keys: dict[str, Ed25519PublicKey],
    records: list[dict[str, Any]],
    report: Report,
    *,
    chain_broken: bool = False,
) -> None:
    """Check each checkpoint's signature, and that the records hold what it commits to."""
    roots = _Roots(records)
    matched = 0
    for note in split_notes(text):
        try:
            checkpoint = verify_note(note, keys)
        except CheckpointError as exc:
            report.findings.append(Finding(max(matched, 1), "bad_signature", str(exc)))
            continue
        report.checkpoints += 1
        if checkpoint.size > len(records):
            if chain_broken:
                continue  # the chain's own finding already says where it stops being trustworthy
            report.findings.append(
                Finding(len(records) + 1, "truncated", f"a checkpoint covers {checkpoint.size} records")
            )
            continue
        if isinstance(checkpoint, LegacyCheckpoint):
            holds = checkpoint.size == 0 or records[checkpoint.size - 1]["hash"] == checkpoint.head
        else:
            holds = roots.at(checkpoint.size) == checkpoint.root
        if holds:
            matched = max(matched, checkpoint.size)
        else:
            report.findings.append(
                Finding(matched + 1, "rewritten", f"records do not match the checkpoint at {checkpoint.size}")
            )


class _Roots:
    """Merkle roots of the records' prefixes, computed in one pass for checkpoints in rising order."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self._records = records
        self._tree = CompactRange()

    def at(self, size: int) -> bytes:
        """The root of the first ``size`` records."""
        if size < self._tree.size:  # a checkpoint out of order: recount from the start
            self._tree = CompactRange()
        while self._tree.size < size:
            self._tree.append(leaf(canonical(self._records[self._tree.size])))
        return self._tree.root()


def verify(paths: list[Path], checkpoints: str | None, keys: dict[str, Ed25519PublicKey]) -> Report:
    """Verify trail files (in chain order) and, when given, a checkpoints file's notes."""
    report = Report()
    records = verify_chain(paths, report)
    if checkpoints is not None:
        chain_finding = report.first
        # Past a broken link the chain proves nothing: compare checkpoints with what precedes it.
        trusted = records if chain_finding is None else records[: chain_finding.seq - 1]
        verify_checkpoints(checkpoints, keys, trusted, report, chain_broken=chain_finding is not None)
    return report
