"""`hostgate monitor` prints a business's revisions from the log, and exits 4 on a fork with both checkpoints."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.transparency import merkle, note, tiles
from tests.conftest import run_cli
from tests.support import served

ORIGIN = "hostgate.test/disclosures"
KEY = Ed25519PrivateKey.generate()


def _entry(business: str, revision: int, operator: str) -> bytes:
    return json.dumps(
        {
            "business_id": business,
            "revision": revision,
            "hosting_class": "cloud",
            "operator": operator,
            "region": "eu",
            "endpoint_key": {"kid": f"k{revision}"},
        }
    ).encode()


class FakeLog:
    """A log served in the tlog-tiles layout whose history a test may rewrite (as a lying gateway would)."""

    def __init__(self, entries: list[bytes]) -> None:
        self.entries = entries
        # When set, the checkpoint commits to these leaf hashes instead of the entries served (a lie).
        self.signed_leaves: list[bytes] | None = None

    def app(self) -> web.Application:
        """The log's HTTP face."""
        app = web.Application()

        async def vkey(_r: web.Request) -> web.Response:
            return web.Response(text=note.verifier_key(ORIGIN, KEY.public_key()) + "\n")

        async def checkpoint(_r: web.Request) -> web.Response:
            leaves = self.signed_leaves or [merkle.leaf_hash(e) for e in self.entries]
            body = note.Checkpoint(ORIGIN, len(leaves), merkle.root(leaves)).body()
            return web.Response(text=note.note(body, [note.sign(body, ORIGIN, KEY)]))

        async def tile(request: web.Request) -> web.Response:
            level, index, width = tiles.parse_tile_path(request.match_info["path"])
            if level is None:
                first = index * 256
                return web.Response(body=tiles.entry_bundle(self.entries[first : first + width]))
            leaves = [merkle.leaf_hash(e) for e in self.entries]
            return web.Response(body=tiles.tile_data(leaves, level, index, width))

        app.router.add_get("/log/vkey", vkey)
        app.router.add_get("/log/checkpoint", checkpoint)
        app.router.add_get("/log/tile/{path:.+}", tile)
        return app


async def test_prints_revisions_then_catches_a_fork(tmp_path: Path) -> None:
    """Revisions 1..3 of one business are printed (others' are not); a rewritten history exits 4."""
    history = [_entry("acme", 1, "Own"), _entry("other", 1, "X"), _entry("acme", 2, "Cloud A")]
    log = FakeLog(history)
    state = str(tmp_path / "monitor.state")
    async with served(log.app()) as url:
        first = await asyncio.to_thread(
            run_cli, "monitor", "--business", "acme", "--gateway", url, "--state", state, "--once"
        )
        assert first.returncode == 0, first.stdout + first.stderr
        assert [line.split(":")[1].strip() for line in first.stdout.splitlines()] == [
            "acme revision 1",
            "acme revision 2",
        ]
        log.entries = [*history, _entry("acme", 3, "Cloud B")]
        second = await asyncio.to_thread(
            run_cli, "monitor", "--business", "acme", "--gateway", url, "--state", state, "--once"
        )
        assert second.returncode == 0, second.stdout + second.stderr
        assert "acme revision 3: cloud by Cloud B" in second.stdout
        # The gateway rewrites history: revision 2 now names another operator, same size as before.
        log.entries = [
            history[0],
            history[1],
            _entry("acme", 2, "Someone Else"),
            _entry("acme", 3, "Cloud B"),
        ]
        forked = await asyncio.to_thread(
            run_cli, "monitor", "--business", "acme", "--gateway", url, "--state", state, "--once"
        )
    print(forked.stdout)
    assert forked.returncode == 4
    assert "FORK" in forked.stdout
    assert forked.stdout.count(ORIGIN) >= 2  # both checkpoints are shown
