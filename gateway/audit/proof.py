"""Inclusion proofs for single audit records, so one record can be shown without the rest of the trail.

A compliance team hands an auditor one record, the signed checkpoint that
covers it and the RFC 6962 audit path between them; the auditor checks the
signature with the gateway's verifier key and the path with any RFC 6962
implementation, and learns nothing about the other records (their pseudonyms
included), only that the record sits at that place in the trail everyone else
was shown.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.audit.checkpoint import LegacyCheckpoint, leaf, split_notes, verify_note
from gateway.errors import CheckpointError, NotInLog
from gateway.transparency.merkle import inclusion_proof, verify_inclusion
from gateway.transparency.note import Checkpoint


@dataclass(frozen=True, slots=True)
class RecordProof:
    """One record line, the note of a checkpoint that covers it, and the path from one to the other."""

    record: str
    index: int
    checkpoint: str
    proof: tuple[bytes, ...]

    def to_json(self) -> bytes:
        """The proof as a JSON document (hashes in standard base64, as in the checkpoint)."""
        return orjson.dumps(
            {
                "record": self.record,
                "leaf_index": self.index,
                "checkpoint": self.checkpoint,
                "inclusion_proof": [base64.b64encode(h).decode() for h in self.proof],
            },
            option=orjson.OPT_INDENT_2,
        )

    @classmethod
    def from_json(cls, data: bytes) -> RecordProof:
        """Read a proof document; a malformed one is a CheckpointError naming the field."""
        try:
            doc = orjson.loads(data)
            return cls(
                record=str(doc["record"]),
                index=int(doc["leaf_index"]),
                checkpoint=str(doc["checkpoint"]),
                proof=tuple(base64.b64decode(h, validate=True) for h in doc["inclusion_proof"]),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"proof document is malformed: {exc}") from exc


def prove(files: list[Path], checkpoints: str, keys: dict[str, Ed25519PublicKey], seq: int) -> RecordProof:
    """The proof of record ``seq`` against the newest verified checkpoint that covers it."""
    lines = [line for path in files for line in path.read_bytes().split(b"\n")[:-1]]
    if not 1 <= seq <= len(lines):
        raise NotInLog(f"the trail has no record {seq} (it has {len(lines)})")
    newest: tuple[Checkpoint, str] | None = None
    for note in split_notes(checkpoints):
        checkpoint = verify_note(note, keys)
        if isinstance(checkpoint, LegacyCheckpoint) or not seq <= checkpoint.size <= len(lines):
            continue
        if newest is None or checkpoint.size > newest[0].size:
            newest = (checkpoint, note)
    if newest is None:
        raise NotInLog(f"no signed Merkle checkpoint covers record {seq} yet")
    checkpoint, note = newest
    leaves = [leaf(line) for line in lines[: checkpoint.size]]
    proof = inclusion_proof(leaves, seq - 1, checkpoint.size)
    if not verify_inclusion(leaves[seq - 1], seq - 1, checkpoint.size, proof, checkpoint.root):
        raise NotInLog(f"record {seq} does not match the checkpoint of {checkpoint.size} (verify the trail)")
    return RecordProof(lines[seq - 1].decode(), seq - 1, note, tuple(proof))


def check(proof: RecordProof, keys: dict[str, Ed25519PublicKey]) -> Checkpoint:
    """Verify a proof on its own: the checkpoint's signature, then the record's path to its root."""
    checkpoint = verify_note(proof.checkpoint, keys)
    if isinstance(checkpoint, LegacyCheckpoint):
        raise NotInLog("the checkpoint predates the Merkle trail: it proves no single record")
    if not verify_inclusion(
        leaf(proof.record.encode()), proof.index, checkpoint.size, proof.proof, checkpoint.root
    ):
        raise NotInLog(f"the record is not leaf {proof.index} of the checkpoint of {checkpoint.size}")
    return checkpoint
