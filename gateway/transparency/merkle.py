"""RFC 6962 / RFC 9162 Merkle tree hashing, inclusion and consistency proofs, and their verification.

Leaves are hashed as SHA-256(0x00 || data) and interior nodes as
SHA-256(0x01 || left || right); a tree of n leaves splits at the largest power
of two below n (RFC 9162 §2.1.1). Proofs are built from the list of leaf hashes
(the log is small: one leaf per disclosure revision) and verified with the
iterative algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2, which is what any other
implementation (Go's sumdb/tlog, Trillian, Sigsum) checks them with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of a list of leaf hashes (MTH)."""
    if not leaves:
        return EMPTY_ROOT
    return subtree_root(leaves, 0, len(leaves))


def subtree_root(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    """The Merkle tree hash of leaves[start:end] (at most log2(n) calls deep)."""
    if end - start == 1:
        return leaves[start]
    k = _split(end - start)
    return node_hash(subtree_root(leaves, start, start + k), subtree_root(leaves, start + k, end))


def inclusion_proof(leaves: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]): the audit path of leaf ``index`` in the tree of the first ``size`` leaves."""
    if not 0 <= index < size <= len(leaves):
        raise ValueError(f"no leaf {index} in a tree of {size}")
    return _path(leaves, index, 0, size)


def _path(leaves: Sequence[bytes], m: int, start: int, end: int) -> list[bytes]:
    n = end - start
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(leaves, m, start, start + k), subtree_root(leaves, start + k, end)]
    return [*_path(leaves, m - k, start + k, end), subtree_root(leaves, start, start + k)]


def levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first and the root last, built bottom-up in O(n).

    Pairing nodes left to right and carrying an odd last node up unchanged gives the same
    tree as RFC 9162's split at the largest power of two, so :func:`level_path` proves what
    :func:`inclusion_proof` proves, for every leaf of a window at O(log n) each.
    """
    if not leaves:
        raise ValueError("a tree needs at least one leaf")
    tree = [list(leaves)]
    while len(tree[-1]) > 1:
        below = tree[-1]
        above = [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        if len(below) % 2:
            above.append(below[-1])
        tree.append(above)
    return tree


def level_path(tree: Sequence[Sequence[bytes]], index: int) -> list[bytes]:
    """The audit path of leaf ``index`` from :func:`levels`' output (same as :func:`inclusion_proof`)."""
    if not 0 <= index < len(tree[0]):
        raise ValueError(f"no leaf {index} in a tree of {len(tree[0])}")
    path: list[bytes] = []
    for level in tree[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        index >>= 1
    return path


def consistency_proof(leaves: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]): proof that the first tree is a prefix of the second."""
    if not 0 <= old_size <= new_size <= len(leaves):
        raise ValueError(f"no consistency proof from {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    return _subproof(leaves, old_size, 0, new_size, complete=True)


def _subproof(leaves: Sequence[bytes], m: int, start: int, end: int, *, complete: bool) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if complete else [subtree_root(leaves, start, end)]
    k = _split(n)
    if m <= k:
        return [
            *_subproof(leaves, m, start, start + k, complete=complete),
            subtree_root(leaves, start + k, end),
        ]
    return [*_subproof(leaves, m - k, start + k, end, complete=False), subtree_root(leaves, start, start + k)]


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """Whether ``proof`` puts leaf hash ``leaf`` at ``index`` in the tree of ``size`` with that root."""
    if not 0 <= index < size or any(len(p) != HASH_SIZE for p in proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == expected_root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree (old_size, old_root) is a prefix of (new_size, new_root)."""
    if not 0 <= old_size <= new_size or any(len(p) != HASH_SIZE for p in proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof  # the empty tree is a prefix of every tree
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node of the path
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


class CompactRange:
    """The root of a growing tree from O(log n) state: one subtree root per set bit of the size.

    An append-only writer (the audit trail) keeps one of these instead of every
    leaf hash; :meth:`hashes` and :meth:`restore` carry it across restarts.
    """

    __slots__ = ("_nodes", "size")

    def __init__(self) -> None:
        self.size = 0
        self._nodes: list[bytes] = []  # subtree roots, largest (leftmost) first

    @classmethod
    def restore(cls, size: int, nodes: Sequence[bytes]) -> CompactRange:
        """A range saved by :meth:`hashes`; the count of nodes must match the size's set bits."""
        if size < 0 or len(nodes) != size.bit_count() or any(len(n) != HASH_SIZE for n in nodes):
            raise ValueError(f"{len(nodes)} nodes cannot describe a tree of {size}")
        compact = cls()
        compact.size, compact._nodes = size, list(nodes)
        return compact

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash on the right."""
        node, size = leaf, self.size
        while size & 1:  # merge equal-sized subtrees, as a binary counter carries
            node = node_hash(self._nodes.pop(), node)
            size >>= 1
        self._nodes.append(node)
        self.size += 1

    def root(self) -> bytes:
        """The Merkle tree hash of every leaf appended so far."""
        if not self._nodes:
            return EMPTY_ROOT
        node = self._nodes[-1]
        for left in reversed(self._nodes[:-1]):
            node = node_hash(left, node)
        return node

    def hashes(self) -> list[bytes]:
        """The state to save: the subtree roots, largest first."""
        return list(self._nodes)
