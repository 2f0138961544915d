"""tlog-tiles paths and contents: canonical paths only, and tiles that rebuild the tree."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.transparency import merkle, tiles


def test_index_encoding_matches_the_spec() -> None:
    """The spec's own example and the edges."""
    assert tiles.encode_index(1234067) == "x001/x234/067"
    assert tiles.encode_index(0) == "000"
    assert tiles.encode_index(999) == "999"
    assert tiles.encode_index(1000) == "x001/000"
    assert tiles.tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tiles.tile_path(1, 5, 17) == "tile/1/005.p/17"
    assert tiles.tile_path("entries", 0, 3) == "tile/entries/000.p/3"


@given(level=st.integers(0, 63), index=st.integers(0, 10**12), width=st.integers(1, 256))
def test_paths_round_trip(level: int, index: int, width: int) -> None:
    """Every path we write parses back to what made it."""
    path = tiles.tile_path(level, index, width).removeprefix("tile/")
    assert tiles.parse_tile_path(path) == (level, index, width)


@pytest.mark.parametrize(
    "path",
    ["0/1", "0/0001", "0/x000/001", "0/001.p/0", "0/001.p/256", "0/001.p/07", "64/000", "01/000", "a/000"],
)
def test_non_canonical_paths_are_refused(path: str) -> None:
    """Other spellings of a tile are refused, so one tile has one URL (and one cache entry)."""
    with pytest.raises(ValueError):  # noqa: PT011 -- any malformed path is the same error
        tiles.parse_tile_path(path)


@given(size=st.integers(1, 700))
def test_level_zero_and_one_tiles_rebuild_the_root(size: int) -> None:
    """Tiles hold exactly the tree's complete subtrees: a client rebuilds the root from them."""
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    level0 = b"".join(
        tiles.tile_data(leaves, 0, n, tiles.available_width(size, 0, n)) for n in range((size + 255) // 256)
    )
    assert [level0[i : i + 32] for i in range(0, len(level0), 32)] == leaves
    full = tiles.available_width(size, 1, 0)
    if full:
        level1 = tiles.tile_data(leaves, 1, 0, full)
        assert level1[:32] == merkle.root(leaves[:256])
    with pytest.raises(ValueError, match="no such tile"):
        tiles.tile_data(leaves, 0, (size // 256) + 1, 1)


@given(entries=st.lists(st.binary(max_size=300), max_size=20))
def test_entry_bundles_round_trip(entries: list[bytes]) -> None:
    """An entry bundle reads back to its entries; a cut one is refused."""
    bundle = tiles.entry_bundle(entries)
    assert tiles.read_bundle(bundle) == entries
    if bundle:
        with pytest.raises(ValueError, match="cut"):
            tiles.read_bundle(bundle[:-1] if entries[-1] else bundle + b"\x00")
