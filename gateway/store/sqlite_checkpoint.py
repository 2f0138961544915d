"""Copying the SQLite WAL back into the database file, on a thread and connection of its own.

Left to SQLite, the COMMIT that takes the WAL past 1,000 pages also copies them into
the database file and fsyncs it, while every unit waits for that COMMIT: an
occasional commit of 30-160 ms instead of 1-2, and every request queued behind it in
the tail (the p99 at half load). Here the writer only checkpoints itself once the WAL
is far past that (``SAFETY_PAGES``: the background copy has fallen behind), and a
PASSIVE checkpoint runs beside the writer after commits instead. PASSIVE never takes
the write lock: units go on committing to the WAL while it copies.
"""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import structlog

log = structlog.get_logger("hostgate.store")

# The writer's own autocheckpoint, kept as a bound on the WAL should the background copy fall behind.
SAFETY_PAGES = 16_384
# At most this often: a checkpoint with nothing new to copy still takes locks and reads the WAL index.
MIN_INTERVAL = 0.05


class WalCheckpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` after commits, one at a time, off the event loop."""

    def __init__(self, path: Path, min_interval: float = MIN_INTERVAL) -> None:
        self._path = path
        self._min_interval = min_interval
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-checkpoint")
        self._db: sqlite3.Connection | None = None
        self._running: Future[None] | None = None
        self._last = 0.0
        self._failing = False
        self.runs = 0

    def committed(self) -> None:
        """A COMMIT reached the WAL: copy it back soon, unless a copy is under way or just ran."""
        if self._running is not None and not self._running.done():
            return
        now = time.monotonic()
        if now - self._last < self._min_interval:
            return
        self._last = now
        self._running = self._executor.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            if self._db is None:
                self._db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
                self._db.execute("PRAGMA busy_timeout=1000")
                # The copy is synced before the WAL may be reused: a crash mid-copy loses nothing.
                self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.runs += 1
            if self._failing:
                log.info("store.checkpoint_resumed", store=str(self._path))
                self._failing = False
        except sqlite3.Error as exc:
            # Nothing is lost: the pages stay in the WAL, and the writer's own checkpoint bounds it.
            if not self._failing:
                log.warning("store.checkpoint_failed", store=str(self._path), error=str(exc))
                self._failing = True

    def wait(self) -> None:
        """Block until the copy under way, if any, is over (tests, and close)."""
        running = self._running
        if running is not None:
            running.result()

    def close(self) -> None:
        """Wait for a copy under way, then close the connection and the thread."""
        self._executor.shutdown(wait=True)
        if self._db is not None:
            self._db.close()
            self._db = None
