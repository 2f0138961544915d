"""The gateway has each checkpoint cosigned by its configured witness, and clients can require it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.app import apply_config
from gateway.client.transparency import LogVerifier
from gateway.http.keys import CONFIG
from gateway.transparency import note
from gateway.transparency.log import open_log_key
from gateway.transparency.witness import Witness, witness_app
from tests.conftest import edit
from tests.support import gateway_client, served

pytestmark = pytest.mark.broker

ORIGIN = "hostgate.local/disclosures"


async def _cosigned_checkpoint(client: Any, witness: note.Verifier, log: note.Verifier, size: int) -> str:
    deadline = time.monotonic() + 15
    while True:
        text = str(await (await client.get("/log/checkpoint")).text())
        opened = note.open_note(text, log, (witness,))
        if opened.checkpoint.size >= size and witness.name in opened.signers:
            return text
        assert time.monotonic() < deadline, f"no cosigned checkpoint of size {size}: {text}"
        await asyncio.sleep(0.1)


async def test_checkpoints_are_cosigned_and_required(config_dir: Path, tmp_path: Path) -> None:
    """The witness cosigns size 3 then 4 (consistency proven); a client requiring 1 witness accepts the proofs."""
    log_key = open_log_key(config_dir.parent / "var" / "keys")
    log_vkey = note.verifier_key(ORIGIN, log_key.public_key())
    witness = Witness(
        "witness.test", Ed25519PrivateKey.generate(), [note.Verifier.parse(log_vkey)], tmp_path / "w"
    )
    async with served(witness_app(witness)) as url:
        edit(
            config_dir / "gateway.toml",
            lambda t: (
                t
                + f'\n[transparency]\ncheckpoint_seconds = 0.2\n[[transparency.witnesses]]\nurl = "{url}"\n'
                + f'vkey = "{witness.verifier_key}"\n'
            ),
        )
        async with gateway_client(config_dir, "witnessed") as client:
            log, cosigner = note.Verifier.parse(log_vkey), note.Verifier.parse(witness.verifier_key)
            await _cosigned_checkpoint(client, cosigner, log, 3)
            edit(
                config_dir / "businesses" / "kirana-travel.toml",
                lambda t: t.replace('region = "', 'region = "w-', 1),
            )
            app = client.app
            assert await app[CONFIG].reload(lambda fresh: apply_config(app, fresh))
            await _cosigned_checkpoint(client, cosigner, log, 4)
            body = await (await client.get("/disclosures/kirana-travel")).read()
            proof = await (await client.get("/disclosures/kirana-travel/2/proof")).json()
    assert witness.latest(ORIGIN)[0] == 4
    strict = LogVerifier(log_vkey, [witness.verifier_key], required_witnesses=1)
    assert strict.check_disclosure(body, proof).size == 4
