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
from dta.audit.stores._sqlite_tiles import TILE_HEIGHT, TILE_LEAVES, make_tile, tile_id, tile_root
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
    the ids of complete blocks' tiles that are not stored are appended to ``missing_tiles``.
    """
    front = Frontier(0, [])
    blocks: list[list[bytes]] = [[]]  # per tile level: level-6k hashes of the open block
    # Only the fixed column expression of the layout is interpolated, never values.
    sql = f"SELECT idx, line, leaf, {layout.nodes_column} FROM dta_records ORDER BY idx"  # noqa: S608
    for idx, line, leaf, nodes in conn.execute(sql):
        if idx != front.size:
            return [f"index gap: record {front.size} missing (next is {idx})"]
        computed = hashlib.sha256(b"\x00" + bytes(line)).digest()
        if computed != bytes(leaf):
            return [f"stored leaf hash of record {idx} does not match its line"]
        done = front.add(computed) or b""
        blocks[0].append(computed)
        k = 0
        while len(blocks[k]) == TILE_LEAVES:
            tile = make_tile(blocks[k])
            key = tile_id(k, idx >> (TILE_HEIGHT * (k + 1)))
            row = (
                conn.execute("SELECT hashes FROM dta_tiles WHERE tile = ?", (key,)).fetchone()
                if layout.tiles
                else None
            )
            if row is None:
                missing_tiles.append(key)
            elif bytes(row[0]) != tile:
                t = idx >> (TILE_HEIGHT * (k + 1))
                return [f"stored tile {t} of tile level {k} (up to record {idx}) is wrong"]
            blocks[k].clear()
            k += 1
            if k == len(blocks):
                blocks.append([])
            blocks[k].append(tile_root(tile))
        if idx >= layout.inline_from:
            if bytes(nodes or b"") != done or (nodes is not None and not done):
                return [f"stored subtree hashes of record {idx} are wrong"]
            continue
        for m in range(len(done) // 32):
            node = (m + 1, idx >> (m + 1))
            try:
                stored = perfect(*node)
            except StorageError:
                return [f"stored subtree {node} is missing"]
            if stored != done[32 * m : 32 * m + 32]:
                return [f"stored subtree {node} is wrong"]
    return []


def write_tiles(
    tiles: list[int],
    conn: sqlite3.Connection,
    fetch: Callable[[list[tuple[int, int]]], dict[tuple[int, int], bytes]],
) -> int:
    """Insert these tiles of complete blocks from the stored hashes they cover; return a count.

    ``fetch`` reads stored subtree hashes (the records' leaves and inline nodes, or
    ``dta_nodes``). Each chunk is one ``BEGIN IMMEDIATE`` transaction; a tile another writer
    inserted meanwhile is kept (``INSERT OR IGNORE``: tiles are never replaced).

    Raises:
        StorageError: a block's hashes are not all stored.
        sqlite3.Error: the database failed.
    """
    for start in range(0, len(tiles), _TILE_CHUNK):
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = []
            for key in tiles[start : start + _TILE_CHUNK]:
                k, t = key >> 56, key & ((1 << 56) - 1)
                base = [(TILE_HEIGHT * k, TILE_LEAVES * t + i) for i in range(TILE_LEAVES)]
                found = fetch(base)
                rows.append((key, make_tile([found[b] for b in base])))
            conn.executemany("INSERT OR IGNORE INTO dta_tiles (tile, hashes) VALUES (?, ?)", rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(tiles)
