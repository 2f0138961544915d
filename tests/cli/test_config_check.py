"""``hostgate config check``: exit codes and output an onboarding reviewer reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli.main import main
from tests.config.test_loader import BROKEN, Broken
from tests.conftest import EXAMPLE_CONFIG, edit, run_cli


class TestConfigCheck:
    def test_shipped_config_is_valid(self) -> None:
        """`hostgate config check config/` exits 0 on the shipped examples, as a subprocess."""
        result = run_cli("config", "check", str(EXAMPLE_CONFIG))
        assert result.returncode == 0, result.stderr
        assert "valid, 3 business(es)" in result.stdout
        for business in ("warung-sari", "nimbus-shop", "kirana-travel"):
            assert business in result.stdout

    @pytest.mark.parametrize("case", BROKEN, ids=[c.name for c in BROKEN])
    def test_broken_config_exits_1_naming_file_and_field(
        self, case: Broken, config_dir: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Each broken config makes the check exit 1 with the file and field on one line."""
        path = config_dir / case.file
        edit(path, case.change)
        assert main(["config", "check", str(config_dir)]) == 1
        err = capsys.readouterr().err
        expected = f"{path}: {case.field}:" if case.field else f"{path}:"
        lines = [line for line in err.splitlines() if expected in line]
        assert lines, err
        assert any(case.says in line for line in lines), err
        assert "problem" in err.splitlines()[-1]

    def test_missing_directory_exits_1(self, tmp_path: Path) -> None:
        """A directory that does not exist is an error, not a crash."""
        result = run_cli("config", "check", str(tmp_path / "nope"))
        assert result.returncode == 1
        assert "does not exist" in result.stderr
        assert "Traceback" not in result.stderr
