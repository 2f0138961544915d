"""``hostgate audit verify|show|export|key`` as a compliance reviewer uses them."""

from __future__ import annotations

import csv
import io
import json
import signal
from pathlib import Path

import pytest

from tests.audit.trails import build_trail
from tests.conftest import run_cli
from tests.support import serving, wait_status


class TestVerifyCli:
    def test_exit_codes(self, tmp_path: Path) -> None:
        """0 when intact, 1 naming the first bad seq when tampered, 3 when only the tail is torn."""
        trail = build_trail(tmp_path, 12)
        (tmp_path / "key.txt").write_text(trail.key + "\n")
        args = [
            "audit",
            "verify",
            str(trail.directory),
            "--key",
            str(tmp_path / "key.txt"),
            "--checkpoints",
            str(trail.checkpoints),
        ]
        intact = run_cli(*args)
        assert intact.returncode == 0, intact.stderr
        assert intact.stdout.startswith("intact:")

        lines = trail.files[0].read_bytes().splitlines(keepends=True)
        trail.files[0].write_bytes(b"".join([*lines, b'{"event":"keys.rot']))
        torn = run_cli(*args)
        assert torn.returncode == 3
        assert "incomplete at seq" in torn.stdout

        lines[4] = lines[4].replace(b'"kid":"k4"', b'"kid":"kX"')
        trail.files[0].write_bytes(b"".join(lines))
        tampered = run_cli(*args)
        assert tampered.returncode == 1
        assert tampered.stdout.startswith("TAMPERED at seq 5: changed")

    def test_missing_path_is_a_clear_error(self, tmp_path: Path) -> None:
        """A path that does not exist is named, without a traceback."""
        result = run_cli("audit", "verify", str(tmp_path / "nope"))
        assert result.returncode == 2
        assert "not found" in result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.broker
class TestGatewayTrail:
    async def test_gateway_trail_verifies_and_can_be_queried(self, config_dir: Path) -> None:
        """A running gateway's trail verifies with its published key; show and export filter it."""
        with serving(config_dir) as (process, port, _):
            wait_status(port, "/readyz", 200, 15)
            process.send_signal(signal.SIGTERM)
            assert process.wait(15) == 0
        key = run_cli("audit", "key", "--config", str(config_dir))
        assert key.returncode == 0, key.stderr
        (config_dir / "key.txt").write_text(key.stdout)
        audit = config_dir.parent / "var" / "audit"
        verified = run_cli(
            "audit",
            "verify",
            str(audit),
            "--key",
            str(config_dir / "key.txt"),
            "--checkpoints",
            str(audit / "checkpoints.note"),
        )
        assert verified.returncode == 0, verified.stdout + verified.stderr

        shown = run_cli("audit", "show", "--config", str(config_dir), "--business", "nimbus-shop")
        assert shown.returncode == 0, shown.stderr
        assert "business.onboarded" in shown.stdout
        assert "kirana-travel" not in shown.stdout

        exported = run_cli(
            "audit",
            "export",
            "--config",
            str(config_dir),
            "--format",
            "jsonl",
            "--event",
            "disclosure.published",
        )
        records = [json.loads(line) for line in exported.stdout.splitlines()]
        assert {r["business"] for r in records} == {"warung-sari", "nimbus-shop", "kirana-travel"}
        assert all(r["event"] == "disclosure.published" for r in records)

        as_csv = run_cli("audit", "export", "--config", str(config_dir), "--format", "csv")
        rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
        assert rows[0]["event"] == "config.loaded"
        assert {"seq", "ts", "event", "business", "user", "prev", "hash"} <= set(rows[0])
