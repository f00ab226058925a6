"""SQLite store proofs: tiles and rows by primary key, upper levels held in memory (ADR 0104).

Rules this module enforces (ADR 0058, 0104):

* Subtree ``(level, j)`` is read, in this order, from the in-process copies (below), from the
  tile of its block when that block is complete in the tree of the proof and the tile is stored
  (:mod:`dta.audit.stores._sqlite_tiles`), or from row ``((j + 1) << level) - 1`` of
  ``dta_records`` (level 0: its ``leaf`` column, else bytes ``(level - 1) * 32`` of ``nodes``),
  or, for rows below ``inline_from``, from ``dta_nodes`` (schema 1 or migrated). An inclusion
  proof reads its tiles and rows in one statement; a subtree that is not stored raises
  :class:`dta.errors.StorageError`, never data, and a missing or damaged tile means "read the
  rows".
* Upper levels are served from in-process copies: levels ``>= top`` hold, for every ``j`` below
  ``covered >> level``, the hash of subtree ``(level, j)``. A copy is filled only from rows that
  exist, and a stored subtree hash never changes afterwards (rows are append-only under the
  schema's triggers, and a subtree is stored only once its last record is), so a copy stays
  right whatever other processes append; a proof at a size past ``covered`` first extends the
  copies to that size, and fails like a direct read when the rows are not there. The same holds
  for the memo of right-edge folds (a function of stored hashes) and for the tiles of levels
  >= 6 an inclusion proof has read (1 in 64 of all tiles, at most ``_UPPER_TILES`` held).
  Rows changed behind SQLite's back (triggers dropped) are tampering, which verification
  detects: it recomputes every hash and never reads stored ones.
* What is copied grows with use (ski rental): after ``q`` proofs the copies hold the levels of
  at most ``min(RAMP * q, bound)`` nodes each (``TILED_TOP_NODES`` with tiles, else
  ``TOP_NODES``), so a one-off proof reads no more rows than it needs, and a copy's lowest
  level is dropped when the log has grown past twice the bound.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence

from dta.audit._merkle import EMPTY_ROOT, fold_peaks
from dta.audit.stores._sqlite_nodes import Plan, consistency_plan, inclusion_plan, root_plan
from dta.audit.stores._sqlite_tiles import TILE_BYTES, tile_id, tile_of
from dta.errors import StorageError

__all__ = ["RAMP", "TILED_TOP_NODES", "TOP_NODES", "NodeReader"]

#: Largest number of nodes of one level held in memory (8,192 x 32 bytes = 256 KiB).
TOP_NODES = 8192
#: The same bound when the database has tiles: a proof reads the tiles of its record's blocks
#: anyway, so copies only spare it the sparse top tiles and the right edge's rows.
TILED_TOP_NODES = 1024
#: Nodes of a level that may be copied per proof served before it (amortised row reads).
RAMP = 64
_FOLDS = 1024
_UPPER_TILES = 1024  # 4 MiB of tiles of levels >= 6 held at most
_UPPER_TILE = tile_id(1, 0)
_NO_LEVEL = 63  # "no level copied": every real level is below
_IN_SQL: dict[tuple[str, int], str] = {}
#: Rows ``first, first + step, ... <= last``, each a primary-key lookup (CROSS JOIN keeps the
#: generated rows as the outer loop); only the column expression is interpolated, never values.
_STEP_SQL = (
    "WITH RECURSIVE k(r) AS (VALUES(?) UNION ALL SELECT r + ? FROM k WHERE r + ? <= ?)"
    " SELECT idx, {col} FROM k CROSS JOIN dta_records ON dta_records.idx = k.r"
)
_OLD_SQL = "SELECT idx, hash FROM dta_nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx"


def _tiles_sql(count: int) -> str:
    sql = _IN_SQL.get(("", count))
    if sql is None:
        # Only "?" placeholders (their count) are interpolated, never values.
        sql = f"SELECT tile, hashes FROM dta_tiles WHERE tile IN ({','.join('?' * count)})"  # noqa: S608
        _IN_SQL[("", count)] = sql
    return sql


def _tiles_rows_sql(nodes_column: str, tiles: int, rows: int) -> str:
    """``(0, tile, hashes, NULL)`` of tiles ``?, ...`` then ``(1, idx, leaf, nodes)`` of rows."""
    key = (f"{nodes_column}:{tiles}", rows)
    sql = _IN_SQL.get(key)
    if sql is None:
        # Only "?" placeholders (their counts) and the fixed column name are interpolated.
        parts = []
        if tiles:
            marks = ",".join("?" * tiles)
            parts.append(f"SELECT 0, tile, hashes, NULL FROM dta_tiles WHERE tile IN ({marks})")  # noqa: S608
        if rows:
            marks = ",".join("?" * rows)
            parts.append(
                f"SELECT 1, idx, leaf, {nodes_column} FROM dta_records"  # noqa: S608
                f" WHERE idx IN ({marks})"
            )
        sql = " UNION ALL ".join(parts) or "SELECT 0, 0, NULL, NULL LIMIT 0"
        _IN_SQL[key] = sql
    return sql


def _rows_sql(nodes_column: str, count: int) -> str:
    sql = _IN_SQL.get((nodes_column, count))
    if sql is None:
        marks = ",".join("?" * count)
        # Only "?" placeholders (their count) and the fixed column name are interpolated.
        sql = f"SELECT idx, leaf, {nodes_column} FROM dta_records WHERE idx IN ({marks})"  # noqa: S608
        _IN_SQL[(nodes_column, count)] = sql
    return sql


class NodeReader:
    """Reads the subtree hashes proofs need from one connection (see module rules)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        mutex: threading.RLock,
        url: str,
        inline_from: int,
        nodes_column: str,
        *,
        tiles: bool,
    ) -> None:
        """Read through ``conn`` under ``mutex`` (shared with the store's appends)."""
        self._conn = conn
        self._mutex = mutex
        self._url = url
        self._inline_from = inline_from
        self._nodes_column = nodes_column
        self._tiles = tiles
        self._closed = False
        self._served = 0  # proofs (and roots) served: the copy budget grows with them
        self._top = _NO_LEVEL  # lowest level copied
        self._covered = 0  # every copied level holds the subtrees of the first `covered` records
        self._copies: list[bytes] = [b""] * _NO_LEVEL
        # Right folds of the plan entries that cut the tree's right edge, by their subtrees
        # (a function of stored hashes, which never change; ``_FOLDS`` entries at most).
        self._folds: dict[tuple[tuple[int, int], ...], bytes] = {}
        # Tiles of levels >= 6 read so far (1 in 64 of all tiles; immutable once stored).
        self._upper_tiles: dict[int, bytes] = {}

    def close(self) -> None:
        """Refuse every later read (the store closes the connection)."""
        self._closed = True

    # -- upper-level copies --------------------------------------------------------------

    def _grow(self, size: int) -> None:
        """Before a proof in a ``size``-record tree: copy what the budget allows (under mutex).

        ``top`` and ``covered`` change only once every copied level holds its subtrees of the
        new ``covered`` records, all read from rows that exist; on a failure they stay as
        they were (a copy may then hold more than ``covered`` needs: stored hashes only).
        """
        budget = min(RAMP * self._served, TILED_TOP_NODES if self._tiles else TOP_NODES)
        self._served += 1
        top, covered = self._top, self._covered
        if size <= covered and not (top and covered >> (top - 1) <= budget):
            return  # nothing new to copy (the budget would not lower the copied levels)
        if size >= 1 << 62:
            return  # never stored: the rows' reads report it
        target = max(size, covered)
        height = target.bit_length()  # levels from here on have no subtree yet
        want = height
        while want and target >> (want - 1) <= budget:
            want -= 1
        if top < want and target >> top <= 2 * budget:
            want = top  # keep what is copied until the log outgrows twice the budget
        for level in range(want, height):
            self._extend(level, target >> level)
        for level in range(top, min(want, _NO_LEVEL)):
            self._copies[level] = b""
        self._top, self._covered = want, target

    def _extend(self, level: int, count: int) -> None:
        """Extend the copy of ``level`` to its first ``count`` subtrees (all must be stored)."""
        have = len(self._copies[level]) // 32
        if have >= count:
            return
        parts = [self._copies[level]]
        j = have
        conn = self._conn
        if level and j < count and j < self._inline_from >> level:
            stop = min(count, self._inline_from >> level)
            for idx, h in conn.execute(_OLD_SQL, (level, j, stop)):
                if idx != j or len(h) != 32:
                    break
                parts.append(bytes(h))
                j += 1
        if j < count and (not level or j >= self._inline_from >> level):
            col = "leaf" if not level else f"substr({self._nodes_column}, {level * 32 - 31}, 32)"
            step = 1 << level
            args = (((j + 1) << level) - 1, step, step, (count << level) - 1)
            for row, h in conn.execute(_STEP_SQL.format(col=col), args):
                if row != ((j + 1) << level) - 1 or h is None or len(h) != 32:
                    break
                parts.append(bytes(h))
                j += 1
        self._copies[level] = b"".join(parts)
        if j < count:
            raise StorageError(f"{self._url}: subtree {(level, j)} is not stored")

    # -- reads ---------------------------------------------------------------------------

    def fetch(
        self, keys: Sequence[tuple[int, int]], size: int = 0, *, grow: bool = True
    ) -> dict[tuple[int, int], bytes]:
        """Hashes of subtrees ``(level, j)``; ``size`` > 0: a proof in a tree of that size
        (counted for the copy budget unless ``grow`` is false: already counted).

        Raises:
            StorageError: a subtree is not stored (or its row is damaged), or a database error.
        """
        found: dict[tuple[int, int], bytes] = {}
        by_tile: dict[int, list[tuple[tuple[int, int], int]]] = {}  # tile -> (key, offset)
        rest: list[tuple[int, int]] = []
        with self._mutex:
            if self._closed:
                raise StorageError(f"{self._url}: store is closed")
            try:
                if size and grow:
                    self._grow(size)
                top, covered, copies = self._top, self._covered, self._copies
                tiles = self._tiles and size
                for key in keys:
                    level, j = key
                    if not 0 <= level <= 62 or not 0 <= j < 1 << 62:
                        continue  # never stored: reported missing below
                    if level >= top and j < covered >> level:
                        found[key] = copies[level][32 * j : 32 * j + 32]
                        continue
                    if tiles:
                        tile, offset, end = tile_of(level, j)
                        if end <= size:  # the block is complete in the tree of the proof
                            by_tile.setdefault(tile, []).append((key, offset))
                            continue
                    rest.append(key)
                if by_tile:
                    # A tile that is not stored (older release) or damaged: rows instead.
                    for tile, hashes in self._conn.execute(_tiles_sql(len(by_tile)), [*by_tile]):
                        if len(hashes) == TILE_BYTES:
                            for key, offset in by_tile[tile]:
                                found[key] = hashes[offset : offset + 32]
                    rest.extend(
                        key for keys in by_tile.values() for key, _ in keys if key not in found
                    )
                if rest:
                    self._read_rows(rest, found)
            except sqlite3.Error as exc:
                raise StorageError(f"{self._url}: {exc}") from exc
        if len(found) != len(keys):
            for key in keys:
                if key not in found:
                    raise StorageError(f"{self._url}: subtree {key} is not stored")
        return found

    def _read_rows(self, keys: list[tuple[int, int]], found: dict[tuple[int, int], bytes]) -> None:
        """Read ``keys`` from their records' rows (or ``dta_nodes`` below ``inline_from``)."""
        by_row: dict[int, list[tuple[int, int]]] = {}
        old: list[tuple[int, int]] = []
        for key in keys:
            level, j = key
            row = ((j + 1) << level) - 1
            if row >= 1 << 62:
                continue
            if level and row < self._inline_from:
                old.append(key)
            else:
                by_row.setdefault(row, []).append(key)
        if by_row:
            sql = _rows_sql(self._nodes_column, len(by_row))
            for idx, leaf, nodes in self._conn.execute(sql, [*by_row]):
                for key in by_row[idx]:
                    level = key[0]
                    h = leaf if not level else (nodes or b"")[level * 32 - 32 : level * 32]
                    if len(h) == 32:
                        found[key] = bytes(h)
        if old:
            # Point lookups on the primary key, one statement; only "?" placeholders are
            # interpolated (their count), never values.
            query = " UNION ALL ".join(
                ["SELECT level, idx, hash FROM dta_nodes WHERE level = ? AND idx = ?"] * len(old)
            )
            for level, j, h in self._conn.execute(query, [x for k in old for x in k]):
                if len(h) == 32:
                    found[(level, j)] = bytes(h)

    def perfect(self, level: int, index: int) -> bytes:
        """Stored subtree hash (level 0: the record's leaf column).

        Raises:
            StorageError: not stored.
        """
        return self.fetch([(level, index)])[(level, index)]

    def _resolve(self, plan: Plan, size: int, *, grow: bool = True) -> list[bytes]:
        found = self.fetch([key for entry in plan for key in entry], size, grow=grow)
        return [
            found[entry[0]] if len(entry) == 1 else fold_peaks([found[k] for k in entry])
            for entry in plan
        ]

    def root(self, size: int) -> bytes:
        """Merkle root of ``size`` records.

        Raises:
            ProofError: ``size`` is not a non-negative integer.
            StorageError: a node is missing.
        """
        plan = root_plan(size)
        return self._resolve(plan, size)[0] if plan else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of ``index`` in the tree of ``size`` records.

        Raises:
            ProofError: bad index or size.
            StorageError: a node is missing.
        """
        plan = inclusion_plan(index, size)
        if self._tiles:
            proof = self._inclusion_from_tiles(plan, size)
            if proof is not None:
                return proof
            return self._resolve(plan, size, grow=False)  # the copies grew for this proof
        return self._resolve(plan, size)

    def _inclusion_from_tiles(self, plan: Plan, size: int) -> list[bytes] | None:
        """An inclusion proof read in one statement: tiles, and rows for what no tile covers.

        A single-subtree entry is served from the copies, from the tile of its complete block,
        or from the row of a record at or past ``inline_from``; an entry that folds pieces of
        the tree's right edge is computed once per store (``_folds``, read the general way the
        first time). None: a tile is not stored or is damaged, or a subtree needs
        ``dta_nodes`` — the caller then resolves the plan the general way.
        """
        proof: list[bytes] = []
        in_tiles: list[tuple[int, int, int]] = []  # (position, tile, byte offset)
        in_rows: list[tuple[int, int, int]] = []  # (position, row, level)
        with self._mutex:
            if self._closed:
                raise StorageError(f"{self._url}: store is closed")
            try:
                self._grow(size)
            except sqlite3.Error as exc:
                raise StorageError(f"{self._url}: {exc}") from exc
            top, covered, copies = self._top, self._covered, self._copies
            folds = self._folds
            for entry in plan:
                if len(entry) == 1:
                    level, j = entry[0]
                    if level >= top and j < covered >> level:
                        proof.append(copies[level][32 * j : 32 * j + 32])
                        continue
                    tile, offset, end = tile_of(level, j)
                    if end <= size:
                        in_tiles.append((len(proof), tile, offset))
                    else:
                        row = ((j + 1) << level) - 1
                        if level and row < self._inline_from:
                            return None
                        in_rows.append((len(proof), row, level))
                    proof.append(b"")
                    continue
                key = tuple(entry)
                h = folds.get(key)
                if h is None:
                    found = self.fetch(entry, size, grow=False)
                    h = fold_peaks([found[k] for k in entry])
                    if len(folds) >= _FOLDS:
                        folds.clear()
                    folds[key] = h
                proof.append(h)
            held = self._upper_tiles
            blobs = {t: held[t] for _, t, _ in in_tiles if t in held}
            tiles = list({t for _, t, _ in in_tiles if t not in blobs})
            sql = _tiles_rows_sql(self._nodes_column, len(tiles), len(in_rows))
            try:
                got = {
                    (kind, at): (first, second)
                    for kind, at, first, second in self._conn.execute(
                        sql, [*tiles, *(r for _, r, _ in in_rows)]
                    )
                }
            except sqlite3.Error as exc:
                raise StorageError(f"{self._url}: {exc}") from exc
            for tile in tiles:
                blob = got.get((0, tile), (b"", None))[0]
                blobs[tile] = blob
                if tile >= _UPPER_TILE and len(blob) == TILE_BYTES:
                    if len(held) >= _UPPER_TILES:
                        held.clear()
                    held[tile] = blob
        for pos, tile, offset in in_tiles:
            blob = blobs[tile]
            if len(blob) != TILE_BYTES:
                return None
            proof[pos] = blob[offset : offset + 32]
        for pos, row, level in in_rows:
            leaf, nodes = got.get((1, row), (b"", None))
            h = leaf if not level else (nodes or b"")[level * 32 - 32 : level * 32]
            if len(h) != 32:
                return None
            proof[pos] = bytes(h)
        return proof

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        """RFC 9162 consistency proof from ``old`` to ``new`` records.

        Raises:
            ProofError: bad sizes.
            StorageError: a node is missing.
        """
        return self._resolve(consistency_plan(old, new), new)
