"""SQLite store (WAL): records, leaf hashes and subtree hashes in one database file.

Rules this module enforces (schema and connection settings: :mod:`._sqlite_schema`; where the
subtree hashes live: :mod:`._sqlite_nodes`; how proofs read them: :mod:`._sqlite_proofs`):

* Every append is one transaction that inserts rows ``n, n+1, ...`` under the primary key, so
  concurrent appenders — threads or processes — serialise and can never fork the chain or reuse
  an index. The store keeps its tail (``n``, last leaf hash and the tree's peaks) in memory
  between appends. A one-record append on that cached tail is a single autocommit ``INSERT``
  (its own transaction: SQLite takes the write lock on a fresh snapshot, waiting with the busy
  handler; ADR 0096). Otherwise, or when that INSERT fails because another connection appended
  meanwhile (row ``n`` exists; rows are never deleted, so the true size cannot be below ``n``),
  the append runs in one ``BEGIN IMMEDIATE`` transaction that builds on the cached tail, or
  reads the tail from the database after such a failure, and is retried once in a new
  transaction if row ``n`` exists. The builder may therefore be called more than once, the
  first time before the write lock is held; only the lines of the call whose INSERT commits
  are stored. That transaction is about half of an append's cost (ADR 0108);
  ``append_many`` (one transaction per batch) is the fast way to log many events.
* An append that completes a block of 64 records inserts its tile (and any tile of a higher
  level it completes) in the same transaction, so it never takes the one-INSERT path. The
  open blocks' hashes are kept with the cached tail and re-read with it (ADR 0104).
* Durability ``always``: the WAL is fsynced at every commit. ``batch``: a commit survives a
  process crash; ``flush()`` — also after the group-commit bounds — fdatasyncs the WAL and the
  database file. ``none``: the OS decides.
* ``readonly`` (ADR 0104): the database is opened with SQLite's ``mode=ro`` and never created,
  migrated or written; ``append`` and ``repair`` raise :class:`dta.errors.StorageError`.
* Transactions make a torn tail impossible; ``repair`` has nothing to move and says so. ``fsck``
  runs SQLite's integrity check and recomputes every stored leaf and subtree hash; a file
  SQLite reports as damaged is a finding, not an error (ADR 0110).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from dta.audit.stores import BATCH_MAX_DELAY, BATCH_MAX_RECORDS, Builder, check_durability
from dta.audit.stores._sqlite_fsck import check_hashes, integrity_problems, write_tiles
from dta.audit.stores._sqlite_nodes import Frontier, root_plan
from dta.audit.stores._sqlite_proofs import NodeReader
from dta.audit.stores._sqlite_schema import SCHEMA_VERSION, Layout, connect, damage_of
from dta.audit.stores._sqlite_tiles import (
    INSERT_TILE,
    TILE_HEIGHT,
    TILE_LEAVES,
    make_tile,
    tile_from_nodes,
    tile_id,
    tile_root,
)
from dta.errors import ConfigError, StorageError

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

_ZERO = bytes(32)
_INSERT = "INSERT INTO dta_records (idx, leaf, nodes, line) VALUES (?, ?, ?, ?)"


class SQLiteStore:
    """Append-only audit log in a SQLite database (see module rules)."""

    def __init__(
        self,
        path: Path,
        conn: sqlite3.Connection,
        durability: str,
        layout: Layout,
        *,
        readonly: bool = False,
    ) -> None:
        """Use :meth:`open`."""
        self._path = path
        self._conn = conn
        self._durability = durability
        self._layout = layout
        self._readonly = readonly
        self._mutex = threading.RLock()
        self._nodes = NodeReader(
            conn,
            self._mutex,
            f"sqlite:{path}",
            layout.inline_from,
            layout.nodes_column,
            tiles=layout.tiles,
        )
        self._front: Frontier | None = None  # tail as of our last commit or read
        # With _front: per tile level k, the level-6k hashes of its unfinished block.
        self._blocks: list[list[bytes]] = [[]]
        self._dones: list[bytes | None] = []  # the `nodes` values of _blocks[0]'s records
        self._prev = _ZERO
        self._pending = 0
        self._pending_since = 0.0
        self._closed = False

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        durability: str,
        create: bool,
        readonly: bool = False,
    ) -> SQLiteStore:
        """Open (or create) the database; migrate schema 1, refuse unknown versions.

        Args:
            path: The database file.
            durability: ``always``, ``batch`` or ``none``.
            create: Create an empty log if there is none (not with ``readonly``).
            readonly: Open with SQLite's read-only mode: nothing is created, migrated or
                written; ``append`` and ``repair`` raise :class:`StorageError`.

        Raises:
            StorageError: missing database without ``create``, wrong schema, or SQLite errors.
            ConfigError: unknown durability mode, or ``create`` with ``readonly``.
        """
        check_durability(durability)
        p = Path(path)
        if readonly and create:
            raise ConfigError(f"{p}: a log opened read-only cannot be created")
        conn, layout = connect(p, durability=durability, create=create, readonly=readonly)
        return cls(p, conn, durability, layout, readonly=readonly)

    @property
    def url(self) -> str:
        """``sqlite:`` URL of the database."""
        return f"sqlite:{self._path}"

    @property
    def durability(self) -> str:
        """The durability mode."""
        return self._durability

    @property
    def readonly(self) -> bool:
        """Whether the store was opened read-only."""
        return self._readonly

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"{self.url}: store is closed")

    def _check_writable(self, what: str) -> None:
        self._check_open()
        if self._readonly:
            raise StorageError(f"{self.url}: opened read-only: cannot {what}")

    def size(self) -> int:
        """Number of committed records.

        Raises:
            StorageError: database error.
        """
        with self._mutex:
            self._check_open()
            try:
                row = self._conn.execute("SELECT max(idx) FROM dta_records").fetchone()
            except sqlite3.Error as exc:
                raise StorageError(f"{self.url}: {exc}") from exc
            return 0 if row[0] is None else int(row[0]) + 1

    def _load_tail(self) -> Frontier:
        """Read the tail (size, last leaf, peaks) from the database; call under the write lock."""
        row = self._conn.execute(
            "SELECT idx, leaf FROM dta_records ORDER BY idx DESC LIMIT 1"
        ).fetchone()
        n, prev = (0, _ZERO) if row is None else (int(row[0]) + 1, bytes(row[1]))
        plan = root_plan(n)
        keys = plan[0] if plan else []
        found = self._nodes.fetch(keys)
        start = n - n % TILE_LEAVES
        rows = self._conn.execute(
            "SELECT leaf, nodes FROM dta_records WHERE idx >= ? AND idx < ? ORDER BY idx",
            (start, n),
        ).fetchall()
        if len(rows) != n - start:
            raise StorageError(f"{self.url}: records {start}..{n - 1} are not all stored")
        blocks = [[bytes(leaf) for leaf, _ in rows]]
        self._dones = [None if nodes is None else bytes(nodes) for _, nodes in rows]
        for level in range(TILE_HEIGHT, max(n.bit_length(), 1), TILE_HEIGHT):  # tile level // 6
            stop = n >> level
            open_keys = [(level, j) for j in range(stop - stop % TILE_LEAVES, stop)]
            block = self._nodes.fetch(open_keys) if open_keys else {}
            blocks.append([block[key] for key in open_keys])
        self._prev = prev
        self._blocks = blocks
        self._front = Frontier(n, [found[k] for k in keys])
        return self._front

    def _rollback(self) -> None:
        self._front = None
        self._blocks = [[]]
        self._dones = []
        with contextlib.suppress(sqlite3.Error):  # no transaction left: nothing to undo
            self._conn.execute("ROLLBACK")

    def append(self, build: Builder) -> tuple[int, list[bytes]]:
        """Append ``build(n, prev)`` atomically (see the module rules for the transaction shape).

        Raises:
            StorageError: database error (nothing is written then).
        """
        with self._mutex:
            self._check_writable("append")
            done = self._append_one(build) if self._front is not None else None
            n, leaves = self._append_locked(build) if done is None else done
            if self._durability == "batch" and leaves:
                now = time.monotonic()
                if not self._pending:
                    self._pending_since = now
                self._pending += len(leaves)
                if (
                    self._pending >= BATCH_MAX_RECORDS
                    or now - self._pending_since >= BATCH_MAX_DELAY
                ):
                    self._sync()
            return n, leaves

    def _append_one(self, build: Builder) -> tuple[int, list[bytes]] | None:
        """One record on the cached tail as a single autocommit INSERT; None: take the slow path.

        The INSERT is its own transaction (SQLite takes the write lock, with the busy handler,
        on a fresh snapshot). It fails, and nothing is written, when the cached tail is stale:
        then row ``n`` exists (rows are never deleted, so the true size is not below ``n``).
        Any failure drops the cached tail; builders of more than one line take the slow path.
        """
        front = self._front
        assert front is not None
        n = front.size
        if n % TILE_LEAVES == TILE_LEAVES - 1:
            return None  # completes a block: its tile is inserted in the same transaction
        lines = build(n, self._prev)
        if len(lines) != 1:
            return None if lines else (n, [])
        line = lines[0]
        leaf = hashlib.sha256(b"\x00" + line).digest()
        done = front.add(leaf)
        try:
            self._conn.execute(_INSERT, (n, leaf, done, line))
        except sqlite3.Error:
            self._rollback()  # drops the cached tail; the slow path re-reads it under the lock
            return None
        except BaseException:
            self._rollback()
            raise
        self._prev = leaf
        self._blocks[0].append(leaf)
        self._dones.append(done)
        return n, [leaf]

    def _append_locked(self, build: Builder) -> tuple[int, list[bytes]]:
        """Append in one ``BEGIN IMMEDIATE`` transaction (reading the tail when not cached)."""
        conn = self._conn
        for attempt in (0, 1):
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StorageError(f"{self.url}: cannot lock: {exc}") from exc
            try:
                front = self._front
                if front is None or attempt:
                    front = self._load_tail()
                n = front.size
                leaves = self._insert(build(n, self._prev), front)  # updates front
                conn.execute("COMMIT")
            except sqlite3.IntegrityError as exc:
                # Row n exists: another connection appended since our tail was read.
                self._rollback()
                if attempt:
                    raise StorageError(f"{self.url}: append failed: {exc}") from exc
                continue
            except sqlite3.Error as exc:
                self._rollback()
                raise StorageError(f"{self.url}: append failed: {exc}") from exc
            except BaseException:
                self._rollback()
                raise
            if leaves:
                self._prev = leaves[-1]
            return n, leaves
        raise AssertionError("unreachable")  # pragma: no cover

    def _insert(self, lines: Sequence[bytes], front: Frontier) -> list[bytes]:
        """Insert ``lines`` as rows ``front.size, ...`` with their hashes and completed tiles.

        ``front`` and the block are advanced in place; on any error the caller drops both
        (``_rollback``). Returns the leaf hashes.
        """
        n = front.size
        sha256 = hashlib.sha256
        blocks = self._blocks
        dones = self._dones
        rows = []
        tiles: list[tuple[int, bytes]] = []
        for i, line in enumerate(lines):
            leaf = sha256(b"\x00" + line).digest()
            done = front.add(leaf)
            rows.append((n + i, leaf, done, line))
            blocks[0].append(leaf)
            dones.append(done)
            k = 0
            while len(blocks[k]) == TILE_LEAVES:  # block k complete: its tile, then one up
                tile = (not k and tile_from_nodes(blocks[0], dones)) or make_tile(blocks[k])
                tiles.append((tile_id(k, (n + i) >> (TILE_HEIGHT * (k + 1))), tile))
                if not k:
                    dones.clear()
                blocks[k].clear()
                k += 1
                if k == len(blocks):
                    blocks.append([])
                blocks[k].append(tile_root(tile))
        if len(rows) == 1:
            self._conn.execute(_INSERT, rows[0])
        elif rows:
            self._conn.executemany(_INSERT, rows)
        if tiles:
            self._conn.executemany(INSERT_TILE, tiles)
        return [r[1] for r in rows]

    def _sync(self) -> None:
        # The WAL holds every commit not yet checkpointed; the database file holds the rest
        # (a checkpoint by a synchronous=OFF connection may have left it unsynced).
        try:
            for name in (str(self._path) + "-wal", str(self._path)):
                try:
                    fd = os.open(name, os.O_RDONLY)
                except FileNotFoundError:
                    continue
                try:
                    os.fdatasync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise StorageError(f"{self.url}: flush failed: {exc}") from exc
        self._pending = 0

    def flush(self) -> None:
        """Make committed appends durable (``batch`` group commit).

        Raises:
            StorageError: the checkpoint or sync failed.
        """
        with self._mutex:
            if self._pending and not self._closed:
                self._sync()

    def close(self) -> None:
        """Flush and close (idempotent)."""
        with self._mutex:
            if self._closed:
                return
            try:
                self.flush()
            finally:
                self._closed = True
                self._nodes.close()
                self._conn.close()

    def perfect(self, level: int, index: int) -> bytes:
        """Stored subtree hash (level 0: the record's leaf column).

        Raises:
            StorageError: not stored.
        """
        return self._nodes.perfect(level, index)

    def root(self, size: int) -> bytes:
        """Merkle root of ``size`` records (upper levels from memory, the rest in one query).

        Raises:
            ProofError: ``size`` is not a non-negative integer.
            StorageError: a node is missing.
        """
        return self._nodes.root(size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Inclusion proof (upper levels from memory, the rest in one query).

        Raises:
            ProofError: bad index or size.
            StorageError: a node is missing.
        """
        return self._nodes.inclusion_proof(index, size)

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        """Consistency proof (upper levels from memory, the rest in one query).

        Raises:
            ProofError: bad sizes.
            StorageError: a node is missing.
        """
        return self._nodes.consistency_proof(old, new)

    def lines(self, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """Stream stored lines in index order from a private read connection.

        Raises:
            StorageError: database error.
        """
        self._check_open()
        return self._iter_lines(start, stop)

    def _iter_lines(self, start: int, stop: int | None) -> Iterator[bytes]:
        try:
            conn = sqlite3.connect(self._layout.read_uri, uri=True, timeout=120.0)
        except sqlite3.Error as exc:
            raise StorageError(f"{self.url}: {exc}") from exc
        try:
            conn.execute("BEGIN")  # one snapshot for the whole stream
            cur = conn.execute(
                "SELECT line FROM dta_records WHERE idx >= ? AND idx < ? ORDER BY idx",
                (start, (1 << 62) if stop is None else stop),
            )
            while True:
                rows = cur.fetchmany(4096)
                if not rows:
                    return
                for (line,) in rows:
                    yield bytes(line)
        except sqlite3.Error as exc:
            raise StorageError(f"{self.url}: {exc}") from exc
        finally:
            conn.close()

    def line(self, index: int) -> bytes:
        """The stored line of record ``index``.

        Raises:
            StorageError: no such record.
        """
        with self._mutex:
            self._check_open()
            row = self._conn.execute(
                "SELECT line FROM dta_records WHERE idx = ?", (index,)
            ).fetchone()
        if row is None:
            raise StorageError(f"{self.url}: no record {index}")
        return bytes(row[0])

    def fsck(self) -> dict[str, Any]:
        """Integrity check, gap check and recomputation of every stored hash.

        Returns:
            The report described in :meth:`dta.audit.stores.Store.fsck`.

        Raises:
            StorageError: the database cannot be read (locked, I/O error; ADR 0110).
        """
        missing: list[int] = []
        rebuilt: list[str] = []
        problems: list[str] = []
        size = 0
        with self._mutex:
            self._check_open()
            try:
                problems += integrity_problems(self._conn)
                size = self.size()
                problems += check_hashes(self._conn, self._layout, self._nodes.perfect, missing)
                if missing and not problems and not self._readonly:
                    count = write_tiles(missing, self._conn, self._nodes.fetch)
                    rebuilt.append(f"dta_tiles: {count} tiles of complete blocks written")
            except sqlite3.Error as exc:
                damage = damage_of(exc)
                if damage is None or "immutable=1" in self._layout.read_uri:
                    # An immutable snapshot can read a checkpoint a writer made meanwhile as
                    # damage (see _sqlite_schema): not a finding about the file.
                    raise StorageError(f"{self.url}: {exc}") from exc
                problems.append(damage)
                with contextlib.suppress(StorageError):  # as far as the damage lets us count
                    size = self.size()
        return {
            "store": "sqlite",
            "url": self.url,
            "size": size,
            "ok": not problems,
            "torn": None,
            "problems": problems,
            "rebuilt": rebuilt,
        }

    def repair(self) -> dict[str, Any]:
        """Nothing to repair: SQLite transactions cannot leave a torn tail.

        Raises:
            StorageError: opened read-only, or the database fails its integrity check (repair
                cannot fix that).
        """
        self._check_writable("repair")
        report = self.fsck()
        if not report["ok"]:
            raise StorageError(f"{self.url}: {report['problems'][0]}; repair cannot fix this")
        return {"repaired": False, "moved_to": None, "bytes": 0, "size": report["size"]}
