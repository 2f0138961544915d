"""Tampering with the trail is detected every time, at the right sequence number (property tests)."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.audit.chain import canonical, record_hash, seal
from gateway.audit.checkpoint import parse_verifier_key
from gateway.audit.verify import Report, verify
from tests.audit.trails import build_trail

EVERY = 5
_BUILD_DIR = Path(tempfile.mkdtemp(prefix="hostgate-audit-"))
TRAIL = build_trail(_BUILD_DIR, 23, every=EVERY)
LINES = TRAIL.files[0].read_bytes().splitlines(keepends=True)
CHECKPOINTS = TRAIL.checkpoints.read_text()
KEYS = dict([parse_verifier_key(TRAIL.key)])
PROPS = settings(max_examples=250, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)


def check(lines: list[bytes], directory: Path, checkpoints: str = CHECKPOINTS) -> Report:
    path = directory / "audit-000001.jsonl"
    path.write_bytes(b"".join(lines))
    return verify([path], checkpoints, KEYS)


def forged(seq: int, prev: str) -> bytes:
    """A record a forger without the key can write: well formed, with a correct own hash."""
    record: dict[str, Any] = {
        "event": "keys.rotated",
        "ts": "2026-11-29T00:00:00Z",
        "kid": "forged",
        "seq": seq,
        "prev": prev,
    }
    record["hash"] = hashlib.sha256(canonical(record)).hexdigest()
    return canonical(record) + b"\n"


class TestIntact:
    def test_untouched_trail_verifies(self, tmp_path: Path) -> None:
        """A trail written by the writer verifies, with every checkpoint."""
        report = check(LINES, tmp_path)
        assert report.intact
        assert report.incomplete is None
        assert report.records == len(LINES)
        assert report.checkpoints == len(CHECKPOINTS.split("\n\n")) - 1 >= 5


class TestTampering:
    @pytest.mark.parametrize("index", [0, 7, len(LINES) - 2])
    def test_same_content_in_another_spelling_is_a_change(self, tmp_path: Path, index: int) -> None:
        """A record rewritten with a CR line end or a space after a colon parses the same, yet is caught.

        Found by the property test below (a trailing newline flipped to CR went unnoticed).
        """
        seq = json.loads(LINES[index])["seq"]
        for respelled in (
            LINES[index][:-1] + b"\r" + (LINES[index + 1] if index + 1 < len(LINES) else b""),
            LINES[index].replace(b'":', b'": ', 1),
        ):
            lines = [*LINES[:index], respelled, *LINES[index + (2 if respelled.count(b"\r") else 1) :]]
            report = check(lines, tmp_path)
            assert report.first is not None, respelled[:80]
            assert report.first.seq == seq
            assert report.first.kind == "changed"

    @PROPS
    @given(data=st.data())
    def test_any_single_byte_change(self, tmp_path: Path, data: st.DataObject) -> None:
        """Changing any one byte of any record is reported at that record's sequence number."""
        index = data.draw(st.integers(0, len(LINES) - 1))
        line = LINES[index]
        offset = data.draw(st.integers(0, len(line) - 1))
        flip = data.draw(st.integers(1, 255))
        lines = list(LINES)
        lines[index] = line[:offset] + bytes([line[offset] ^ flip]) + line[offset + 1 :]
        report = check(lines, tmp_path)
        assert report.first is not None, "tampering went unnoticed"
        assert report.first.seq == index + 1, report.first

    @PROPS
    @given(index=st.integers(0, len(LINES) - 1))
    def test_deleting_a_record(self, tmp_path: Path, index: int) -> None:
        """Deleting any record is reported at its sequence number (the last one through its checkpoint)."""
        report = check(LINES[:index] + LINES[index + 1 :], tmp_path)
        assert report.first is not None
        assert report.first.seq == index + 1
        assert report.first.kind in {"missing", "truncated"}

    @PROPS
    @given(index=st.integers(0, len(LINES) - 2))
    def test_swapping_neighbours(self, tmp_path: Path, index: int) -> None:
        """Swapping two records is reported as reordered at the first of them."""
        lines = list(LINES)
        lines[index], lines[index + 1] = lines[index + 1], lines[index]
        report = check(lines, tmp_path)
        assert report.first is not None
        assert (report.first.seq, report.first.kind) == (index + 1, "reordered")

    @PROPS
    @given(source=st.integers(0, len(LINES) - 1), position=st.integers(1, len(LINES)))
    def test_duplicating_a_record(self, tmp_path: Path, source: int, position: int) -> None:
        """A copy of any record placed anywhere is reported where it stands."""
        lines = [*LINES[:position], LINES[source], *LINES[position:]]
        report = check(lines, tmp_path)
        assert report.first is not None
        # Two identical neighbours: either may be called the copy.
        allowed = {position + 1, position + 2} if source == position else {position + 1}
        assert report.first.seq in allowed, report.first
        # A copy of a later record placed earlier reads as records out of order.
        assert report.first.kind in {"duplicated", "reordered"}

    @PROPS
    @given(position=st.integers(1, len(LINES) - 1), linked=st.booleans())
    def test_inserting_a_forged_record(self, tmp_path: Path, position: int, linked: bool) -> None:
        """A record slipped in between two others is reported where it stands, linked or not."""
        prev = json.loads(LINES[position - 1])["hash"] if linked else "f" * 64
        lines = [*LINES[:position], forged(position + 1, prev), *LINES[position:]]
        report = check(lines, tmp_path)
        assert report.first is not None
        assert (report.first.seq, report.first.kind) == (position + 1, "inserted")

    @PROPS
    @given(index=st.integers(0, len(LINES) - 1))
    def test_rewriting_the_chain_without_the_key(self, tmp_path: Path, index: int) -> None:
        """Changing a record and recomputing every hash after it is caught by the signed checkpoints."""
        records = [json.loads(line) for line in LINES]
        records[index]["kid"] = "rewritten"
        prev = records[index]["prev"]
        for record in records[index:]:
            record["prev"] = prev
            record["hash"] = record_hash(record)
            prev = record["hash"]
        report = check([canonical(r) + b"\n" for r in records], tmp_path)
        assert report.first is not None
        assert report.first.kind == "rewritten"
        # Without the key the chain is self-consistent; checkpoints narrow it to one interval.
        assert index + 1 - (EVERY + 1) < report.first.seq <= index + 1

    def test_forged_checkpoint(self, tmp_path: Path) -> None:
        """A checkpoint whose signature does not verify is reported."""
        tampered = (
            CHECKPOINTS.replace("\n23\n", "\n24\n", 1)
            if "\n23\n" in CHECKPOINTS
            else CHECKPOINTS[:-20] + "AAAAAAAAAAAAAAAAAAA\n"
        )
        report = check(LINES, tmp_path, tampered)
        assert report.first is not None
        assert report.first.kind == "bad_signature"

    def test_truncated_trail_caught_by_checkpoint(self, tmp_path: Path) -> None:
        """Cutting records off the end, which the chain alone cannot show, is caught by the last checkpoint."""
        report = check(LINES[:-3], tmp_path)
        assert report.first is not None
        assert (report.first.seq, report.first.kind) == (len(LINES) - 2, "truncated")

    def test_without_checkpoints_truncation_is_invisible(self, tmp_path: Path) -> None:
        """Without checkpoints a shortened trail verifies: this is why they are kept apart."""
        path = tmp_path / "audit-000001.jsonl"
        path.write_bytes(b"".join(LINES[:-3]))
        assert verify([path], None, {}).intact


