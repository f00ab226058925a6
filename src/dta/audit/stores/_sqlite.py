"""SQLite store (WAL): records, leaf hashes and subtree hashes in one database file.

Rules this module enforces:

* Schema version 2 (``dta_meta``, ADR 0058): ``dta_records(idx INTEGER PRIMARY KEY, leaf, nodes,
  line)`` — each row carries its record's leaf hash and the hashes of the perfect subtrees its
  append completed (:mod:`dta.audit.stores._sqlite_nodes`). Schema-1 databases are migrated in
  place on open (O(1), their older subtree hashes stay in ``dta_nodes``); other versions are
  refused. Triggers reject UPDATE and DELETE: the log is append-only in the database too.
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
  are stored.
* Journal mode WAL. Durability ``always``: ``synchronous=FULL`` (the WAL is fsynced at every
  commit). ``batch``: ``synchronous=NORMAL`` (a commit survives a process crash); ``flush()``
  — also after the group-commit bounds — fdatasyncs the WAL and the database file, and SQLite
  checkpoints (syncing both) only every 16,384 WAL pages. ``none``: ``synchronous=OFF``.
* Transactions make a torn tail impossible; ``repair`` has nothing to move and says so. ``fsck``
  runs SQLite's integrity check and recomputes every stored leaf and subtree hash.
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

from dta.audit._merkle import EMPTY_ROOT, fold_peaks
from dta.audit.stores import BATCH_MAX_DELAY, BATCH_MAX_RECORDS, Builder, check_durability
from dta.audit.stores._sqlite_nodes import (
    MIGRATE_V1,
    SCHEMA_V2,
    Frontier,
    Plan,
    consistency_plan,
    inclusion_plan,
    root_plan,
)
from dta.errors import StorageError

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

SCHEMA_VERSION = "2"
_ZERO = bytes(32)
_SYNC = {"always": "FULL", "batch": "NORMAL", "none": "OFF"}
#: ``batch``: SQLite checkpoints (and syncs) after this many WAL pages, not after 1,000;
#: ``flush()`` syncs the WAL instead of checkpointing (ADR 0058).
_BATCH_CHECKPOINT_PAGES = 16384
_INSERT = "INSERT INTO dta_records (idx, leaf, nodes, line) VALUES (?, ?, ?, ?)"
_IN_SQL: dict[int, str] = {}


def _rows_sql(count: int) -> str:
    sql = _IN_SQL.get(count)
    if sql is None:
        marks = ",".join("?" * count)
        # Only "?" placeholders are interpolated (their count), never values.
        sql = f"SELECT idx, leaf, nodes FROM dta_records WHERE idx IN ({marks})"  # noqa: S608
        _IN_SQL[count] = sql
    return sql


def _init_schema(conn: sqlite3.Connection, p: Path) -> int:
    """Create, migrate or check the schema inside the open transaction; return ``inline_from``.

    Raises:
        StorageError: not a dta audit log, or a schema version this code does not know.
        sqlite3.Error: the database failed.
    """
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "dta_meta" not in tables:
        if "dta_records" in tables or "dta_nodes" in tables:
            raise StorageError(f"{p}: dta tables without dta_meta: not a dta audit log")
        conn.execute("CREATE TABLE dta_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    meta = dict(conn.execute("SELECT key, value FROM dta_meta").fetchall())
    version = meta.get("schema")
    if version is None:
        for statement in SCHEMA_V2:
            conn.execute(statement)
        conn.executemany(
            "INSERT INTO dta_meta VALUES (?, ?)",
            [("schema", SCHEMA_VERSION), ("type", "dta.audit-log"), ("inline_from", "0")],
        )
        return 0
    if version == "1":
        (top,) = conn.execute("SELECT max(idx) FROM dta_records").fetchone()
        inline_from = 0 if top is None else int(top) + 1
        for statement in MIGRATE_V1:
            conn.execute(statement)
        conn.execute("UPDATE dta_meta SET value = ? WHERE key = 'schema'", (SCHEMA_VERSION,))
        conn.execute("INSERT INTO dta_meta VALUES ('inline_from', ?)", (str(inline_from),))
        return inline_from
    if version != SCHEMA_VERSION:
        raise StorageError(f"{p}: audit schema version {version} is not supported")
    try:
        return int(meta["inline_from"])
    except (KeyError, ValueError) as exc:
        raise StorageError(f"{p}: dta_meta.inline_from is missing or not an integer") from exc


def _setup(conn: sqlite3.Connection, p: Path, durability: str) -> int:
    """Configure the connection (WAL, sync mode) and the schema; return ``inline_from``.

    Raises:
        StorageError: WAL mode refused, not a dta audit log, or an unknown schema version.
        sqlite3.Error: the database failed.
    """
    conn.execute("PRAGMA busy_timeout = 120000")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StorageError(f"{p}: cannot switch the database to WAL mode")
    conn.execute(f"PRAGMA synchronous = {_SYNC[durability]}")
    if durability == "batch":
        conn.execute(f"PRAGMA wal_autocheckpoint = {_BATCH_CHECKPOINT_PAGES}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        inline_from = _init_schema(conn, p)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return inline_from


class SQLiteStore:
    """Append-only audit log in a SQLite database (see module rules)."""

    def __init__(
        self, path: Path, conn: sqlite3.Connection, durability: str, inline_from: int
    ) -> None:
        """Use :meth:`open`."""
        self._path = path
        self._conn = conn
        self._durability = durability
        self._inline_from = inline_from  # rows below: subtree hashes in dta_nodes (schema 1)
        self._mutex = threading.RLock()
        self._front: Frontier | None = None  # tail as of our last commit or read
        self._prev = _ZERO
        self._pending = 0
        self._pending_since = 0.0
        self._closed = False

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, durability: str, create: bool) -> SQLiteStore:
        """Open (or create) the database; migrate schema 1, refuse unknown versions.

        Raises:
            StorageError: missing database without ``create``, wrong schema, or SQLite errors.
            ConfigError: unknown durability mode.
        """
        check_durability(durability)
        p = Path(path)
        if not p.exists() and not create:
            raise StorageError(f"{p}: no such audit log (create it with 'dta audit init')")
        try:
            conn = sqlite3.connect(p, timeout=120.0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StorageError(f"{p}: cannot open SQLite audit log: {exc}") from exc
        try:
            inline_from = _setup(conn, p, durability)
        except sqlite3.Error as exc:
            conn.close()
            raise StorageError(f"{p}: cannot open SQLite audit log: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return cls(p, conn, durability, inline_from)

    @property
    def url(self) -> str:
        """``sqlite:`` URL of the database."""
        return f"sqlite:{self._path}"

    @property
    def durability(self) -> str:
        """The durability mode."""
        return self._durability

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"{self.url}: store is closed")

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
        found = self._fetch(keys)
        self._prev = prev
        self._front = Frontier(n, [found[k] for k in keys])
        return self._front

    def _rollback(self) -> None:
        self._front = None
        with contextlib.suppress(sqlite3.Error):  # no transaction left: nothing to undo
            self._conn.execute("ROLLBACK")

    def append(self, build: Builder) -> tuple[int, list[bytes]]:
        """Append ``build(n, prev)`` atomically (see the module rules for the transaction shape).

        Raises:
            StorageError: database error (nothing is written then).
        """
        with self._mutex:
            self._check_open()
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
        lines = build(n, self._prev)
        if len(lines) != 1:
            return None if lines else (n, [])
        line = lines[0]
        leaf = hashlib.sha256(b"\x00" + line).digest()
        try:
            self._conn.execute(_INSERT, (n, leaf, front.add(leaf), line))
        except sqlite3.Error:
            self._rollback()  # drops the cached tail; the slow path re-reads it under the lock
            return None
        except BaseException:
            self._rollback()
            raise
        self._prev = leaf
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
        """Insert ``lines`` as rows ``front.size, ...`` with their hashes; return the leaves.

        ``front`` is advanced in place; on any error the caller drops it (``_rollback``).
        """
        n = front.size
        sha256 = hashlib.sha256
        if len(lines) == 1:
            line = lines[0]
            leaf = sha256(b"\x00" + line).digest()
            self._conn.execute(_INSERT, (n, leaf, front.add(leaf), line))
            return [leaf]
        rows = []
        for i, line in enumerate(lines):
            leaf = sha256(b"\x00" + line).digest()
            rows.append((n + i, leaf, front.add(leaf), line))
        if rows:
            self._conn.executemany(_INSERT, rows)
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
                self._conn.close()

    def _fetch(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Stored hashes of subtrees ``(level, j)``: one primary-key ``IN`` query per table.

        Raises:
            StorageError: a subtree is not stored (or its row is damaged), or a database error.
        """
        inline_from = self._inline_from
        by_row: dict[int, list[tuple[int, int]]] = {}
        old: list[tuple[int, int]] = []
        count = 0
        for key in keys:
            count += 1
            level, j = key
            if not 0 <= level <= 62 or j < 0:
                continue  # never stored: reported missing below
            row = ((j + 1) << level) - 1
            if row >= 1 << 62:
                continue
            if level and row < inline_from:
                old.append(key)
            else:
                by_row.setdefault(row, []).append(key)
        found: dict[tuple[int, int], bytes] = {}
        with self._mutex:
            self._check_open()
            try:
                if by_row:
                    for idx, leaf, nodes in self._conn.execute(_rows_sql(len(by_row)), [*by_row]):
                        for key in by_row[idx]:
                            level = key[0]
                            h = leaf if not level else (nodes or b"")[level * 32 - 32 : level * 32]
                            if len(h) == 32:
                                found[key] = bytes(h)
                if old:
                    # Point lookups on the primary key, one statement; only "?" placeholders
                    # are interpolated (their count), never values.
                    query = " UNION ALL ".join(
                        ["SELECT level, idx, hash FROM dta_nodes WHERE level = ? AND idx = ?"]
                        * len(old)
                    )
                    for level, j, h in self._conn.execute(query, [x for k in old for x in k]):
                        found[(level, j)] = bytes(h)
            except sqlite3.Error as exc:
                raise StorageError(f"{self.url}: {exc}") from exc
        if len(found) != count:
            for key in keys:
                if key not in found:
                    raise StorageError(f"{self.url}: subtree {key} is not stored")
        return found

    def perfect(self, level: int, index: int) -> bytes:
        """Stored subtree hash (level 0: the record's leaf column).

        Raises:
            StorageError: not stored.
        """
        return self._fetch([(level, index)])[(level, index)]

    def _resolve(self, plan: Plan) -> list[bytes]:
        found = self._fetch([key for entry in plan for key in entry])
        return [
            found[entry[0]] if len(entry) == 1 else fold_peaks([found[k] for k in entry])
            for entry in plan
        ]

    def root(self, size: int) -> bytes:
        """Merkle root of ``size`` records (the peaks fetched in one query).

        Raises:
            ProofError: ``size`` is not a non-negative integer.
            StorageError: a node is missing.
        """
        plan = root_plan(size)
        return self._resolve(plan)[0] if plan else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Inclusion proof (nodes fetched in one query).

        Raises:
            ProofError: bad index or size.
            StorageError: a node is missing.
        """
        return self._resolve(inclusion_plan(index, size))

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        """Consistency proof (nodes fetched in one query).

        Raises:
            ProofError: bad sizes.
            StorageError: a node is missing.
        """
        return self._resolve(consistency_plan(old, new))

    def lines(self, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """Stream stored lines in index order from a private read connection.

        Raises:
            StorageError: database error.
        """
        self._check_open()
        return self._iter_lines(start, stop)

    def _iter_lines(self, start: int, stop: int | None) -> Iterator[bytes]:
        try:
            conn = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, timeout=120.0)
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
        """
        problems: list[str] = []
        with self._mutex:
            self._check_open()
            result = [r[0] for r in self._conn.execute("PRAGMA integrity_check").fetchall()]
        if result != ["ok"]:
            problems.append("integrity_check: " + "; ".join(map(str, result[:5])))
        size = self.size()
        problems.extend(self._check_hashes())
        return {
            "store": "sqlite",
            "url": self.url,
            "size": size,
            "ok": not problems,
            "torn": None,
            "problems": problems,
            "rebuilt": [],
        }

    def _check_hashes(self) -> list[str]:
        """Recompute every leaf and subtree hash in index order; the first mismatch found."""
        front = Frontier(0, [])
        with self._mutex:
            cur = self._conn.execute("SELECT idx, line, leaf, nodes FROM dta_records ORDER BY idx")
            for idx, line, leaf, nodes in cur:
                if idx != front.size:
                    return [f"index gap: record {front.size} missing (next is {idx})"]
                computed = hashlib.sha256(b"\x00" + bytes(line)).digest()
                if computed != bytes(leaf):
                    return [f"stored leaf hash of record {idx} does not match its line"]
                done = front.add(computed) or b""
                if idx >= self._inline_from:
                    if bytes(nodes or b"") != done or (nodes is not None and not done):
                        return [f"stored subtree hashes of record {idx} are wrong"]
                    continue
                for k in range(len(done) // 32):
                    key = (k + 1, idx >> (k + 1))
                    try:
                        stored = self.perfect(*key)
                    except StorageError:
                        return [f"stored subtree {key} is missing"]
                    if stored != done[32 * k : 32 * k + 32]:
                        return [f"stored subtree {key} is wrong"]
        return []

    def repair(self) -> dict[str, Any]:
        """Nothing to repair: SQLite transactions cannot leave a torn tail.

        Raises:
            StorageError: the database fails its integrity check (repair cannot fix that).
        """
        report = self.fsck()
        if not report["ok"]:
            raise StorageError(f"{self.url}: {report['problems'][0]}; repair cannot fix this")
        return {"repaired": False, "moved_to": None, "bytes": 0, "size": report["size"]}
