"""schemathesis against /openapi.json of a running gateway: no server errors, no schema violations."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import without_rate_limit
from tests.support import serving, wait_status

WARUNG_KEY = "hg_OaJgRLK3o0V2k_HGoBNpsFEVC6Ha_fdaRIb3flcB36Y"
NETWORK_TOKEN = "hgn_a7EwhxZqgMbNRTigiNi-YQfCLXZYhp1MTYGnfcpMg80"
# The demo operator key (config/gateway.toml).
OPERATOR_KEY = "hgo_YmUprF05UBLZP5cr9c2tmHX-KyntIMOrPRiub9rPc8c"
# CI runs 200 per operation; `make fuzz` sets 1,000 (HOSTGATE_FUZZ_EXAMPLES) for the long run.
EXAMPLES = int(os.environ.get("HOSTGATE_FUZZ_EXAMPLES", "200"))


def _schemathesis(port: int, credential: str, *selection: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "st"),
            "--config-file",
            str(Path(__file__).with_name("schemathesis.toml")),
            "run",
            f"http://127.0.0.1:{port}/openapi.json",
            "-H",
            f"Authorization: Bearer {credential}",
            "--max-examples",
            str(EXAMPLES),
            "--checks",
            "all",
            "--generation-database",
            "none",
            "--seed",
            "1",
            *selection,
        ],
        capture_output=True,
        text=True,
        timeout=300 * max(1, EXAMPLES // 200),
        check=False,
    )


def _generated(output: str) -> int:
    match = re.search(r"(\d+) generated", output)
    assert match is not None, output[-500:]
    return int(match.group(1))


@pytest.mark.broker
def test_schemathesis_finds_no_issue(config_dir: Path) -> None:
    """Every operation, EXAMPLES generated cases each, all checks, stateful links: no issue, with the right credential each."""
    # A rate limit high enough that the run exercises the API rather than its 429s.
    without_rate_limit(config_dir)
    with serving(config_dir) as (process, port, _):
        wait_status(port, "/readyz", 200, 15)
        runs = {
            "business": _schemathesis(port, WARUNG_KEY, "--exclude-path-regex", "^/(v1/network|operator)/"),
            # One operation with no links: the stateful phase has nothing to chain.
            "network": _schemathesis(
                port, NETWORK_TOKEN, "--include-path-regex", "^/v1/network/", "--phases", "coverage,fuzzing"
            ),
            "operator": _schemathesis(
                port, OPERATOR_KEY, "--include-path-regex", "^/operator/", "--phases", "coverage,fuzzing"
            ),
        }
        process.send_signal(signal.SIGTERM)
        process.wait(15)
    for name, result in runs.items():
        summary = result.stdout[-1200:]
        print(f"--- {name} credential\n{summary}")
        assert result.returncode == 0, summary
        assert "No issues found" in result.stdout, summary
    generated = sum(_generated(r.stdout) for r in runs.values())
    assert generated >= 10 * EXAMPLES * 0.5, f"only {generated} cases generated"
