"""The witness cosigns a growing log and refuses forks, rollbacks and forged checkpoints, across restarts."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.transparency import merkle, note
from gateway.transparency.witness import Witness, witness_app

ORIGIN = "hostgate.test/disclosures"
LOG_KEY = Ed25519PrivateKey.generate()
LOG = note.Verifier.parse(note.verifier_key(ORIGIN, LOG_KEY.public_key()))
WITNESS_KEY = Ed25519PrivateKey.generate()


def _leaves(n: int, salt: bytes = b"") -> list[bytes]:
    return [merkle.leaf_hash(salt + i.to_bytes(4, "big")) for i in range(n)]


def _signed(leaves: list[bytes], key: Ed25519PrivateKey = LOG_KEY) -> str:
    body = note.Checkpoint(ORIGIN, len(leaves), merkle.root(leaves)).body()
    return note.note(body, [note.sign(body, ORIGIN, key)])


def _request(old: int, proof: list[bytes], signed: str) -> str:
    return "".join([f"old {old}\n", *(base64.b64encode(h).decode() + "\n" for h in proof), "\n", signed])


def _witness(tmp_path: Path) -> Witness:
    return Witness("witness.test", WITNESS_KEY, [LOG], tmp_path / "witness.json")


def test_cosigns_a_growing_log(tmp_path: Path) -> None:
    """Checkpoints 3 then 7 with their consistency proofs are cosigned; the cosignature verifies."""
    witness = _witness(tmp_path)
    leaves = _leaves(7)
    first = witness.add_checkpoint(_request(0, [], _signed(leaves[:3])))
    assert first.status == 200, first.body
    second = witness.add_checkpoint(_request(3, merkle.consistency_proof(leaves, 3, 7), _signed(leaves)))
    assert second.status == 200, second.body
    cosigned = _signed(leaves) + second.body
    opened = note.open_note(cosigned, LOG, (note.Verifier.parse(witness.verifier_key),))
    assert opened.signers == {ORIGIN, "witness.test"}
    assert witness.latest(ORIGIN) == (7, merkle.root(leaves))


def test_split_view_is_refused_and_shown(tmp_path: Path) -> None:
    """Two checkpoints of one size with different roots: the second is refused (422), also after a restart."""
    honest, other = _leaves(5), _leaves(5, salt=b"other view ")
    witness = _witness(tmp_path)
    seen = _signed(honest)
    forked = _signed(other)
    assert witness.add_checkpoint(_request(0, [], seen)).status == 200
    verdict = witness.add_checkpoint(_request(5, [], forked))
    print(f"\nsplit view refused ({verdict.status}):\n--- cosigned ---\n{seen}--- offered ---\n{forked}")
    assert verdict.status == 422
    restarted = _witness(tmp_path)
    assert restarted.add_checkpoint(_request(5, [], forked)).status == 422
    assert restarted.latest(ORIGIN) == (5, merkle.root(honest))


def test_rollback_and_stale_old_size(tmp_path: Path) -> None:
    """A smaller checkpoint is refused; a wrong 'old' gets 409 with the size the witness has."""
    leaves = _leaves(6)
    witness = _witness(tmp_path)
    assert witness.add_checkpoint(_request(0, [], _signed(leaves))).status == 200
    rollback = witness.add_checkpoint(_request(6, [], _signed(leaves[:4])))
    assert rollback.status == 422
    stale = witness.add_checkpoint(_request(2, [], _signed(leaves)))
    assert (stale.status, stale.body, stale.content_type) == (409, "6\n", "text/x.tlog.size")


@pytest.mark.parametrize(
    ("request_text", "status"),
    [
        ("nonsense", 400),
        ("old x\n\n" + "x", 400),
        ("old 0\n!!!\n\n" + "x", 400),
        ("old 0\n\n" + _signed(_leaves(1)).replace(ORIGIN, "unknown.test/log"), 404),
        ("old 0\n\n" + _signed(_leaves(1), key=Ed25519PrivateKey.generate()), 403),
    ],
    ids=["no-blank-line", "bad-old", "bad-proof", "unknown-log", "forged-signature"],
)
def test_bad_requests(tmp_path: Path, request_text: str, status: int) -> None:
    """Malformed, unknown-log and forged requests get their status and change nothing."""
    witness = _witness(tmp_path)
    assert witness.add_checkpoint(request_text).status == status
    assert witness.latest(ORIGIN) == (0, merkle.EMPTY_ROOT)


async def test_over_http(tmp_path: Path) -> None:
    """The same over a real HTTP server on loopback: POST /add-checkpoint and GET /vkey."""
    witness = _witness(tmp_path)
    client: TestClient[Any, Any] = TestClient(TestServer(witness_app(witness), host="127.0.0.1", port=0))
    await client.start_server()
    try:
        answer = await client.post("/add-checkpoint", data=_request(0, [], _signed(_leaves(2))))
        assert answer.status == 200
        line = await answer.text()
        vkey = (await (await client.get("/vkey")).text()).strip()
        assert note.open_note(_signed(_leaves(2)) + line, LOG, (note.Verifier.parse(vkey),)).signers == {
            ORIGIN,
            "witness.test",
        }
        conflict = await client.post("/add-checkpoint", data=_request(0, [], _signed(_leaves(3))))
        assert (conflict.status, await conflict.text()) == (409, "2\n")
    finally:
        await client.close()
