"""The writer: durable before acknowledged, one chain across rotation and restarts, crash-safe."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gateway.audit.chain import FILE_PATTERN
from gateway.audit.checkpoint import leaf, parse_verifier_key, split_notes
from gateway.audit.verify import Report, verify
from gateway.disclosure.keys import KeyRing
from gateway.transparency import merkle
from gateway.transparency.note import peek
from tests.audit.trails import build_trail, writer_for
from tests.support import REPO

APPENDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from gateway.disclosure.keys import KeyRing
    from tests.audit.trails import writer_for

    base = Path(sys.argv[1])
    ring = KeyRing.open(base / "keys")
    writer = writer_for(base / "audit", ring, every=100, rotate_bytes=20_000)
    writer.open()
    for i in range(1000):
        seq = writer.submit({"event": "keys.rotated", "ts": "2026-11-29T00:00:00Z", "kid": f"k{i}"}).result()
        print(seq, flush=True)  # acknowledged: the record is on disk
    """
)


def _verify_dir(base: Path) -> tuple[Report, list[Path]]:
    ring = KeyRing.open(base / "keys")
    files = sorted((base / "audit").glob(FILE_PATTERN))
    checkpoints = (base / "audit" / "checkpoints.note").read_text()
    keys = {ring.active.kid: ring.active.public}
    return verify(files, checkpoints, keys), files


class TestChain:
    def test_chain_continues_across_rotation_and_restart(self, tmp_path: Path) -> None:
        """Records written before and after a restart, over several files, form one verifiable chain."""
        ring = KeyRing.open(tmp_path / "keys")
        for run in range(3):
            writer = writer_for(tmp_path / "audit", ring, every=7, rotate_bytes=2_000)
            writer.open()
            for i in range(25):
                writer.submit(
                    {"event": "keys.rotated", "ts": "2026-11-29T00:00:00Z", "kid": f"r{run}-{i}"}
                ).result()
            writer.close()
        report, files = _verify_dir(tmp_path)
        assert len(files) > 3, "rotation should have made several files"
        assert report.intact, report.first
        assert report.records >= 75
        assert report.checkpoints >= 10
        # Every checkpoint is a C2SP checkpoint whose root is the RFC 6962 root of the records it covers.
        lines = [line for path in files for line in path.read_bytes().splitlines()]
        for text in split_notes((tmp_path / "audit" / "checkpoints.note").read_text()):
            checkpoint = peek(text)
            assert checkpoint.origin == "hostgate.audit/test"
            assert checkpoint.root == merkle.root([leaf(line) for line in lines[: checkpoint.size]])

    def test_submit_many_writes_in_order_and_answers_with_the_last_seq(self, tmp_path: Path) -> None:
        """A group is written in order between single records; its future is the last seq, once on disk."""
        ring = KeyRing.open(tmp_path / "keys")
        writer = writer_for(tmp_path / "audit", ring, every=1000, rotate_bytes=2_000)
        writer.open()
        record = {"event": "keys.rotated", "ts": "2026-11-29T00:00:00Z"}
        assert writer.submit({**record, "kid": "before"}).result() == 1
        group = [{**record, "kid": f"g{i}"} for i in range(40)]
        assert writer.submit_many(group).result() == 41
        assert writer.submit_many([]).result() == 41  # nothing to write: the seq so far
        assert writer.submit({**record, "kid": "after"}).result() == 42
        writer.close()
        report, files = _verify_dir(tmp_path)
        assert report.intact, report.first
        lines = [line for path in files for line in path.read_bytes().splitlines()]
        kids = [kid for line in lines if (kid := json.loads(line).get("kid")) is not None]
        assert kids == ["before", *(f"g{i}" for i in range(40)), "after"]

    def test_checkpoint_covers_itself_on_close(self, tmp_path: Path) -> None:
        """The last checkpoint covers every record, its own record included."""
        trail = build_trail(tmp_path, 3, every=1000)
        lines = trail.files[0].read_bytes().splitlines()
        notes = split_notes(trail.checkpoints.read_text())
        assert len(lines) == 4
        assert f"\n{len(lines)}\n" in notes[-1]

    def test_torn_tail_cut_on_restart(self, tmp_path: Path) -> None:
        """A half-written last line is reported incomplete, then cut on the next start so the chain goes on."""
        trail = build_trail(tmp_path, 10)
        with trail.files[-1].open("ab") as fh:
            fh.write(b'{"event":"keys.rotated","kid":"half')
        keys = dict([parse_verifier_key(trail.key)])
        before = verify(trail.files, trail.checkpoints.read_text(), keys)
        assert before.intact
        assert before.incomplete is not None
        writer = writer_for(trail.directory, trail.ring)
        writer.open()
        writer.submit({"event": "keys.rotated", "ts": "2026-11-29T00:00:00Z", "kid": "after"}).result()
        writer.close()
        after = verify(sorted(trail.directory.glob(FILE_PATTERN)), trail.checkpoints.read_text(), keys)
        assert after.intact
        assert after.incomplete is None


