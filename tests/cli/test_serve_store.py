"""``hostgate serve`` with a store it cannot reach stops at once, saying which setting to fix."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import run_cli
from tests.support import closed_port


def test_unreachable_postgres_is_a_clear_error(config_dir: Path) -> None:
    """An unreachable PostgreSQL: exit 1, one line naming the host and the setting, no traceback, no password."""
    with closed_port() as port:
        env = {**os.environ, "HOSTGATE_STORE_URL": f"postgresql://hg:s3cret@127.0.0.1:{port}/hostgate"}
        done = run_cli("serve", "--config", str(config_dir), "--port", "0", "--demo", env=env)
    assert done.returncode == 1, done.stderr
    assert (
        f"error: cannot reach PostgreSQL at 127.0.0.1:{port}/hostgate ([store] url or HOSTGATE_STORE_URL)"
        in (done.stderr)
    )
    assert "Traceback" not in done.stderr + done.stdout
    assert "s3cret" not in done.stderr + done.stdout
