"""The C2SP tlog-tiles layout: tile paths, tile contents from leaf hashes, entry bundles.

A tile at level L, index N holds up to 256 consecutive hashes of the tree's
complete subtrees of 256^L leaves (level 0: the leaf hashes themselves); a
partial tile of width W < 256 holds the first W. Paths are ``tile/<L>/<N>`` and
``tile/<L>/<N>.p/<W>``, with N written in groups of three digits, every group
but the last prefixed by ``x`` (1234067 → ``x001/x234/067``). Entry bundles,
``tile/entries/<N>[.p/<W>]``, hold the leaves' data, each prefixed by its length
as a big-endian uint16.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gateway.transparency.merkle import subtree_root

TILE_WIDTH = 256
TILE_HEIGHT = 8
MAX_LEVEL = 63
MAX_ENTRY = 0xFFFF

_INDEX = re.compile(r"^(?:x\d{3}/)*\d{3}$")


def encode_index(index: int) -> str:
    """N in groups of three digits, all but the last prefixed with ``x``."""
    if index < 0:
        raise ValueError("a tile index is never negative")
    groups = []
    while True:
        groups.append(f"{index % 1000:03d}")
        index //= 1000
        if index == 0:
            break
    groups.reverse()
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])


def tile_path(level: int | str, index: int, width: int = TILE_WIDTH) -> str:
    """``tile/<L>/<N>[.p/<W>]`` (L is ``entries`` for an entry bundle)."""
    partial = f".p/{width}" if width < TILE_WIDTH else ""
    return f"tile/{level}/{encode_index(index)}{partial}"


def parse_tile_path(path: str) -> tuple[int | None, int, int]:
    """(level or None for entries, index, width) from a path after ``tile/``; ValueError if malformed."""
    level_text, _, rest = path.partition("/")
    width = TILE_WIDTH
    if ".p/" in rest:
        rest, _, width_text = rest.partition(".p/")
        if not width_text.isdigit() or width_text.startswith("0") or not 1 <= int(width_text) < TILE_WIDTH:
            raise ValueError("partial tile width must be 1 to 255")
        width = int(width_text)
    if not _INDEX.match(rest):
        raise ValueError("tile index is not in x### groups")
    index = int(rest.replace("x", "").replace("/", ""))
    if encode_index(index) != rest:
        raise ValueError("tile index is not in canonical form")
    if level_text == "entries":
        return None, index, width
    if (
        not level_text.isdigit()
        or int(level_text) > MAX_LEVEL
        or (level_text != "0" and level_text[0] == "0")
    ):
        raise ValueError("tile level must be 0 to 63")
    return int(level_text), index, width


def available_width(size: int, level: int, index: int) -> int:
    """How many hashes tile (level, index) holds in a tree of ``size`` (0: not yet any)."""
    at_level = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, at_level - index * TILE_WIDTH))


def tile_data(leaves: Sequence[bytes], level: int, index: int, width: int) -> bytes:
    """The hashes of tile (level, index) of width ``width``, from the tree's leaf hashes."""
    span = 1 << (TILE_HEIGHT * level)
    first = index * TILE_WIDTH
    if available_width(len(leaves), level, index) < width:
        raise ValueError("the tree has no such tile yet")
    return b"".join(subtree_root(leaves, (first + i) * span, (first + i + 1) * span) for i in range(width))


def entry_bundle(entries: Sequence[bytes]) -> bytes:
    """The entries, each as a big-endian uint16 length and the bytes."""
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY:
            raise ValueError("an entry is longer than 65,535 bytes")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def read_bundle(data: bytes) -> list[bytes]:
    """The entries of a bundle; ValueError if it is cut short."""
    entries, at = [], 0
    while at < len(data):
        if at + 2 > len(data):
            raise ValueError("entry bundle cut inside a length")
        length = int.from_bytes(data[at : at + 2], "big")
        if at + 2 + length > len(data):
            raise ValueError("entry bundle cut inside an entry")
        entries.append(data[at + 2 : at + 2 + length])
        at += 2 + length
    return entries
