"""Append records to the chain, durably, from one thread; checkpoint every N records or T seconds.

Callers submit a record and wait: the writer thread takes whatever is queued,
writes it, fsyncs once for the whole batch (group commit) and only then
resolves each caller's future, so an action counts as done only once its
record is on disk. The chain continues across file rotation and restarts; a
torn last line left by a crash is cut off on start-up (its action never
completed, since its fsync never returned).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.audit.chain import FILE_PATTERN, GENESIS, file_name, seal
from gateway.audit.checkpoint import leaf, origin, sign_note
from gateway.errors import CheckpointError, TrailLocked
from gateway.transparency.merkle import CompactRange
from gateway.transparency.note import Checkpoint

log = structlog.get_logger("hostgate.audit")

CheckpointSigner = Callable[[], tuple[str, Ed25519PrivateKey]]
CheckpointSink = Callable[[str, Checkpoint], None]
_STOP = object()
LOCK_FILE = ".writer.lock"


@dataclass(frozen=True, slots=True)
class WriterSettings:
    """Where the trail goes and how often it is checkpointed."""

    directory: Path
    checkpoints_file: Path
    origin: str = "gateway"
    rotate_bytes: int = 64 * 1024 * 1024
    checkpoint_every: int = 1000
    checkpoint_seconds: float = 60.0


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ChainWriter:
    """The only writer of one trail directory."""

    def __init__(
        self,
        settings: WriterSettings,
        signer: CheckpointSigner | None = None,
        on_checkpoint: CheckpointSink | None = None,
    ) -> None:
        self.settings = settings
        self._signer = signer
        self._on_checkpoint = on_checkpoint
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._file: Any = None
        # The current file's size, counted here: tell() on an append-mode file is an lseek,
        # a system call that lets go of the GIL for every record.
        self._file_bytes = 0
        self._index = 0
        self.seq = 0
        self.appended = 0  # records this writer added (a metric)
        self.head = GENESIS
        self._tree = CompactRange()
        self._checkpointed = 0
        self._last_checkpoint = time.monotonic()
        self._lock: IO[bytes] | None = None
        # Staged-record ids among the trail's newest records: what a restart must not drain again.
        self.recent_staged: frozenset[int] = frozenset()

    # -- start-up ---------------------------------------------------------------------------

    def open(self) -> None:
        """Recover the chain's position from the files and start the writer thread."""
        self.settings.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock = _take_lock(self.settings.directory / LOCK_FILE)
        files = sorted(self.settings.directory.glob(FILE_PATTERN))
        self._index = int(files[-1].stem.split("-")[1]) if files else 1
        for path in reversed(files):
            last = self._last_complete_line(path)
            if last is not None:
                record = orjson.loads(last)
                self.seq, self.head = int(record["seq"]), str(record["hash"])
                break
        self._tree = _recover_tree(files)
        if self._tree.size != self.seq:
            raise CheckpointError(
                f"{self.settings.directory}: the last checkpoint record's saved tree does not fit the records"
            )
        self.recent_staged = _recent_staged_ids(files)
        self._checkpointed = self.seq
        self._open_file()
        _fsync_dir(self.settings.directory)
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()
        log.info("audit.opened", directory=str(self.settings.directory), seq=self.seq)

    @staticmethod
    def _last_complete_line(path: Path) -> bytes | None:
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with path.open("r+b") as fh:
                fh.truncate(keep)
                fh.flush()
                os.fsync(fh.fileno())
            log.warning("audit.torn_tail_cut", file=path.name, bytes=len(data) - keep)
            data = data[:keep]
        lines = data.splitlines()
        return lines[-1] if lines else None

    # -- writing ----------------------------------------------------------------------------

    def submit(self, fields: dict[str, Any]) -> Future[int]:
        """Queue a record; the future resolves to its seq once it is on disk."""
        return self.submit_many([fields])

    def submit_many(self, records: list[dict[str, Any]]) -> Future[int]:
        """Queue records to be written in this order; the future resolves to the last one's seq on disk."""
        # One future for many: a future is a lock and a condition, which cost more than the record.
        future: Future[int] = Future()
        if not records:
            future.set_result(self.seq)
            return future
        self._queue.put((records, future))
        return future

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[tuple[list[dict[str, Any]], Future[int]]] = []
            timeout = max(self._last_checkpoint + self.settings.checkpoint_seconds - time.monotonic(), 0.01)
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            while item is not None:
                if item is _STOP:
                    stopping = True
                else:
                    batch.append(item)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            self._write_batch(batch)
            if self._checkpoint_due() or (stopping and self.seq > self._checkpointed):
                self._checkpoint()

    def _write_batch(self, batch: list[tuple[list[dict[str, Any]], Future[int]]]) -> None:
        if not batch:
            return
        seqs = []  # the last seq of each group: what its future answers
        for records, _ in batch:
            for fields in records:
                seq = self._append(fields)
            seqs.append(seq)
        try:
            self._sync()
        except OSError as exc:
            for _, future in batch:
                _settle(future, exc)
            return
        for (_, future), seq in zip(batch, seqs, strict=True):
            _settle(future, seq)

    def _open_file(self) -> None:
        self._file = private_append(self.settings.directory / file_name(self._index))
        self._file_bytes = os.fstat(self._file.fileno()).st_size

    def _append(self, fields: dict[str, Any]) -> int:
        if self._file_bytes >= self.settings.rotate_bytes:
            self._rotate()
        self.seq += 1
        self.appended += 1
        line, self.head = seal(fields, self.seq, self.head)
        self._file.write(line)
        self._file_bytes += len(line)
        self._tree.append(leaf(line[:-1]))
        return self.seq

    def _sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def _rotate(self) -> None:
        self._sync()
        self._file.close()
        self._index += 1
        self._open_file()
        _fsync_dir(self.settings.directory)
        log.info("audit.rotated", file=file_name(self._index), seq=self.seq)

    # -- checkpoints ------------------------------------------------------------------------

    @property
    def uncheckpointed(self) -> int:
        """Records written since the last signed checkpoint."""
        return self.seq - self._checkpointed

    @property
    def checkpoint_age_seconds(self) -> float:
        """Seconds since the last signed checkpoint (or since the writer opened)."""
        return time.monotonic() - self._last_checkpoint

    def _checkpoint_due(self) -> bool:
        if self.seq <= self._checkpointed:
            return False
        by_count = self.seq - self._checkpointed >= self.settings.checkpoint_every
        by_time = time.monotonic() - self._last_checkpoint >= self.settings.checkpoint_seconds
        return by_count or by_time

    def _checkpoint(self) -> None:
        self._last_checkpoint = time.monotonic()
        if self._signer is None:
            return
        name, private = self._signer()
        # The checkpoint record goes into the chain first, so the note covers it too and no
        # record is ever left outside the last checkpoint when the writer stops. It carries the
        # tree's compact range before it, so a restart rebuilds the root from the records after
        # the last checkpoint instead of from the whole trail.
        self._append(
            {
                "event": "audit.checkpoint",
                "ts": _now(),
                "size": self.seq + 1,
                "previous_head": self.head,
                "tree": [node.hex() for node in self._tree.hashes()],
            }
        )
        self._sync()
        checkpoint = Checkpoint(origin(self.settings.origin), self.seq, self._tree.root())
        note = sign_note(checkpoint, name, private)
        with private_append(self.settings.checkpoints_file) as fh:
            fh.write(note.encode())
            fh.flush()
            os.fsync(fh.fileno())
        self._checkpointed = self.seq
        if self._on_checkpoint is not None:
            with contextlib.suppress(Exception):  # a witness hand-off must never stop the writer
                self._on_checkpoint(note, checkpoint)

    def close(self) -> None:
        """Write what is queued, checkpoint, and stop the thread."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join()
        self._thread = None
        self._file.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None


class DisabledWriter(ChainWriter):
    """Writes nothing: ``[audit] enabled = false``, for measuring what the trail costs. Voids the trail."""

    def open(self) -> None:
        """Nothing to open."""
        log.warning("audit.disabled", directory=str(self.settings.directory))

    def submit_many(self, records: list[dict[str, Any]]) -> Future[int]:
        """Acknowledge at once; nothing is written."""
        future: Future[int] = Future()
        future.set_result(0)
        return future

    def close(self) -> None:
        """Nothing to close."""


def private_append(path: Path) -> IO[bytes]:
    """Open ``path`` for appending, created owner-only (0600) whatever the umask: it holds pseudonyms."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")


