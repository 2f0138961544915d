"""Random identifiers for events and messages, without a system call per id.

``uuid.uuid4()`` reads 16 bytes from the kernel each time, and that read lets go
of the GIL: on a busy gateway the event loop then waits for the store and audit
threads to hand it back (milliseconds, not the microseconds the read takes).
Here the same kernel randomness is read 4 KiB at a time and cut into ids.

Message ids are version 7 (time first, then 74 random bits): they key the message
row and its history in the store's B-trees, and a random key puts every insert on a
random page, so each group commit wrote a page per message per index (~35 µs of CPU
a message at ingest load here). Time-ordered keys land on the same few pages.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_BATCH = 256
_lock = threading.Lock()
_pool = b""
_at = 0  # the next unused byte of _pool: an offset, so taking an id copies 16 bytes, not the rest
_VARIANT = "89ab89ab89ab89ab"  # RFC 4122 variant: the top two bits of byte 8 are 10


def _random16() -> bytes:
    global _pool, _at  # noqa: PLW0603 -- one process-wide pool, refilled under the lock
    with _lock:
        if _at >= len(_pool):
            _pool, _at = os.urandom(16 * _BATCH), 0
        chunk = _pool[_at : _at + 16]
        _at += 16
    return chunk


def _forget_pool() -> None:
    # A forked child must not hand out the ids its parent will also hand out.
    global _pool, _at
    _pool, _at = b"", 0


os.register_at_fork(after_in_child=_forget_pool)


def new_uuid() -> uuid.UUID:
    """A random (version 4) UUID."""
    return uuid.UUID(bytes=_random16(), version=4)


def new_id() -> str:
    """A random version 4 UUID in its usual text form, for CloudEvents ids (no UUID object made)."""
    h = _random16().hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16)]}{h[17:20]}-{h[20:]}"


_MS_BITS = (1 << 48) - 1
_RAND_A = (1 << 12) - 1
_RAND_B = (1 << 62) - 1


def new_uuid7(now_ms: int | None = None) -> uuid.UUID:
    """A version 7 UUID (RFC 9562): Unix time in milliseconds, then random bits; later ms sort later."""
    ms = (time.time_ns() // 1_000_000 if now_ms is None else now_ms) & _MS_BITS
    rand = int.from_bytes(_random16())
    value = ms << 80 | 0x7 << 76 | (rand >> 64 & _RAND_A) << 64 | 0b10 << 62 | rand & _RAND_B
    return uuid.UUID(int=value)
