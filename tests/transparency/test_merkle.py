"""RFC 6962 proofs: every honest proof verifies, every changed leaf, proof or root fails."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.transparency import merkle

# RFC 6962's own test vectors (certificate-transparency-go merkletree tests): the roots of the
# first 1..8 leaves of this sequence.
RFC_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
RFC_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

sizes = st.integers(min_value=1, max_value=70)


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def test_rfc6962_roots() -> None:
    """The roots of the reference sequence match RFC 6962's published values."""
    hashes = [merkle.leaf_hash(d) for d in RFC_LEAVES]
    assert [merkle.root(hashes[:n]).hex() for n in range(1, 9)] == RFC_ROOTS
    assert merkle.root([]) == hashlib.sha256(b"").digest()


@settings(max_examples=300)
@given(data=st.data(), size=sizes)
def test_inclusion_proof_verifies_and_any_change_fails(data: st.DataObject, size: int) -> None:
    """For any size and leaf the proof verifies; a changed leaf, index, proof node or root does not."""
    leaves = _leaves(size)
    index = data.draw(st.integers(0, size - 1))
    proof = merkle.inclusion_proof(leaves, index, size)
    top = merkle.root(leaves[:size])
    assert merkle.verify_inclusion(leaves[index], index, size, proof, top)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"forged"), index, size, proof, top)
    assert not merkle.verify_inclusion(leaves[index], index, size, proof, merkle.leaf_hash(b"other root"))
    if size > 1:
        other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index))
        assert not merkle.verify_inclusion(leaves[index], other, size, proof, top)
        at = data.draw(st.integers(0, len(proof) - 1))
        bent = [*proof[:at], bytes(b ^ 1 for b in proof[at]), *proof[at + 1 :]]
        assert not merkle.verify_inclusion(leaves[index], index, size, bent, top)
        assert not merkle.verify_inclusion(leaves[index], index, size, proof[:-1], top)
        assert not merkle.verify_inclusion(leaves[index], index, size, [*proof, proof[0]], top)


@settings(max_examples=300)
@given(data=st.data(), new_size=sizes)
def test_consistency_proof_verifies_and_a_forged_one_fails(data: st.DataObject, new_size: int) -> None:
    """For any two sizes the consistency proof verifies; a forged proof, root or other history does not."""
    leaves = _leaves(new_size)
    old_size = data.draw(st.integers(1, new_size))
    proof = merkle.consistency_proof(leaves, old_size, new_size)
    old_root, new_root = merkle.root(leaves[:old_size]), merkle.root(leaves)
    assert merkle.verify_consistency(old_size, new_size, old_root, new_root, proof)
    # A fork: the same sizes, but the old tree had a different leaf.
    forked = list(leaves)
    forked[data.draw(st.integers(0, old_size - 1))] = merkle.leaf_hash(b"fork")
    assert not merkle.verify_consistency(old_size, new_size, merkle.root(forked[:old_size]), new_root, proof)
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1))
        bent = [*proof[:at], bytes(b ^ 1 for b in proof[at]), *proof[at + 1 :]]
        assert not merkle.verify_consistency(old_size, new_size, old_root, new_root, bent)
        assert not merkle.verify_consistency(old_size, new_size, old_root, merkle.leaf_hash(b"x"), proof)


def test_bounds_are_refused() -> None:
    """Indexes and sizes outside the tree are refused, not misread."""
    leaves = _leaves(5)
    top = merkle.root(leaves)
    assert not merkle.verify_inclusion(leaves[0], 5, 5, [], top)
    assert not merkle.verify_consistency(6, 5, top, top, [])
    assert merkle.verify_consistency(5, 5, top, top, [])
    assert not merkle.verify_consistency(5, 5, top, top, [top])


@settings(max_examples=200, deadline=None)
@given(n=sizes, data=st.data())
def test_levels_build_the_same_tree_and_paths_as_the_split_definition(n: int, data: st.DataObject) -> None:
    """Bottom-up levels (the fan-out's batches) give RFC 9162's root and audit path for every leaf."""
    leaves = _leaves(n)
    tree = merkle.levels(leaves)
    assert tree[-1] == [merkle.root(leaves)]
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    path = merkle.level_path(tree, index)
    assert path == merkle.inclusion_proof(leaves, index, n)
    assert merkle.verify_inclusion(leaves[index], index, n, path, tree[-1][0])


def test_levels_match_the_rfc_vectors() -> None:
    """The RFC 6962 test vectors' roots, from levels."""
    for n in range(1, len(RFC_LEAVES) + 1):
        tree = merkle.levels([merkle.leaf_hash(x) for x in RFC_LEAVES[:n]])
        assert tree[-1][0].hex() == RFC_ROOTS[n - 1]
