"""The network's side of the transparency log: accept a disclosure only with proof it is in the log.

``LogVerifier`` pins the log's key (and, optionally, k of n witnesses' keys),
remembers the largest checkpoint it has accepted (in a state file, across
restarts) and refuses:

* a disclosure whose inclusion proof does not verify against a trusted checkpoint
  (:class:`~gateway.errors.NotInLog`);
* a checkpoint without the log's signature or without enough witness cosignatures;
* a checkpoint that cannot extend, or be a prefix of, the one it remembers — a fork
  or a rollback (:class:`~gateway.errors.LogForked`, carrying both notes).

Consistency proofs come from the log's tiles: ``TileReader`` fetches the level-0
tiles of a gateway and computes them, as any tlog-tiles client does.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from gateway.errors import CheckpointError, LogForked, NotInLog
from gateway.transparency import merkle, note, tiles
from gateway.transparency.files import write_private


class LogVerifier:
    """Checks disclosures' inclusion proofs and the log's checkpoints, remembering the last one."""

    def __init__(
        self,
        log_vkey: str,
        witness_vkeys: Sequence[str] = (),
        required_witnesses: int = 0,
        state: Path | None = None,
    ) -> None:
        self._log = note.Verifier.parse(log_vkey)
        self._witnesses = tuple(note.Verifier.parse(v) for v in witness_vkeys)
        if not 0 <= required_witnesses <= len(self._witnesses):
            raise CheckpointError("required witnesses must be between 0 and the witnesses configured")
        self._required = required_witnesses
        self._state = state
        self._last: tuple[note.Checkpoint, str] | None = None
        if state is not None and state.exists():
            kept = state.read_text()
            self._last = (note.open_note(kept, self._log, self._witnesses).checkpoint, kept)

    @property
    def last(self) -> note.Checkpoint | None:
        """The largest checkpoint accepted so far."""
        return None if self._last is None else self._last[0]

    def check_checkpoint(self, signed: str, consistency: Sequence[bytes] = ()) -> note.Checkpoint:
        """Accept ``signed`` if it is trusted and consistent with the last one (``consistency`` proves it)."""
        opened = note.open_note(signed, self._log, self._witnesses)
        cosigners = opened.signers - {self._log.name}
        if len(cosigners) < self._required:
            raise CheckpointError(
                f"checkpoint cosigned by {len(cosigners)} of the witnesses, {self._required} required"
            )
        checkpoint = opened.checkpoint
        if self._last is None:
            self._remember(checkpoint, signed)
            return checkpoint
        last, last_note = self._last
        old, new = (last, checkpoint) if checkpoint.size >= last.size else (checkpoint, last)
        if old.size not in (0, new.size) and not consistency:
            raise CheckpointError(f"a consistency proof between sizes {old.size} and {new.size} is needed")
        if not merkle.verify_consistency(old.size, new.size, old.root, new.root, consistency):
            what = "fork: same size, different root" if old.size == new.size else "not consistent"
            if checkpoint.size < last.size:
                what = "rollback or fork: an older checkpoint that is not a prefix of the one seen"
            raise LogForked(f"log {self._log.name}: {what}", last_note, signed)
        if checkpoint.size > last.size:
            self._remember(checkpoint, signed)
        return checkpoint

    def check_disclosure(
        self, body: bytes, proof: dict[str, Any], consistency: Sequence[bytes] = ()
    ) -> note.Checkpoint:
        """Accept a disclosure body only with a valid inclusion proof in a trusted, consistent checkpoint."""
        try:
            index = int(proof["leaf_index"])
            hashes = [base64.b64decode(h, validate=True) for h in proof["inclusion_proof"]]
            signed = str(proof["checkpoint"])
        except (KeyError, TypeError, ValueError) as exc:
            raise NotInLog("disclosure has no well-formed inclusion proof") from exc
        checkpoint = self.check_checkpoint(signed, consistency)
        if not merkle.verify_inclusion(
            merkle.leaf_hash(body), index, checkpoint.size, hashes, checkpoint.root
        ):
            raise NotInLog(f"disclosure is not leaf {index} of the log at size {checkpoint.size}")
        return checkpoint

    def _remember(self, checkpoint: note.Checkpoint, signed: str) -> None:
        self._last = (checkpoint, signed)
        if self._state is not None:
            write_private(self._state, signed)


class TileReader:
    """Reads a gateway's log tiles over HTTP and derives consistency proofs from them."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self._base = base_url.rstrip("/")

    async def _get(self, path: str) -> bytes:
        async with self._session.get(f"{self._base}/log/{path}") as response:
            if response.status != 200:  # noqa: PLR2004 -- anything else is no tile
                raise CheckpointError(f"log {path}: HTTP {response.status}")
            return await response.read()

    async def checkpoint(self) -> str:
        """The gateway's latest signed checkpoint."""
        return (await self._get("checkpoint")).decode()

    async def leaf_hashes(self, size: int) -> list[bytes]:
        """The first ``size`` leaf hashes, from the level-0 tiles."""
        hashes: list[bytes] = []
        for index in range((size + tiles.TILE_WIDTH - 1) // tiles.TILE_WIDTH):
            width = tiles.available_width(size, 0, index)
            data = await self._get(tiles.tile_path(0, index, width))
            if len(data) != width * merkle.HASH_SIZE:
                raise CheckpointError(f"tile 0/{index} has {len(data)} bytes, not {width} hashes")
            hashes += [data[i : i + merkle.HASH_SIZE] for i in range(0, len(data), merkle.HASH_SIZE)]
        return hashes

    async def entries(self, size: int) -> list[bytes]:
        """The first ``size`` entries, from the entry bundles."""
        found: list[bytes] = []
        for index in range((size + tiles.TILE_WIDTH - 1) // tiles.TILE_WIDTH):
            width = tiles.available_width(size, 0, index)
            found += tiles.read_bundle(await self._get(tiles.tile_path("entries", index, width)))
        return found

    async def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        """A consistency proof between two sizes, computed from the tiles."""
        return merkle.consistency_proof(await self.leaf_hashes(new_size), old_size, new_size)
