"""SQLite store tiles: the lower Merkle levels of each 64-record block in one row (ADR 0104).

Rules this module enforces:

* Tile ``t`` is the row ``dta_tiles(tile = t, hashes)`` for records ``64 t .. 64 t + 63``:
  ``hashes`` is the concatenation of levels 0..5 of that block — its 64 leaf hashes, then the
  32 level-1 subtree hashes, ... down to the 2 level-5 ones — 126 x 32 = 4,032 bytes, so a tile
  fits in one 4 KiB database page and a proof's six lowest nodes are one page read.
* A tile is written only for a complete block, in the same transaction as the record that
  completes it, from the block's leaf hashes (:func:`make_tile`); triggers reject UPDATE and
  DELETE, like the records. Tiles are a derived cache of hashes: a block without a tile (written
  by an older release, or before the table existed) is read from the records' rows instead, and
  ``fsck`` writes the missing tiles of a writable store. Verification never reads tiles.
* The table is added by any writable open (``CREATE TABLE IF NOT EXISTS``, O(1), schema version
  unchanged: older releases ignore it and still read and append); a read-only open of a database
  without it reads rows only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = [
    "INSERT_TILE",
    "TILE_BYTES",
    "TILE_HEIGHT",
    "TILE_LEAVES",
    "TILE_SQL",
    "make_tile",
    "tile_slot",
]

TILE_HEIGHT = 6
TILE_LEAVES = 1 << TILE_HEIGHT
#: Levels 0..5 of a 64-leaf block: 64 + 32 + ... + 2 hashes.
TILE_BYTES = 32 * (2 * TILE_LEAVES - 2)
#: Byte offset of level ``k``'s first hash in a tile.
_OFFSET = tuple(32 * (2 * TILE_LEAVES - (2 * TILE_LEAVES >> k)) for k in range(TILE_HEIGHT))
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


def make_tile(leaves: Sequence[bytes]) -> bytes:
    """The tile of a complete block from its 64 leaf hashes (levels 0..5, see module rules)."""
    if len(leaves) != TILE_LEAVES:
        raise ValueError(f"a tile needs {TILE_LEAVES} leaf hashes, got {len(leaves)}")
    level = list(leaves)
    parts = [b"".join(level)]
    for _ in range(1, TILE_HEIGHT):
        level = [
            _sha256(b"\x01" + level[k] + level[k + 1]).digest() for k in range(0, len(level), 2)
        ]
        parts.append(b"".join(level))
    return b"".join(parts)


def tile_slot(level: int, j: int) -> tuple[int, int]:
    """``(tile, byte offset)`` of subtree ``(level, j)``, ``0 <= level < TILE_HEIGHT``."""
    return j >> (TILE_HEIGHT - level), _OFFSET[level] + 32 * (j & ((TILE_LEAVES >> level) - 1))
