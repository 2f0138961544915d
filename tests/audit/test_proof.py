"""Single-record inclusion proofs: any record proves against a signed checkpoint, nothing else does."""

from __future__ import annotations

import base64
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.audit.checkpoint import ORIGIN_PREFIX, parse_verifier_key, split_notes
from gateway.audit.proof import RecordProof, check, prove
from gateway.audit.verify import verify
from gateway.errors import CheckpointError, NotInLog
from gateway.transparency.note import note, sign
from tests.audit.trails import build_trail
from tests.conftest import run_cli

_BUILD_DIR = Path(tempfile.mkdtemp(prefix="hostgate-proof-"))
TRAIL = build_trail(_BUILD_DIR, 40, every=6, rotate_bytes=3000)
KEYS = dict([parse_verifier_key(TRAIL.key)])
CHECKPOINTS = TRAIL.checkpoints.read_text()
RECORDS = sum(len(path.read_bytes().splitlines()) for path in TRAIL.files)


@settings(max_examples=100, deadline=None)
@given(seq=st.integers(1, RECORDS))
def test_every_record_proves_against_the_newest_checkpoint(seq: int) -> None:
    """The proof verifies alone, through its JSON form, and names the record's place."""
    proof = prove(TRAIL.files, CHECKPOINTS, KEYS, seq)
    assert proof.index == seq - 1
    assert f'"seq":{seq},' in proof.record
    checkpoint = check(RecordProof.from_json(proof.to_json()), KEYS)
    assert checkpoint.size == RECORDS
    assert checkpoint.origin == f"{ORIGIN_PREFIX}test"


@settings(max_examples=100, deadline=None)
@given(seq=st.integers(1, RECORDS), data=st.data())
def test_a_changed_record_proof_or_place_fails(seq: int, data: st.DataObject) -> None:
    """One changed byte of the record, one changed proof hash, or another index: not proved."""
    proof = prove(TRAIL.files, CHECKPOINTS, KEYS, seq)
    at = data.draw(st.integers(0, len(proof.record) - 1))
    changed = proof.record[:at] + ("x" if proof.record[at] != "x" else "y") + proof.record[at + 1 :]
    forgeries = [replace(proof, record=changed), replace(proof, index=(proof.index + 1) % RECORDS)]
    if proof.proof:
        which = data.draw(st.integers(0, len(proof.proof) - 1))
        hashes = list(proof.proof)
        hashes[which] = bytes([hashes[which][0] ^ 1]) + hashes[which][1:]
        forgeries.append(replace(proof, proof=tuple(hashes)))
    for forged in forgeries:
        with pytest.raises(NotInLog):
            check(forged, KEYS)


def test_a_checkpoint_signed_by_another_key_proves_nothing() -> None:
    """The proof's checkpoint must carry a signature by a key the auditor trusts."""
    other = build_trail(_BUILD_DIR / "other", 3)
    with pytest.raises(CheckpointError, match="no signature by a known key"):
        check(prove(TRAIL.files, CHECKPOINTS, KEYS, 1), dict([parse_verifier_key(other.key)]))


def test_a_record_past_the_last_checkpoint_has_no_proof_yet(tmp_path: Path) -> None:
    """Records the newest checkpoint does not cover yet are refused, not proved against nothing."""
    with pytest.raises(NotInLog, match="no signed Merkle checkpoint covers record"):
        prove(TRAIL.files, split_notes(CHECKPOINTS)[0], KEYS, RECORDS)
    with pytest.raises(NotInLog, match="has no record"):
        prove(TRAIL.files, CHECKPOINTS, KEYS, RECORDS + 1)


def test_notes_from_before_the_merkle_trail_still_verify(tmp_path: Path) -> None:
    """A trail checkpointed in the old body (hex chain head, time) keeps verifying after the upgrade."""
    trail = build_trail(tmp_path, 7, every=1000)
    lines = trail.files[0].read_bytes().splitlines()
    head = lines[-1].split(b'"hash":"')[1][:64].decode()
    body = f"{ORIGIN_PREFIX}test\n{len(lines)}\n{head}\n2026-11-29T00:00:00Z\n"
    legacy = note(body, [sign(body, trail.ring.active.kid, trail.ring.active.private)])
    assert verify(trail.files, legacy, KEYS | dict([parse_verifier_key(trail.key)])).intact
    wrong = body.replace(head, "0" * 64)
    forged = note(wrong, [sign(wrong, trail.ring.active.kid, trail.ring.active.private)])
    report = verify(trail.files, forged, dict([parse_verifier_key(trail.key)]))
    assert report.first is not None
    assert report.first.kind == "rewritten"


def test_prove_and_check_from_the_command_line(tmp_path: Path) -> None:
    """`audit prove` writes a document that `audit check-proof` accepts alone; a forged one exits 1."""
    (tmp_path / "key.txt").write_text(TRAIL.key + "\n")
    made = run_cli(
        "audit", "prove", str(TRAIL.directory), "--seq", "9",
        "--key", str(tmp_path / "key.txt"), "--checkpoints", str(TRAIL.checkpoints),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    (tmp_path / "proof.json").write_text(made.stdout)
    checked = run_cli("audit", "check-proof", str(tmp_path / "proof.json"), "--key", TRAIL.key)
    assert checked.returncode == 0, checked.stderr
    assert f"a trail of {RECORDS} records" in checked.stdout
    forged = made.stdout.replace(
        base64.b64encode(prove(TRAIL.files, CHECKPOINTS, KEYS, 9).proof[0]).decode(), "A" * 43 + "="
    )
    (tmp_path / "forged.json").write_text(forged)
    refused = run_cli("audit", "check-proof", str(tmp_path / "forged.json"), "--key", TRAIL.key)
    assert refused.returncode == 1
    assert "NOT PROVED: the record is not leaf 8" in refused.stderr
    missing = run_cli("audit", "check-proof", str(tmp_path / "nope.json"), "--key", TRAIL.key)
    assert missing.returncode == 2
    assert "nope.json" in missing.stderr
