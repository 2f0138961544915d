"""Random ids cut from a pool of kernel randomness."""

from __future__ import annotations

import os
import uuid

from gateway.ids import new_id, new_uuid


def test_ids_are_distinct_version_4_uuids() -> None:
    """Many ids across several pool refills: all distinct, all RFC 4122 version 4."""
    ids = [new_uuid() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)
    texts = [new_id() for _ in range(10_000)]
    assert len(set(texts)) == len(texts)
    for text in texts:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    """After fork the child draws fresh randomness rather than the parent's remaining pool."""
    new_id()  # the parent now holds a partly used pool
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write, new_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    os.close(write)
    assert child != new_id()
