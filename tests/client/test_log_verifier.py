"""The SDK accepts a disclosure only with proof it is in the log, and reports forks and rollbacks with both checkpoints."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.client.transparency import LogVerifier
from gateway.errors import CheckpointError, LogForked, NotInLog
from gateway.transparency import merkle, note

ORIGIN = "hostgate.test/disclosures"
LOG_KEY = Ed25519PrivateKey.generate()
LOG_VKEY = note.verifier_key(ORIGIN, LOG_KEY.public_key())
WITNESS_KEY = Ed25519PrivateKey.generate()
WITNESS_VKEY = note.verifier_key("witness.test", WITNESS_KEY.public_key(), note.COSIGNATURE_V1)
BODIES = [f'{{"business_id":"b","revision":{n}}}'.encode() for n in range(1, 9)]


def _signed(leaves: list[bytes], *, cosigned: bool = False, key: Ed25519PrivateKey = WITNESS_KEY) -> str:
    body = note.Checkpoint(ORIGIN, len(leaves), merkle.root(leaves)).body()
    lines = [note.sign(body, ORIGIN, LOG_KEY)]
    if cosigned:
        lines.append(note.cosign(body, "witness.test", key, 1_800_000_000))
    return note.note(body, lines)


def _proof(leaves: list[bytes], index: int, signed: str) -> dict[str, Any]:
    hashes = merkle.inclusion_proof(leaves, index, len(leaves))
    return {
        "leaf_index": index,
        "checkpoint": signed,
        "inclusion_proof": [base64.b64encode(h).decode() for h in hashes],
    }


LEAVES = [merkle.leaf_hash(b) for b in BODIES]


def test_a_disclosure_in_the_log_is_accepted_and_others_are_not() -> None:
    """A body with its proof passes; a changed body, a proof for another leaf or no proof is NotInLog."""
    verifier = LogVerifier(LOG_VKEY)
    signed = _signed(LEAVES[:5])
    assert verifier.check_disclosure(BODIES[2], _proof(LEAVES[:5], 2, signed)).size == 5
    with pytest.raises(NotInLog):
        verifier.check_disclosure(BODIES[2].replace(b"3", b"9"), _proof(LEAVES[:5], 2, signed))
    with pytest.raises(NotInLog):
        verifier.check_disclosure(BODIES[2], _proof(LEAVES[:5], 3, signed))
    with pytest.raises(NotInLog):
        verifier.check_disclosure(BODIES[2], {})


def test_growth_is_followed_and_remembered_across_restarts(tmp_path: Path) -> None:
    """A larger checkpoint needs a consistency proof; the last one is kept in the state file."""
    state = tmp_path / "log.checkpoint"
    verifier = LogVerifier(LOG_VKEY, state=state)
    verifier.check_checkpoint(_signed(LEAVES[:3]))
    with pytest.raises(CheckpointError, match="consistency proof"):
        verifier.check_checkpoint(_signed(LEAVES[:6]))
    verifier.check_checkpoint(_signed(LEAVES[:6]), merkle.consistency_proof(LEAVES, 3, 6))
    restarted = LogVerifier(LOG_VKEY, state=state)
    assert restarted.last is not None
    assert restarted.last.size == 6
    # An older checkpoint is fine when it is a prefix of the remembered one, and changes nothing.
    restarted.check_checkpoint(_signed(LEAVES[:4]), merkle.consistency_proof(LEAVES[:6], 4, 6))
    assert restarted.last.size == 6


def test_split_view_and_rollback_are_reported_with_both_checkpoints(tmp_path: Path) -> None:
    """Same size with another root is a fork; an older checkpoint off the seen history is a rollback."""
    verifier = LogVerifier(LOG_VKEY, state=tmp_path / "state")
    seen = _signed(LEAVES[:5])
    verifier.check_checkpoint(seen)
    other = [merkle.leaf_hash(b"another story " + b) for b in BODIES]
    forked = _signed(other[:5])
    with pytest.raises(LogForked) as fork:
        verifier.check_checkpoint(forked)
    print(f"\n{fork.value}")
    assert (fork.value.seen, fork.value.offered) == (seen, forked)
    assert "fork" in str(fork.value)
    rewound = _signed(other[:3])
    with pytest.raises(LogForked, match="rollback"):
        verifier.check_checkpoint(rewound, merkle.consistency_proof(other[:5], 3, 5))
    # A disclosure proven against the forked view is refused too.
    with pytest.raises(LogForked):
        verifier.check_disclosure(BODIES[0], _proof(other[:5], 0, forked))


def test_k_of_n_witnesses(tmp_path: Path) -> None:
    """With one cosignature required, an uncosigned or wrongly cosigned checkpoint is refused."""
    verifier = LogVerifier(LOG_VKEY, [WITNESS_VKEY], required_witnesses=1)
    with pytest.raises(CheckpointError, match="1 required"):
        verifier.check_checkpoint(_signed(LEAVES[:2]))
    with pytest.raises(CheckpointError):
        verifier.check_checkpoint(_signed(LEAVES[:2], cosigned=True, key=Ed25519PrivateKey.generate()))
    assert verifier.check_checkpoint(_signed(LEAVES[:2], cosigned=True)).size == 2
    with pytest.raises(CheckpointError, match="between 0 and"):
        LogVerifier(LOG_VKEY, [WITNESS_VKEY], required_witnesses=2)
