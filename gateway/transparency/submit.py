"""Hand each new checkpoint to the configured witnesses (c2sp.org/tlog-witness) and keep their cosignatures.

For each witness the gateway remembers the size it last had cosigned there (0 at
first); a 409 answer carries the witness's real size, and the request is made
again once with a proof from that size. A cosignature is checked before it is
kept; the cosigned note then replaces the plain one, so ``/log/checkpoint`` and
the proofs in disclosure events carry it.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
import structlog

from gateway.errors import CheckpointError
from gateway.transparency import merkle, note

log = structlog.get_logger("hostgate.transparency")

CONFLICT = 409
OK = 200


@dataclass(frozen=True, slots=True)
class WitnessEndpoint:
    """Where a witness listens and the key its cosignatures must verify with."""

    url: str
    verifier: note.Verifier


class WitnessSubmitter:
    """Asks every witness to cosign a checkpoint; returns the note with the cosignatures that verify."""

    def __init__(self, witnesses: Sequence[WitnessEndpoint], log_verifier: note.Verifier) -> None:
        self._witnesses = list(witnesses)
        self._log = log_verifier
        self._sizes: dict[str, int] = {}
        self._session: aiohttp.ClientSession | None = None

    async def cosign(self, signed: str, leaves: Sequence[bytes]) -> str:
        """``signed`` plus each witness's cosignature line (those that answered and verify)."""
        if not self._witnesses:
            return signed
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        lines = []
        for witness in self._witnesses:
            try:
                line = await self._ask(witness, signed, leaves)
            except (aiohttp.ClientError, TimeoutError, CheckpointError, ValueError) as exc:
                log.warning("transparency.witness_failed", witness=witness.url, error=str(exc)[:200])
                continue
            if line is not None:
                lines.append(line)
        return signed + "".join(lines)

    async def _ask(self, witness: WitnessEndpoint, signed: str, leaves: Sequence[bytes]) -> str | None:
        assert self._session is not None  # noqa: S101 -- opened by cosign
        size = note.open_note(signed, self._log).checkpoint.size
        for _attempt in range(2):
            old = min(self._sizes.get(witness.url, 0), size)
            proof = merkle.consistency_proof(leaves, old, size)
            body = (
                f"old {old}\n" + "".join(base64.b64encode(h).decode() + "\n" for h in proof) + "\n" + signed
            )
            async with self._session.post(f"{witness.url.rstrip('/')}/add-checkpoint", data=body) as response:
                text = await response.text()
                if response.status == CONFLICT:
                    self._sizes[witness.url] = int(text.strip())
                    continue
                if response.status != OK:
                    log.warning("transparency.witness_refused", witness=witness.url, status=response.status)
                    return None
            cosigned = signed + text
            opened = note.open_note(cosigned, self._log, (witness.verifier,))
            if witness.verifier.name not in opened.signers:
                raise CheckpointError(f"witness {witness.url} answered without a valid cosignature")
            self._sizes[witness.url] = size
            return text
        return None

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
