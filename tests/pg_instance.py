"""A private PostgreSQL server on loopback, for fault tests that restart the database.

The system's server is shared by the whole suite; a test that restarts PostgreSQL
gets its own: ``initdb`` into a temporary directory owned by the ``postgres`` user,
its own port and socket directory, trust authentication, fsync left on (a restart
after ``-m immediate`` is crash recovery, and committed rows must survive it).
Stopped and removed by the test that asked for it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import free_port


def _bin_dir() -> Path:
    """The newest installed server's bin directory (Debian keeps them per version)."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name)
    )
    if not versions or os.geteuid() != 0:
        pytest.fail(
            "the PostgreSQL restart tests need a PostgreSQL server installed and root (to run it as postgres)"
        )
    return versions[-1].parent


@dataclass(frozen=True)
class PrivatePostgres:
    """One server: its directory, port, and what a fault test does to it."""

    bin: Path
    base: Path
    port: int

    @property
    def url(self) -> str:
        """Its ``postgres`` database as a store URL."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.base / "data"),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl {' '.join(args)}: {(done.stderr or done.stdout).strip()[:400]}")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._ctl("start", "-w", "-t", "60", "-o", options, "-l", str(self.base / "server.log"))

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``immediate``: no checkpoint, as a crash; the next start recovers)."""
        self._ctl("stop", "-w", "-m", mode)

    def restart(self) -> None:
        """Stop it as a crash would and start it again."""
        self.stop("immediate")
        self.start()


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A fresh server on a free loopback port; stopped and removed afterwards."""
    bin_dir = _bin_dir()
    base = Path(tempfile.mkdtemp(prefix="hostgate-pg-"))
    owner = pwd.getpwnam("postgres")
    os.chown(base, owner.pw_uid, owner.pw_gid)
    server = PrivatePostgres(bin_dir, base, free_port())
    subprocess.run(
        [
            "runuser", "-u", "postgres", "--", str(bin_dir / "initdb"),
            "-D", str(base / "data"), "-A", "trust", "-U", "postgres", "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    try:
        server.start()
        yield server
    finally:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):  # never started, or gone
            server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)
