"""Tiles of the JSONL sidecar: each complete 64-record block's six lowest levels in one page.

Rules this module enforces (ADR 0106):

* File ``T00`` in the sidecar directory holds, for every complete aligned block ``t`` of
  :data:`BLOCK` records, the hashes of levels 0..5 of that block in order (64 + 32 + ... + 2
  hashes = :data:`TILE_BYTES` = 4,032 bytes), padded with zeros to :data:`TILE_STRIDE` = 4,096
  bytes, at offset ``t * TILE_STRIDE``. So the lower part of an inclusion proof (levels 0..5)
  is one ``pread`` of one page, however cold the page cache.
* A tile is derived only from the level files (``L00`` .. ``L05``) of a complete block; it is
  a cache like them: never fsynced, never trusted by verification, rebuilt from the level files
  where missing (an older sidecar without ``T00``, a crash between the level writes and the
  tile write) and cut with them.
* Only whole tiles count; a partial last tile (a crash mid-write) is ignored by readers and
  cut by the next writer before it appends.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from dta.audit._merkle import NodeSource, _range_hash
from dta.audit.stores._tile_layout import LEVEL_OFFSETS, TILE_BYTES, TILE_HEIGHT, TILE_LEAVES
from dta.errors import StorageError

__all__ = [
    "BLOCK",
    "TILE_BYTES",
    "TILE_FILE",
    "TILE_LEVELS",
    "TILE_STRIDE",
    "Tiles",
    "build_tiles",
    "inclusion_path",
    "level_offset",
]

#: Levels held by a tile (0 .. TILE_LEVELS - 1).
TILE_LEVELS = TILE_HEIGHT
#: Records per tile.
BLOCK = TILE_LEAVES
#: Bytes a tile takes in the file (one 4 KiB page).
TILE_STRIDE = 4096
#: Name of the tile file in the sidecar directory.
TILE_FILE = "T00"
#: Chunk of tiles built at once from the level files.
_CHUNK = 256
#: Most right-edge folds remembered by one sidecar.
_FOLDS = 1024

_OFFSETS = LEVEL_OFFSETS


def level_offset(level: int) -> int:
    """Byte offset of ``level``'s first hash inside a tile (``0 <= level < TILE_LEVELS``)."""
    return _OFFSETS[level]


def build_tiles(read: Callable[[int, int, int], bytes], first: int, stop: int) -> bytes:
    """The file bytes of tiles ``first .. stop - 1`` (padded), from the level files.

    ``read(level, offset, size)`` reads ``size`` bytes of level file ``level`` at ``offset``.

    Raises:
        ValueError: a level file is short (the caller reports the sidecar as damaged).
    """
    out = bytearray()
    pad = bytes(TILE_STRIDE - TILE_BYTES)
    for lo in range(first, stop, _CHUNK):
        hi = min(lo + _CHUNK, stop)
        levels = []
        for level in range(TILE_LEVELS):
            width = 32 * (BLOCK >> level)
            data = read(level, lo * width, (hi - lo) * width)
            if len(data) != (hi - lo) * width:
                raise ValueError(f"level {level} is short for tiles {lo}..{hi}")
            levels.append((data, width))
        for t in range(hi - lo):
            for data, width in levels:
                out += data[t * width : (t + 1) * width]
            out += pad
    return bytes(out)


