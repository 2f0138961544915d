"""A live gateway's transparency log: every revision a leaf, signed checkpoints, tiles and proofs that verify."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.app import apply_config
from gateway.http.keys import CONFIG
from gateway.transparency import merkle, note, tiles
from tests.conftest import edit, run_cli
from tests.support import gateway_client

pytestmark = pytest.mark.broker

BUSINESSES = ("kirana-travel", "nimbus-shop", "warung-sari")


async def _checkpoint_of(client: Any, log: note.Verifier, size: int) -> note.OpenedNote:
    deadline = time.monotonic() + 15
    while True:
        response = await client.get("/log/checkpoint")
        if response.status == 200:
            opened = note.open_note(await response.text(), log)
            if opened.checkpoint.size >= size:
                return opened
        assert time.monotonic() < deadline, f"no checkpoint of size {size}"
        await asyncio.sleep(0.1)


async def _leaves(client: Any, size: int) -> list[bytes]:
    response = await client.get("/" + "log/" + tiles.tile_path(0, 0, size))
    assert response.status == 200, await response.text()
    assert "immutable" in response.headers["Cache-Control"]
    data = await response.read()
    return [data[i : i + 32] for i in range(0, len(data), 32)]


async def test_every_revision_is_a_leaf_with_a_proof(config_dir: Path) -> None:
    """Revisions are leaves; the checkpoint, tiles, entries and each disclosure's proof agree; a change keeps history."""
    edit(config_dir / "gateway.toml", lambda t: t + "\n[transparency]\ncheckpoint_seconds = 0.2\n")
    async with gateway_client(config_dir, "transparency") as client:
        log = note.Verifier.parse(await (await client.get("/log/vkey")).text())
        first = await _checkpoint_of(client, log, 3)
        assert first.checkpoint.size == 3
        leaves = await _leaves(client, 3)
        assert merkle.root(leaves) == first.checkpoint.root
        bundle = await client.get("/log/" + tiles.tile_path("entries", 0, 3))
        entries = tiles.read_bundle(await bundle.read())
        assert [merkle.leaf_hash(e) for e in entries] == leaves

        for business in BUSINESSES:
            body = await (await client.get(f"/disclosures/{business}")).read()
            proof = await (await client.get(f"/disclosures/{business}/1/proof")).json()
            against = note.open_note(proof["checkpoint"], log).checkpoint
            hashes = [base64.b64decode(h) for h in proof["inclusion_proof"]]
            assert merkle.verify_inclusion(
                merkle.leaf_hash(body), proof["leaf_index"], against.size, hashes, against.root
            ), business
            assert entries[proof["leaf_index"]] == body

        # A hosting change: one more leaf, and the new checkpoint extends the old one.
        path = config_dir / "businesses" / "nimbus-shop.toml"
        edit(path, lambda t: t.replace('region = "', 'region = "moved-', 1))
        app = client.app
        assert await app[CONFIG].reload(lambda fresh: apply_config(app, fresh))
        second = await _checkpoint_of(client, log, 4)
        grown = await _leaves(client, 4)
        assert grown[:3] == leaves
        proof_2 = merkle.consistency_proof(grown, 3, 4)
        assert merkle.verify_consistency(3, 4, first.checkpoint.root, second.checkpoint.root, proof_2)
        revision_2 = await client.get("/disclosures/nimbus-shop/2/proof")
        assert revision_2.status == 200
        assert (await revision_2.json())["leaf_index"] == 3

        assert (await client.get("/log/tile/0/999")).status == 404
        assert (await client.get("/log/tile/0/0001")).status == 400
        assert (await client.get("/disclosures/nimbus-shop/9/proof")).status == 404


async def test_monitor_prints_each_revision_after_hosting_changes(config_dir: Path) -> None:
    """After two hosting changes, `hostgate monitor --once` prints nimbus-shop's revisions 1, 2 and 3 only."""
    edit(config_dir / "gateway.toml", lambda t: t + "\n[transparency]\ncheckpoint_seconds = 0.2\n")
    async with gateway_client(config_dir, "monitor") as client:
        app = client.app
        path = config_dir / "businesses" / "nimbus-shop.toml"
        for region in ("one", "two"):
            path.write_text(path.read_text().replace('region = "', f'region = "{region}-', 1))
            assert await app[CONFIG].reload(lambda fresh: apply_config(app, fresh))
        log = note.Verifier.parse(await (await client.get("/log/vkey")).text())
        await _checkpoint_of(client, log, 5)
        base = str(client.make_url("")).rstrip("/")
        done = await asyncio.to_thread(
            run_cli, "monitor", "--business", "nimbus-shop", "--gateway", base, "--once"
        )
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    revisions = [line.split("nimbus-shop revision ")[1].split(":")[0] for line in done.stdout.splitlines()]
    assert revisions == ["1", "2", "3"]
