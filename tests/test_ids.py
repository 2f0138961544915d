"""Random ids cut from a pool of kernel randomness; message ids ordered by time."""

from __future__ import annotations

import os
import uuid

from hypothesis import given
from hypothesis import strategies as st

from gateway.ids import new_id, new_uuid, new_uuid7


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


def test_message_ids_are_distinct_version_7_uuids() -> None:
    """Many ids within the same few milliseconds: all distinct, version 7, RFC 4122 variant."""
    ids = [new_uuid7() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)


@given(st.integers(0, 2**48 - 2), st.integers(1, 2**20))
def test_a_later_millisecond_sorts_later(earlier: int, gap: int) -> None:
    """Ids compare (as UUIDs and as the hex the API shows) in the order of their milliseconds."""
    later = min(earlier + gap, 2**48 - 1)
    first, second = new_uuid7(earlier), new_uuid7(later)
    assert first < second
    assert first.hex < second.hex
    assert (first.int >> 80, second.int >> 80) == (earlier, later)
