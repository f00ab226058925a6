"""SQLite store fsck: SQLite's integrity check and a recomputation of every stored hash.

Rules this module enforces:

* The check reads only: it never rewrites a stored hash (a wrong one is reported; proofs built
  from it would fail verification, and verification recomputes every hash from the lines).
* Records are walked in index order in one statement; the first problem found is reported: an
  index gap, a leaf hash that does not match its line, wrong or missing subtree hashes (inline
  ``nodes`` for rows from ``inline_from`` on, ``dta_nodes`` below it), or a stored tile that
  differs from the one its block's leaves give.
* A complete block without a tile is not a problem (tiles are a cache an older release did not
  write); a writable store's ``fsck`` writes the missing tiles (:func:`write_tiles`) once the walk
  found no problem, recomputing each from its records' leaf hashes, which the walk just checked
  against the lines. Tiles are inserted, never replaced.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable

from dta.audit.stores._sqlite_nodes import Frontier
from dta.audit.stores._sqlite_schema import Layout
from dta.audit.stores._sqlite_tiles import TILE_LEAVES, make_tile
from dta.errors import StorageError

__all__ = ["check_hashes", "integrity_problems", "write_tiles"]

_TILE_CHUNK = 1024  # tiles written per transaction


def integrity_problems(conn: sqlite3.Connection) -> list[str]:
    """SQLite's ``integrity_check`` verdict as a list of at most one problem."""
    result = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
    if result != ["ok"]:
        return ["integrity_check: " + "; ".join(map(str, result[:5]))]
    return []


def check_hashes(
    conn: sqlite3.Connection,
    layout: Layout,
    perfect: Callable[[int, int], bytes],
    missing_tiles: list[int],
) -> list[str]:
    """Recompute every leaf, subtree and tile hash in index order; the first mismatch found.

    ``perfect`` reads a stored subtree hash (used for rows below ``layout.inline_from``);
    complete blocks without a tile are appended to ``missing_tiles``.
    """
    front = Frontier(0, [])
    block: list[bytes] = []
    # Only the fixed column expression of the layout is interpolated, never values.
    sql = f"SELECT idx, line, leaf, {layout.nodes_column} FROM dta_records ORDER BY idx"  # noqa: S608
    for idx, line, leaf, nodes in conn.execute(sql):
        if idx != front.size:
            return [f"index gap: record {front.size} missing (next is {idx})"]
        computed = hashlib.sha256(b"\x00" + bytes(line)).digest()
        if computed != bytes(leaf):
            return [f"stored leaf hash of record {idx} does not match its line"]
        done = front.add(computed) or b""
        block.append(computed)
        if len(block) == TILE_LEAVES:
            tile = idx // TILE_LEAVES
            row = (
                conn.execute("SELECT hashes FROM dta_tiles WHERE tile = ?", (tile,)).fetchone()
                if layout.tiles
                else None
            )
            if row is None:
                missing_tiles.append(tile)
            elif bytes(row[0]) != make_tile(block):
                return [f"stored tile {tile} (records {idx - TILE_LEAVES + 1}..{idx}) is wrong"]
            block.clear()
        if idx >= layout.inline_from:
            if bytes(nodes or b"") != done or (nodes is not None and not done):
                return [f"stored subtree hashes of record {idx} are wrong"]
            continue
        for k in range(len(done) // 32):
            key = (k + 1, idx >> (k + 1))
            try:
                stored = perfect(*key)
            except StorageError:
                return [f"stored subtree {key} is missing"]
            if stored != done[32 * k : 32 * k + 32]:
                return [f"stored subtree {key} is wrong"]
    return []


def _tile_from_rows(conn: sqlite3.Connection, tile: int) -> bytes:
    first = tile * TILE_LEAVES
    leaves = [
        bytes(leaf)
        for (leaf,) in conn.execute(
            "SELECT leaf FROM dta_records WHERE idx >= ? AND idx < ? ORDER BY idx",
            (first, first + TILE_LEAVES),
        )
    ]
    if len(leaves) != TILE_LEAVES:
        raise StorageError(f"records of tile {tile} are not all stored")
    return make_tile(leaves)


def write_tiles(conn: sqlite3.Connection, tiles: list[int]) -> int:
    """Insert the tiles of these complete blocks from their stored leaves; return their count.

    Each chunk is one ``BEGIN IMMEDIATE`` transaction; a tile another writer inserted
    meanwhile is kept (``INSERT OR IGNORE``: tiles are never replaced).

    Raises:
        StorageError: a block's records are not all stored.
        sqlite3.Error: the database failed.
    """
    written = 0
    for start in range(0, len(tiles), _TILE_CHUNK):
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = [
                (tile, _tile_from_rows(conn, tile)) for tile in tiles[start : start + _TILE_CHUNK]
            ]
            conn.executemany("INSERT OR IGNORE INTO dta_tiles (tile, hashes) VALUES (?, ?)", rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        written += len(rows)
    return written
