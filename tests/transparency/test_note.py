"""C2SP checkpoints and signed notes: what a log signs verifies, and any change to it does not."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import CheckpointError
from gateway.transparency import note

ORIGIN = "hostgate.example/disclosures"
LOG_KEY = Ed25519PrivateKey.generate()
WITNESS_KEY = Ed25519PrivateKey.generate()
LOG = note.Verifier.parse(note.verifier_key(ORIGIN, LOG_KEY.public_key()))
WITNESS = note.Verifier.parse(
    note.verifier_key("witness.example", WITNESS_KEY.public_key(), note.COSIGNATURE_V1)
)


def _signed(size: int, root: bytes, *, cosigned_at: int | None = None) -> str:
    body = note.Checkpoint(ORIGIN, size, root).body()
    lines = [note.sign(body, ORIGIN, LOG_KEY)]
    if cosigned_at is not None:
        lines.append(note.cosign(body, "witness.example", WITNESS_KEY, cosigned_at))
    return note.note(body, lines)


@given(size=st.integers(0, 2**63), root=st.binary(min_size=32, max_size=32), at=st.integers(0, 2**40))
def test_signed_checkpoint_round_trip(size: int, root: bytes, at: int) -> None:
    """A signed and cosigned checkpoint opens to what was signed, with the witness and its time."""
    opened = note.open_note(_signed(size, root, cosigned_at=at), LOG, (WITNESS,))
    assert (opened.checkpoint.size, opened.checkpoint.root) == (size, root)
    assert opened.signers == {ORIGIN, "witness.example"}
    assert opened.cosigned_at == {"witness.example": at}


@given(position=st.integers(0, 10_000), flip=st.integers(1, 255))
def test_any_changed_byte_is_refused(position: int, flip: int) -> None:
    """Changing any byte of the body or of a signature makes the note fail to open (or not parse)."""
    text = _signed(42, bytes(range(32)), cosigned_at=1_700_000_000)
    raw = bytearray(text.encode())
    at = position % len(raw)
    raw[at] ^= flip
    try:
        changed = raw.decode()
    except UnicodeDecodeError:
        return  # not even text any more
    if changed == text:
        return
    try:
        opened = note.open_note(changed, LOG, (WITNESS,))
    except CheckpointError:
        return
    # A change inside the witness's line (its name) may only drop that cosignature, never forge one.
    assert opened.signers == {ORIGIN}, "a changed note still verified in full"


def test_wrong_key_wrong_origin_and_no_signature_are_refused() -> None:
    """A note signed by another key, for another origin, or unsigned does not open."""
    other = Ed25519PrivateKey.generate()
    body = note.Checkpoint(ORIGIN, 1, bytes(32)).body()
    with pytest.raises(CheckpointError, match="not signed by the log key"):
        note.open_note(note.note(body, [note.sign(body, ORIGIN, other)]), LOG)
    elsewhere = note.Checkpoint("other.example/log", 1, bytes(32)).body()
    with pytest.raises(CheckpointError, match="is not the log's"):
        note.open_note(note.note(elsewhere, [note.sign(elsewhere, ORIGIN, LOG_KEY)]), LOG)
    with pytest.raises(CheckpointError, match="no signature block"):
        note.open_note(body, LOG)


def test_vkey_with_a_wrong_key_id_is_refused() -> None:
    """A verifier key whose ID does not match its key is refused."""
    name, key_id, key = note.verifier_key(ORIGIN, LOG_KEY.public_key()).split("+", 2)
    with pytest.raises(CheckpointError, match="does not match"):
        note.Verifier.parse(f"{name}+{'0' * 8 if key_id != '0' * 8 else '1' * 8}+{key}")
    assert base64.b64decode(key)[0] == note.ED25519


def test_checkpoint_body_must_be_exact() -> None:
    """Leading zeros, a short root, extra lines or a missing newline are refused."""
    good = note.Checkpoint(ORIGIN, 7, bytes(32)).body()
    assert note.Checkpoint.parse(good).size == 7
    root = base64.b64encode(bytes(32)).decode()
    for bad in (
        f"{ORIGIN}\n07\n{root}\n",
        f"{ORIGIN}\n7\n{base64.b64encode(bytes(31)).decode()}\n",
        f"{ORIGIN}\n7\n{root}\nextra\n",
        f"{ORIGIN}\n7\n{root}",
        f"\n7\n{root}\n",
    ):
        with pytest.raises(CheckpointError):
            note.Checkpoint.parse(bad)
