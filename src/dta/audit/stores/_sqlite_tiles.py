"""SQLite store tiles: six Merkle levels of each complete 64-node block in one row (ADR 0104).

Rules this module enforces:

* Tile ``(k, t)`` covers tree levels ``6k .. 6k + 5`` of the block of 64 level-``6k`` nodes
  ``64 t .. 64 t + 63`` (``k = 0``: the leaf hashes of records ``64 t .. 64 t + 63``). It is the
  row ``dta_tiles(tile = k << 56 | t, hashes)``; ``hashes`` concatenates the block's 64 level-6k
  hashes, then its 32 hashes one level up, ... down to the 2 of level ``6k + 5`` — 126 x 32 =
  4,032 bytes, so a tile fits in one 4 KiB database page and a proof reads one tile per six
  levels (at 1,000,000 records: one tile of level 0 plus tiles of levels 1 and 2 shared by
  thousands of records).
* A tile is written only for a complete block, in the same transaction as the record that
  completes it (:func:`make_tile`; the level-``6k + 6`` node that the next tile level takes is
  :func:`tile_root`); triggers reject UPDATE and DELETE, like the records. Tiles are a derived
  cache of hashes: a block without a tile (written by an older release, or before the table
  existed) is read from the records' rows instead, and ``fsck`` writes the missing tiles of a
  writable store. Verification never reads tiles.
* The table is added by any writable open (``CREATE TABLE IF NOT EXISTS``, O(1), schema version
  unchanged: older releases ignore it and still read and append); a read-only open of a database
  without it reads rows only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from dta.audit.stores._tile_layout import LEVEL_OFFSETS, TILE_BYTES, TILE_HEIGHT, TILE_LEAVES

__all__ = [
    "INSERT_TILE",
    "TILE_BYTES",
    "TILE_HEIGHT",
    "TILE_LEAVES",
    "TILE_SQL",
    "make_tile",
    "tile_from_nodes",
    "tile_id",
    "tile_of",
    "tile_root",
]

#: Byte offset of a tile's local level ``m``'s first hash (levels 6k .. 6k + 5 of a block).
_OFFSET = LEVEL_OFFSETS
_K_SHIFT = 56
_sha256 = hashlib.sha256

#: Statements adding the tile table to a schema-2 database (idempotent).
TILE_SQL = (
    "CREATE TABLE IF NOT EXISTS dta_tiles (tile INTEGER PRIMARY KEY, hashes BLOB NOT NULL)",
    *(
        f"CREATE TRIGGER IF NOT EXISTS dta_tiles_no_{op.lower()} BEFORE {op} ON dta_tiles"
        " BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"
        for op in ("UPDATE", "DELETE")
    ),
)
INSERT_TILE = "INSERT INTO dta_tiles (tile, hashes) VALUES (?, ?)"


def make_tile(nodes: Sequence[bytes]) -> bytes:
    """The tile of a complete block from its 64 level-6k hashes (see module rules)."""
    if len(nodes) != TILE_LEAVES:
        raise ValueError(f"a tile needs {TILE_LEAVES} hashes, got {len(nodes)}")
    level = list(nodes)
    parts = [b"".join(level)]
    for _ in range(1, TILE_HEIGHT):
        level = [
            _sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)
        ]
        parts.append(b"".join(level))
    return b"".join(parts)


def tile_from_nodes(leaves: Sequence[bytes], nodes: Sequence[bytes | None]) -> bytes | None:
    """A level-0 tile from its records' leaves and ``nodes`` values, without hashing.

    Record ``i`` of the block completed the level-``m`` subtree ``((i + 1) >> m) - 1`` of the
    block for every ``m`` up to its trailing one bits, and its ``nodes`` value holds their
    hashes (levels 1, 2, ...; ADR 0058). None when a value needed is not known (a row below
    ``inline_from``): then :func:`make_tile` computes the tile from the leaves.
    """
    parts = [b"".join(leaves)]
    for m in range(1, TILE_HEIGHT):
        start = 32 * (m - 1)
        level = []
        for j in range(TILE_LEAVES >> m):
            done = nodes[((j + 1) << m) - 1]
            if done is None or len(done) < start + 32:
                return None
            level.append(done[start : start + 32])
        parts.append(b"".join(level))
    return b"".join(parts)


def tile_root(tile: bytes) -> bytes:
    """The level-``6k + 6`` hash of a tile's block (the fold of its two top hashes)."""
    return _sha256(b"\x01" + tile[_OFFSET[-1] : _OFFSET[-1] + 64]).digest()


def tile_id(k: int, t: int) -> int:
    """Primary key of tile ``(k, t)``."""
    return k << _K_SHIFT | t


def tile_of(level: int, j: int) -> tuple[int, int, int]:
    """``(tile id, byte offset, records the block spans to its end)`` of subtree ``(level, j)``.

    The tile is stored only once the tree has at least the third value of records.
    """
    k, m = divmod(level, TILE_HEIGHT)
    t = j >> (TILE_HEIGHT - m)
    offset = _OFFSET[m] + 32 * (j & ((TILE_LEAVES >> m) - 1))
    return k << _K_SHIFT | t, offset, (t + 1) << (TILE_HEIGHT * (k + 1))