class Tiles:
    """The tile file of one sidecar: cached reads, and (for a writer) sync and cut.

    ``fd()`` opens (or returns the open) ``T00``, raising ``OSError`` or ``StorageError``
    when it cannot; ``read`` reads a level file as :func:`build_tiles` expects. ``cap`` is the
    most tiles a reader may use (a read-only view limits it to its consistent prefix).
    """

    __slots__ = ("_advised", "_count", "_fd", "_last", "_read", "_usable", "cap", "folds")

    def __init__(self, fd: Callable[[], int], read: Callable[[int, int, int], bytes]) -> None:
        """Tiles over ``fd()`` (nothing is opened until a tile is needed)."""
        self._fd = fd
        self._read = read
        self.cap = 1 << 62
        self.forget()

    def forget(self) -> None:
        """Drop every cached fact (after a cut, a close, or a reset of the view)."""
        self._count = 0  # whole tiles known to be in the file
        self._last: tuple[int, bytes] | None = None  # the last tile read
        self._usable = True  # False: the file cannot be opened (read-only, missing)
        self._advised = -1  # the descriptor last given POSIX_FADV_RANDOM
        #: MTH(D[start:size]) of right-edge pieces by (start, size), for :func:`inclusion_path`.
        self.folds: dict[tuple[int, int], bytes] = {}

    def get(self, block: int) -> bytes | None:
        """Tile ``block`` (:data:`TILE_BYTES`) if the file holds it whole, else None."""
        last = self._last
        if last is not None and last[0] == block:
            return last[1]
        if block >= self.cap or not self._usable:
            return None
        try:
            fd = self._fd()
            if fd != self._advised:  # tiles are read at random: no readahead around them
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
                self._advised = fd
            if block >= self._count:
                self._count = os.fstat(fd).st_size // TILE_STRIDE
                if block >= self._count:
                    return None
            data = os.pread(fd, TILE_BYTES, block * TILE_STRIDE)
        except (OSError, StorageError):
            self._usable = False
            return None
        if len(data) != TILE_BYTES:
            return None
        self._last = (block, data)
        return data

    def cut(self, n: int) -> None:
        """Keep at most the tiles of ``n`` records (and whole tiles only)."""
        fd = self._fd()
        size = os.fstat(fd).st_size
        keep = min(size // TILE_STRIDE, n >> TILE_LEVELS) * TILE_STRIDE
        if keep != size:
            os.ftruncate(fd, keep)
        self.forget()

    def sync(self, n: int, *, check: bool = False) -> None:
        """Make the file hold exactly the tiles of ``n`` records (the level files hold them).

        With ``check``, the last tile kept is compared with the level files first, and all
        tiles are rebuilt if it differs (a tile file left by another sidecar's history).

        Raises:
            OSError: a read or write failed.
            ValueError: a level file is short.
        """
        self.cut(n)
        fd = self._fd()
        have = os.fstat(fd).st_size // TILE_STRIDE
        if (
            check
            and have
            and build_tiles(self._read, have - 1, have)
            != os.pread(fd, TILE_STRIDE, (have - 1) * TILE_STRIDE)
        ):
            os.ftruncate(fd, 0)
            have = 0
        want = n >> TILE_LEVELS
        for lo in range(have, want, _CHUNK * 16):
            data = memoryview(build_tiles(self._read, lo, min(lo + _CHUNK * 16, want)))
            while data:
                data = data[os.write(fd, data) :]
        self._count = max(want, have)


def inclusion_path(tiles: Tiles, src: NodeSource, index: int, size: int) -> list[bytes]:
    """RFC 9162 PATH(index, D[0:size]) with levels 0..5 from one tile where it is whole.

    The closed form of :func:`dta.audit.merkle.inclusion_proof` (same rules, same result);
    ``src`` serves every other subtree. ``0 <= index < size`` and every node of the tree of
    ``size`` must be stored.
    """
    node = src.perfect
    inner = (index ^ (size - 1)).bit_length()
    proof: list[bytes] = []
    level = 0
    if inner and (index | (BLOCK - 1)) < size:  # the whole block is inside the tree
        tile = tiles.get(index >> TILE_LEVELS)
        if tile is not None:
            pos = index & (BLOCK - 1)
            level = min(inner, TILE_LEVELS)
            for k in range(level):
                at = _OFFSETS[k] + (((pos >> k) ^ 1) << 5)
                proof.append(tile[at : at + 32])
    while level < inner:
        j = (index >> level) ^ 1
        if (j + 1) << level <= size:
            proof.append(node(level, j))
        else:  # the tree's end cuts the sibling: MTH of the rest (memoised, as nodes never change)
            key = (j << level, size)
            piece = tiles.folds.get(key)
            if piece is None:
                if len(tiles.folds) >= _FOLDS:
                    tiles.folds.clear()
                piece = tiles.folds[key] = _range_hash(src, j << level, size)
            proof.append(piece)
        level += 1
    rest = index >> inner
    while rest:
        if rest & 1:
            proof.append(node(level, rest - 1))
        rest >>= 1
        level += 1
    return proof