class TestCrash:
    @pytest.mark.parametrize("run", range(3))
    def test_kill_9_during_appends(self, tmp_path: Path, run: int) -> None:
        """Kill -9 mid-stream: the prefix verifies, a torn tail is only 'incomplete', every acknowledged record is there."""
        process = subprocess.Popen(
            [sys.executable, "-c", APPENDER, str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert process.stdout is not None
        stop_after = random.Random(run).randint(100, 900)  # noqa: S311 -- picks a kill point, not a secret
        acknowledged = 0
        for line in process.stdout:
            if not line.strip().isdigit():
                continue  # the writer's own log lines
            acknowledged = int(line)
            if acknowledged >= stop_after:
                break
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        process.stdout.close()
        report, _ = _verify_dir(tmp_path)
        print(
            f"killed after {acknowledged} acknowledged; on disk {report.records}; incomplete={report.incomplete}"
        )
        assert report.intact, report.first
        assert report.records >= acknowledged
        # Restarted, the writer rebuilds the Merkle tree from the last checkpoint record's saved
        # range plus the records after it; its next checkpoint must match the records exactly.
        writer = writer_for(tmp_path / "audit", KeyRing.open(tmp_path / "keys"), every=100)
        writer.open()
        writer.submit({"event": "keys.rotated", "ts": "2026-11-29T00:00:00Z", "kid": "after"}).result()
        writer.close()
        after, files = _verify_dir(tmp_path)
        assert after.intact, after.first
        assert after.incomplete is None
        lines = [line for path in files for line in path.read_bytes().splitlines()]
        last = peek(split_notes((tmp_path / "audit" / "checkpoints.note").read_text())[-1])
        assert last.size == len(lines)
        assert last.root == merkle.root([leaf(line) for line in lines])


class TestCancelledCallers:
    def test_cancelled_wait_does_not_kill_the_writer(self, tmp_path: Path) -> None:
        """A caller that stops waiting (cancelled) leaves the writer running and the record written."""
        ring = KeyRing.open(tmp_path / "keys")
        writer = writer_for(tmp_path / "audit", ring)
        writer.open()
        first = writer.submit({"event": "keys.rotated", "ts": "2026-11-29T00:00:00Z", "kid": "a"})
        first.cancel()
        assert (
            writer.submit({"event": "keys.rotated", "ts": "2026-11-29T00:00:00Z", "kid": "b"}).result(5) >= 1
        )
        writer.close()
        report, _ = _verify_dir(tmp_path)
        assert report.intact
        assert report.records >= 2


def test_trail_files_are_owner_only(tmp_path: Path) -> None:
    """The trail's directory, files, checkpoints and lock are 0700/0600 even under umask 022."""
    old = os.umask(0o022)
    try:
        ring = KeyRing.open(tmp_path / "keys")
        writer = writer_for(tmp_path / "audit", ring)
        writer.open()
        try:
            writer.submit({"event": "config.loaded"}).result(10)
        finally:
            writer.close()
    finally:
        os.umask(old)
    directory = tmp_path / "audit"
    assert directory.stat().st_mode & 0o777 == 0o700
    files = list(directory.iterdir())
    assert files
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600, path
