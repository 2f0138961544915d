"""An independent implementation (Go's golang.org/x/mod/sumdb note and tlog) verifies a live gateway's log.

Go and x/mod come from Debian (golang-go, golang-golang-x-mod-dev); scripts/bootstrap installs them
as root. Missing, the test fails saying so: it is never skipped.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.app import apply_config
from gateway.audit.checkpoint import split_notes
from gateway.http.keys import CONFIG
from gateway.transparency import merkle, note
from tests.audit.trails import build_trail
from tests.conftest import edit
from tests.support import gateway_client, served
from tests.transparency.test_monitor import KEY, ORIGIN, FakeLog, _entry

pytestmark = pytest.mark.broker

SOURCE = Path(__file__).parent / "gocheck"
X_MOD = Path("/usr/share/gocode/src/golang.org/x/mod/sumdb/tlog")


@pytest.fixture(scope="module")
def gocheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go checker, built once."""
    if shutil.which("go") is None or not X_MOD.is_dir():
        pytest.fail(
            "needs Debian's golang-go and golang-golang-x-mod-dev (scripts/bootstrap installs them as root)"
        )
    out = tmp_path_factory.mktemp("gocheck")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "GOCACHE": str(out / "cache")}
    built = subprocess.run(
        ["go", "build", "-o", str(out / "gocheck"), "."],
        cwd=SOURCE,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    return out / "gocheck"


async def _run(gocheck: Path, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(gocheck), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode()


async def test_go_verifies_the_live_log(config_dir: Path, gocheck: Path) -> None:
    """Checkpoint signature, every record through verified tiles, consistency from size 1, and our proofs."""
    edit(config_dir / "gateway.toml", lambda t: t + "\n[transparency]\ncheckpoint_seconds = 0.2\n")
    async with gateway_client(config_dir, "gocheck") as client:
        edit(
            config_dir / "businesses" / "nimbus-shop.toml",
            lambda t: t.replace('region = "', 'region = "go-', 1),
        )
        app = client.app
        assert await app[CONFIG].reload(lambda fresh: apply_config(app, fresh))
        await asyncio.sleep(0.6)  # a checkpoint of size 4
        base = str(client.make_url("")).rstrip("/")
        vkey = (await (await client.get("/log/vkey")).text()).strip()
        code, out = await _run(gocheck, base, vkey, "warung-sari/1", "nimbus-shop/1", "nimbus-shop/2")
    print(out)
    assert code == 0, out
    assert out.startswith("ok hostgate.local/disclosures: 4 leaves")


async def test_go_catches_a_checkpoint_that_does_not_match_the_tiles(gocheck: Path) -> None:
    """A log whose signed root is not the root of its tiles (a lie) fails the Go checker."""
    log = FakeLog([_entry("acme", 1, "Own"), _entry("acme", 2, "Cloud")])
    log.signed_leaves = [merkle.leaf_hash(b"not what the tiles hold"), merkle.leaf_hash(b"either")]
    async with served(log.app()) as url:
        code, out = await _run(gocheck, url, note.verifier_key(ORIGIN, KEY.public_key()))
    print(out)
    assert code == 1
    assert out.startswith("FAIL")


async def test_go_verifies_the_audit_trail(tmp_path: Path, gocheck: Path) -> None:
    """The audit trail's checkpoints open as signed notes and their roots match the records as tlog hashes them."""
    trail = build_trail(tmp_path, 23, every=5, rotate_bytes=2000)
    assert len(trail.files) > 1  # the tree runs across file rotation
    code, out = await _run(gocheck, "audit", str(trail.checkpoints), trail.key, *map(str, trail.files))
    print(out)
    assert code == 0, out
    notes = split_notes(trail.checkpoints.read_text())
    assert len(notes) > 3
    assert f"ok: {len(notes)} checkpoints" in out
    # One changed byte in a record is caught by Go too.
    first = trail.files[0]
    first.write_bytes(first.read_bytes().replace(b'"k3"', b'"k4"', 1))
    code, out = await _run(gocheck, "audit", str(trail.checkpoints), trail.key, *map(str, trail.files))
    assert code != 0, out
    assert "root" in out, out
