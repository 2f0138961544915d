"""schemathesis against /openapi.json of a running gateway: no server errors, no schema violations."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import edit
from tests.support import serving, wait_status

WARUNG_KEY = "hg_OaJgRLK3o0V2k_HGoBNpsFEVC6Ha_fdaRIb3flcB36Y"
EXAMPLES = 200


@pytest.mark.broker
def test_schemathesis_finds_no_issue(config_dir: Path) -> None:
    """Every operation, 200+ generated cases each, all checks, stateful links included: no issue."""
    # A rate limit high enough that the run exercises the API rather than its 429s.
    edit(
        config_dir / "businesses" / "warung-sari.toml",
        lambda t: t.replace("per_second = 50", "per_second = 100000").replace(
            "burst = 100", "burst = 100000"
        ),
    )
    with serving(config_dir) as (process, port, _):
        wait_status(port, "/readyz", 200, 15)
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "st"),
                "--config-file",
                str(Path(__file__).with_name("schemathesis.toml")),
                "run",
                f"http://127.0.0.1:{port}/openapi.json",
                "-H",
                f"Authorization: Bearer {WARUNG_KEY}",
                "--max-examples",
                str(EXAMPLES),
                "--checks",
                "all",
                "--generation-database",
                "none",
                "--seed",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        process.send_signal(signal.SIGTERM)
        process.wait(15)
    summary = result.stdout[-1500:]
    print(summary)
    assert result.returncode == 0, summary
    assert "No issues found" in result.stdout
    generated = int(re.search(r"(\d+) generated", result.stdout).group(1))  # type: ignore[union-attr]
    assert generated >= 7 * EXAMPLES * 0.5, f"only {generated} cases generated"
