"""The byte layout of a Merkle tile, shared by the JSONL sidecar and the SQLite store.

Rules this module states (ADRs 0104, 0106):

* A tile holds six consecutive levels of one complete, aligned block of 64 nodes of its lowest
  level: those 64 hashes, then the 32 one level up, ... down to the 2 of its top level
  (126 x 32 = :data:`TILE_BYTES` = 4,032 bytes, so a tile fits one 4 KiB page).
* Local level ``m`` (``0 <= m < TILE_HEIGHT``) starts at byte :data:`LEVEL_OFFSETS` ``[m]``.
"""

from __future__ import annotations

__all__ = ["LEVEL_OFFSETS", "TILE_BYTES", "TILE_HEIGHT", "TILE_LEAVES"]

#: Levels held by a tile.
TILE_HEIGHT = 6
#: Nodes of a tile's lowest level (records, for a level-0 tile).
TILE_LEAVES = 1 << TILE_HEIGHT
#: Bytes of hashes in a tile: 64 + 32 + ... + 2 hashes.
TILE_BYTES = 32 * (2 * TILE_LEAVES - 2)
#: Byte offset of each local level's first hash inside a tile.
LEVEL_OFFSETS = tuple(32 * (2 * TILE_LEAVES - (2 * TILE_LEAVES >> m)) for m in range(TILE_HEIGHT))
