r"""A C2SP tlog-witness: cosigns a log's checkpoints only when each is consistent with the last it cosigned.

``POST /add-checkpoint`` (c2sp.org/tlog-witness) takes::

    old <size the client believes the witness has>\n
    <consistency proof hash, base64>\n      (zero or more)
    \n
    <signed checkpoint note>

and answers 200 with the witness's tlog-cosignature/v1 line, or: 400 malformed,
404 a log the witness does not know, 403 a checkpoint without the log's valid
signature, 409 (body: the size it has, ``text/x.tlog.size``) when ``old`` is not
that size, 422 when the proof does not show the new checkpoint extends the one it
cosigned — a fork or a rollback. What it cosigned is kept in a state file, written
atomically before the cosignature leaves, so a restart can never be talked into
cosigning a conflicting checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass
from pathlib import Path

import structlog
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.errors import CheckpointError
from gateway.transparency import merkle, note
from gateway.transparency.files import write_private

log = structlog.get_logger("hostgate.witness")

MAX_REQUEST = 64 * 1024
MAX_PROOF = 64


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the witness answers: an HTTP status and body."""

    status: int
    body: str
    content_type: str = "text/plain"


class _Refused(Exception):  # noqa: N818 -- a verdict, not an error of ours
    def __init__(self, status: int, body: str) -> None:
        super().__init__(body)
        self.verdict = Verdict(status, body)


class Witness:
    """The witness's keys, the logs it follows, and what it has cosigned for each."""

    def __init__(self, name: str, key: Ed25519PrivateKey, logs: list[note.Verifier], state: Path) -> None:
        self.name = name
        self._key = key
        self._logs = {v.name: v for v in logs}
        self._state_path = state
        self._state: dict[str, dict[str, object]] = json.loads(state.read_text()) if state.exists() else {}
        self.verifier_key = note.verifier_key(name, key.public_key(), note.COSIGNATURE_V1)

    def latest(self, origin: str) -> tuple[int, bytes]:
        """The size and root hash last cosigned for ``origin`` (0 and the empty root at first)."""
        kept = self._state.get(origin)
        if kept is None:
            return 0, merkle.EMPTY_ROOT
        return int(str(kept["size"])), base64.b64decode(str(kept["root"]))

    def add_checkpoint(self, request: str, now: int | None = None) -> Verdict:
        """Judge one add-checkpoint request."""
        try:
            origin, old, proof, checkpoint = self._read(request)
        except _Refused as refused:
            return refused.verdict
        size, root = self.latest(origin)
        if old != size:
            return Verdict(409, f"{size}\n", "text/x.tlog.size")
        if checkpoint.size < size or not merkle.verify_consistency(
            size, checkpoint.size, root, checkpoint.root, proof
        ):
            log.warning("witness.refused", origin=origin, cosigned_size=size, offered_size=checkpoint.size)
            return Verdict(
                422, "not consistent with the checkpoint this witness cosigned: fork or rollback\n"
            )
        self._keep(origin, checkpoint)
        body = checkpoint.body()
        return Verdict(200, note.cosign(body, self.name, self._key, int(time.time()) if now is None else now))

    def _read(self, request: str) -> tuple[str, int, list[bytes], note.Checkpoint]:
        """The request's log, old size, proof and verified checkpoint; _Refused when any is wrong."""
        head, sep, signed = request.partition("\n\n")
        lines = head.split("\n")
        if not sep or not lines[0].startswith("old ") or not lines[0][4:].isdigit():
            raise _Refused(400, "malformed request: want 'old <size>', proof lines, a blank line, a note\n")
        try:
            proof = [base64.b64decode(line, validate=True) for line in lines[1:]]
        except binascii.Error as exc:
            raise _Refused(400, "malformed consistency proof\n") from exc
        if len(proof) > MAX_PROOF:
            raise _Refused(400, "consistency proof too long\n")
        origin = signed.split("\n", 1)[0]
        verifier = self._logs.get(origin)
        if verifier is None:
            raise _Refused(404, f"unknown log {origin!r}\n")
        try:
            checkpoint = note.open_note(signed, verifier).checkpoint
        except CheckpointError as exc:
            raise _Refused(403, f"checkpoint refused: {exc}\n") from exc
        return origin, int(lines[0][4:]), proof, checkpoint

    def _keep(self, origin: str, checkpoint: note.Checkpoint) -> None:
        self._state[origin] = {"size": checkpoint.size, "root": base64.b64encode(checkpoint.root).decode()}
        write_private(self._state_path, json.dumps(self._state))


def witness_app(witness: Witness) -> web.Application:
    """The witness's HTTP API."""
    app = web.Application(client_max_size=MAX_REQUEST)

    async def add_checkpoint(request: web.Request) -> web.Response:
        try:
            text = (await request.read()).decode()
        except UnicodeDecodeError:
            return web.Response(status=400, text="not UTF-8\n")
        verdict = witness.add_checkpoint(text)
        return web.Response(status=verdict.status, text=verdict.body, content_type=verdict.content_type)

    async def vkey(_request: web.Request) -> web.Response:
        return web.Response(text=witness.verifier_key + "\n")

    app.router.add_post("/add-checkpoint", add_checkpoint)
    app.router.add_get("/vkey", vkey)
    return app
