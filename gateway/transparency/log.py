"""The transparency log of disclosures: one leaf per revision, signed checkpoints, tiles and proofs.

A leaf's entry is the exact disclosure body the network receives (the bytes the
detached JWS signs); its leaf hash is SHA-256(0x00 || entry). Leaves are appended
in the unit of work that creates the revision, so a revision exists if and only
if it is in the log, in one sequence for every process sharing the store.
A :class:`TransparencyLog` signs a checkpoint whenever the log has grown, serves
the C2SP tiles, and builds inclusion proofs against its latest checkpoint.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.store import Store, Unit
from gateway.transparency import merkle, note, tiles
from gateway.transparency.files import ed25519_key_file
from gateway.transparency.submit import WitnessEndpoint, WitnessSubmitter

log = structlog.get_logger("hostgate.transparency")

KEY_FILE = "transparency-log.key"


async def append_revision(tx: Unit, business_id: str, revision: int, entry: bytes) -> int:
    """Put a new revision's body into the log in the caller's unit; return its index."""
    return await tx.log.append(business_id, revision, entry, merkle.leaf_hash(entry))


def open_log_key(directory: Path) -> Ed25519PrivateKey:
    """The log's Ed25519 key from ``directory``, created (0600) on first use; it must never change."""
    return ed25519_key_file(directory / KEY_FILE)


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """Where a revision sits in the log, and the proof against a signed checkpoint that holds it."""

    index: int
    checkpoint: str
    hashes: tuple[bytes, ...]

    def as_json(self) -> dict[str, object]:
        """The JSON form sent beside a disclosure."""
        return {
            "leaf_index": self.index,
            "checkpoint": self.checkpoint,
            "inclusion_proof": [base64.b64encode(h).decode() for h in self.hashes],
        }


class TransparencyLog:
    """Signs checkpoints of the store's log and serves its tiles and proofs."""

    def __init__(
        self,
        store: Store,
        origin: str,
        key: Ed25519PrivateKey,
        interval: float = 2.0,
        witnesses: Sequence[WitnessEndpoint] = (),
    ) -> None:
        self._store = store
        self.origin = origin
        self._key = key
        self._interval = interval
        self._hashes: list[bytes] = []  # leaf hashes read so far (the log only grows)
        self._cache_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.verifier_key = note.verifier_key(origin, key.public_key())
        self._submitter = WitnessSubmitter(witnesses, note.Verifier.parse(self.verifier_key))

    async def _hashes_up_to(self, size: int) -> list[bytes]:
        # One reader at a time: the timer's checkpoint and the relay's may both extend the cache.
        async with self._cache_lock:
            if len(self._hashes) < size:
                async with self._store.read() as tx:
                    self._hashes.extend(await tx.log.leaf_hashes(len(self._hashes), size))
        return self._hashes[:size]

    async def checkpoint(self) -> str | None:
        """Sign and keep a checkpoint if the log grew since the last one; return the latest note."""
        async with self._store.read() as tx:
            size = await tx.log.size()
            latest = await tx.log.latest_checkpoint()
        if latest is not None and latest[0] >= size:
            return latest[1]
        hashes = await self._hashes_up_to(size)
        body = note.Checkpoint(self.origin, size, merkle.root(hashes)).body()
        signed = note.note(body, [note.sign(body, self.origin, self._key)])
        async with self._store.unit() as tx:
            await tx.log.save_checkpoint(size, signed)
        log.info("transparency.checkpoint_signed", size=size)
        cosigned = await self._submitter.cosign(signed, hashes)
        if cosigned != signed:
            async with self._store.unit() as tx:
                await tx.log.cosigned(size, cosigned)
        return cosigned

    async def latest_checkpoint(self) -> str | None:
        """The latest signed checkpoint note."""
        async with self._store.read() as tx:
            latest = await tx.log.latest_checkpoint()
        return None if latest is None else latest[1]

    async def proof(self, business_id: str, revision: int) -> InclusionProof | None:
        """The inclusion proof of a revision against the latest checkpoint, or None if none holds it yet."""
        async with self._store.read() as tx:
            index = await tx.log.index_of(business_id, revision)
            latest = await tx.log.latest_checkpoint()
        if index is None or latest is None or latest[0] <= index:
            return None
        size, signed = latest
        hashes = await self._hashes_up_to(size)
        return InclusionProof(index, signed, tuple(merkle.inclusion_proof(hashes, index, size)))

    async def tile(self, path: str) -> bytes | None:
        """A tile or entry bundle (path after ``tile/``) within the latest checkpoint; None if absent."""
        level, index, width = tiles.parse_tile_path(path)
        async with self._store.read() as tx:
            latest = await tx.log.latest_checkpoint()
            size = 0 if latest is None else latest[0]
            if level is None:
                if tiles.available_width(size, 0, index) < width:
                    return None
                first = index * tiles.TILE_WIDTH
                return tiles.entry_bundle(await tx.log.entries(first, first + width))
        if tiles.available_width(size, level, index) < width:
            return None
        return tiles.tile_data(await self._hashes_up_to(size), level, index, width)

    async def backfill(self) -> int:
        """Append revisions made before this store had a log (an upgrade), oldest first."""
        async with self._store.unit() as tx:
            missing = await tx.log.unlogged()
            for business_id, revision, body in missing:
                await append_revision(tx, business_id, revision, body)
        if missing:
            log.info("transparency.backfilled", revisions=len(missing))
        return len(missing)

    async def proof_for_publish(self, business_id: str, revision: int) -> dict[str, object] | None:
        """The revision's proof, signing a checkpoint at once if none holds it yet (no wait for the timer)."""
        found = await self.proof(business_id, revision)
        if found is None:
            await self.checkpoint()
            found = await self.proof(business_id, revision)
        return None if found is None else found.as_json()

    async def start(self) -> None:
        """Sign a checkpoint now and then every interval while the log grows."""
        await self.backfill()
        await self.checkpoint()
        self._task = asyncio.create_task(self._run(), name="transparency-checkpoints")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.checkpoint()
            except Exception as exc:  # noqa: BLE001 -- a failed round is retried next interval
                log.warning("transparency.checkpoint_failed", error=type(exc).__name__)

    async def close(self) -> None:
        """Stop signing."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._submitter.close()