def _take_lock(path: Path) -> IO[bytes]:
    # One writer per trail: two would fork the chain.
    handle = private_append(path)
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.close()
        raise TrailLocked(
            f"{path.parent} is being written by another process (is the gateway running?)"
        ) from exc
    return handle


def _recover_tree(files: list[Path]) -> CompactRange:
    """The Merkle tree over every record: from the last checkpoint record's saved range, else from all."""
    after: list[bytes] = []  # lines after the last saved range, newest first
    for path in reversed(files):
        for line in reversed(path.read_bytes().splitlines()):
            if b'"audit.checkpoint"' in line:
                record = orjson.loads(line)
                if record.get("event") == "audit.checkpoint" and "tree" in record:
                    nodes = [bytes.fromhex(node) for node in record["tree"]]
                    try:
                        tree = CompactRange.restore(int(record["seq"]) - 1, nodes)
                    except ValueError as exc:
                        raise CheckpointError(
                            f"{path.name}: checkpoint record {record['seq']}: {exc}"
                        ) from exc
                    tree.append(leaf(line))
                    for later in reversed(after):
                        tree.append(leaf(later))
                    return tree
            after.append(line)
    tree = CompactRange()
    for line in reversed(after):
        tree.append(leaf(line))
    return tree


# A drain writes at most one batch between reading staged rows and forgetting them, so a
# crash leaves no more than that many records both in the trail and still staged.
RECENT_STAGED = 4000


def _recent_staged_ids(files: list[Path]) -> frozenset[int]:
    """The staged-record ids of the trail's newest ``RECENT_STAGED`` drained records."""
    found: set[int] = set()
    for path in reversed(files):
        for line in reversed(path.read_bytes().splitlines()):
            if b'"staged_id"' not in line:
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            found.add(int(record["staged_id"]))
            if len(found) >= RECENT_STAGED:
                return frozenset(found)
    return frozenset(found)


def _settle(future: Future[int], outcome: int | OSError) -> None:
    # A caller that gave up waiting (its task was cancelled) cancelled the future; the
    # record is written all the same, and the writer thread must never die of it.
    if future.cancelled():
        return
    if isinstance(outcome, OSError):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
