"""Random identifiers for events and messages, without a system call per id.

``uuid.uuid4()`` reads 16 bytes from the kernel each time, and that read lets go
of the GIL: on a busy gateway the event loop then waits for the store and audit
threads to hand it back (milliseconds, not the microseconds the read takes).
Here the same kernel randomness is read 4 KiB at a time and cut into ids.
"""

from __future__ import annotations

import os
import threading
import uuid

_BATCH = 256
_lock = threading.Lock()
_pool = b""


def _random16() -> bytes:
    global _pool  # noqa: PLW0603 -- one process-wide pool, refilled under the lock
    with _lock:
        if not _pool:
            _pool = os.urandom(16 * _BATCH)
        chunk, _pool = _pool[:16], _pool[16:]
    return chunk


def _forget_pool() -> None:
    # A forked child must not hand out the ids its parent will also hand out.
    global _pool  # noqa: PLW0603 -- same pool
    _pool = b""


os.register_at_fork(after_in_child=_forget_pool)


def new_uuid() -> uuid.UUID:
    """A random (version 4) UUID."""
    return uuid.UUID(bytes=_random16(), version=4)


def new_id() -> str:
    """A random UUID in its usual text form, for CloudEvents ids."""
    return str(new_uuid())