class TestTornTail:
    @pytest.mark.parametrize("cut", [1, 7, 40])
    def test_torn_last_line_is_incomplete_not_tampering(self, tmp_path: Path, cut: int) -> None:
        """A last line cut short by a crash is reported incomplete; everything before it verifies."""
        lines = [*LINES, LINES[0][:cut]]
        report = check(lines, tmp_path)
        assert report.intact
        assert report.incomplete is not None
        assert report.incomplete.seq == len(LINES) + 1
        assert report.records == len(LINES)


@settings(max_examples=300)
@given(
    fields=st.dictionaries(
        (
            st.sampled_from(
                ["", "a", "event", "h", "has", "hasg", "hasha", "hashes", "ts", "zz", "é", "\u4e2d"]
            )
            | st.text(max_size=8)
        ).filter(lambda key: key not in {"hash", "seq", "prev"}),
        st.none()
        | st.integers(-(2**63), 2**63 - 1)
        | st.text(max_size=10)
        | st.lists(st.integers(0, 9), max_size=3),
        max_size=8,
    ),
    seq=st.integers(1, 10**9),
)
def test_a_sealed_line_is_the_canonical_record_with_its_hash(fields: dict[str, object], seq: int) -> None:
    """Whatever the field names, the sealed line is the canonical record and carries the hash verify recomputes."""
    # (A record's own fields never include hash, seq or prev: the schemas have none of them.)
    prev = "ab" * 32
    line, digest = seal(fields, seq, prev)
    record = {**fields, "seq": seq, "prev": prev}
    assert digest == hashlib.sha256(canonical(record)).hexdigest()
    assert line == canonical({**record, "hash": digest}) + b"\n"
    assert record_hash(orjson.loads(line)) == digest
