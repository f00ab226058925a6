"""SQLite store (WAL): records, leaf hashes and subtree hashes in one database file.

Rules this module enforces:

* Schema version 1 (``dta_meta``): ``dta_records(idx INTEGER PRIMARY KEY, line BLOB, leaf BLOB)``
  and ``dta_nodes(level, idx, hash)`` for perfect subtrees of ``2**level`` leaves, ``level >= 1``
  (level 0 is the ``leaf`` column). Triggers reject UPDATE and DELETE on both tables: the log is
  append-only in the database too. A database of another schema version is refused.
* Every append is one ``BEGIN IMMEDIATE`` transaction that reads the tail (last index and leaf)
  inside it, so concurrent appenders — threads or processes — serialise and never fork the chain.
* Journal mode WAL. Durability ``always``: ``synchronous=FULL`` (the WAL is fsynced at every
  commit). ``batch``: ``synchronous=NORMAL`` (a commit survives a process crash); ``flush()``
  checkpoints and fsyncs the WAL and database files, also after the group-commit bounds.
  ``none``: ``synchronous=OFF``.
* Transactions make a torn tail impossible; ``repair`` has nothing to move and says so. ``fsck``
  runs SQLite's integrity check and recomputes every stored leaf and subtree hash.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dta.audit._merkle import NodeSource, consistency_proof, inclusion_proof
from dta.audit._merkle import root as merkle_root
from dta.audit._merkle_tree import RootBuilder
from dta.audit.stores import BATCH_MAX_DELAY, BATCH_MAX_RECORDS, Builder, check_durability
from dta.errors import StorageError

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

SCHEMA_VERSION = "1"
_ZERO = bytes(32)
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS dta_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS dta_records ("
    " idx INTEGER PRIMARY KEY, line BLOB NOT NULL, leaf BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS dta_nodes ("
    " level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,"
    " PRIMARY KEY (level, idx)) WITHOUT ROWID",
    *(
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}"
        " BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"
        for table in ("dta_records", "dta_nodes")
        for op in ("UPDATE", "DELETE")
    ),
)
_SYNC = {"always": "FULL", "batch": "NORMAL", "none": "OFF"}


class _Recorder:
    """NodeSource that records which subtrees a computation asks for."""

    def __init__(self) -> None:
        self.wanted: list[tuple[int, int]] = []

    def perfect(self, level: int, index: int) -> bytes:
        self.wanted.append((level, index))
        return bytes(32)


class _Fetched:
    """NodeSource over subtree hashes fetched in advance."""

    def __init__(self, found: dict[tuple[int, int], bytes]) -> None:
        self.found = found

    def perfect(self, level: int, index: int) -> bytes:
        try:
            return self.found[(level, index)]
        except KeyError:
            raise StorageError(f"subtree ({level}, {index}) is not stored") from None


class SQLiteStore:
    """Append-only audit log in a SQLite database (see module rules)."""

    def __init__(self, path: Path, conn: sqlite3.Connection, durability: str) -> None:
        """Use :meth:`open`."""
        self._path = path
        self._conn = conn
        self._durability = durability
        self._mutex = threading.RLock()
        self._rb: RootBuilder | None = None
        self._pending = 0
        self._pending_since = 0.0
        self._closed = False

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, durability: str, create: bool) -> SQLiteStore:
        """Open (or create) the database and check its schema version.

        Raises:
            StorageError: missing database without ``create``, wrong schema, or SQLite errors.
            ConfigError: unknown durability mode.
        """
        check_durability(durability)
        p = Path(path)
        existed = p.exists()
        if not existed and not create:
            raise StorageError(f"{p}: no such audit log (create it with 'dta audit init')")
        try:
            conn = sqlite3.connect(p, timeout=120.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 120000")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StorageError(f"{p}: cannot switch the database to WAL mode")
            conn.execute(f"PRAGMA synchronous = {_SYNC[durability]}")
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA:
                    conn.execute(statement)
                row = conn.execute("SELECT value FROM dta_meta WHERE key='schema'").fetchone()
                if row is None:
                    conn.execute("INSERT INTO dta_meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
                    conn.execute("INSERT INTO dta_meta VALUES ('type', 'dta.audit-log')")
                elif row[0] != SCHEMA_VERSION:
                    raise StorageError(  # noqa: TRY301 - rolled back just below
                        f"{p}: audit schema version {row[0]} is not supported"
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StorageError(f"{p}: cannot open SQLite audit log: {exc}") from exc
        return cls(p, conn, durability)

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

    def append(self, build: Builder) -> tuple[int, list[bytes]]:
        """Append ``build(n, prev)`` in one ``BEGIN IMMEDIATE`` transaction.

        Raises:
            StorageError: database error (nothing is written then).
        """
        with self._mutex:
            self._check_open()
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StorageError(f"{self.url}: cannot lock: {exc}") from exc
            try:
                row = conn.execute(
                    "SELECT idx, leaf FROM dta_records ORDER BY idx DESC LIMIT 1"
                ).fetchone()
                n, prev = (0, _ZERO) if row is None else (int(row[0]) + 1, bytes(row[1]))
                lines = list(build(n, prev))
                leaves = [hashlib.sha256(b"\x00" + line).digest() for line in lines]
                rb = self._rb
                if rb is None or rb.size != n:
                    rb = RootBuilder.resume(n, self)
                self._rb = None
                nodes: list[tuple[int, int, bytes]] = []
                for leaf in leaves:
                    nodes.extend(nd for nd in rb.append(leaf) if nd.level)
                conn.executemany(
                    "INSERT INTO dta_records (idx, line, leaf) VALUES (?, ?, ?)",
                    [
                        (n + i, line, leaf)
                        for i, (line, leaf) in enumerate(zip(lines, leaves, strict=True))
                    ],
                )
                if nodes:
                    conn.executemany("INSERT INTO dta_nodes VALUES (?, ?, ?)", nodes)
                conn.execute("COMMIT")
                self._rb = rb
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise StorageError(f"{self.url}: append failed: {exc}") from exc
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            if self._durability == "batch" and lines:
                if not self._pending:
                    self._pending_since = time.monotonic()
                self._pending += len(lines)
                if (
                    self._pending >= BATCH_MAX_RECORDS
                    or time.monotonic() - self._pending_since >= BATCH_MAX_DELAY
                ):
                    self._sync()
            return n, leaves

    def _sync(self) -> None:
        try:
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            for name in (str(self._path) + "-wal", str(self._path)):
                try:
                    fd = os.open(name, os.O_RDONLY)
                except FileNotFoundError:
                    continue
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except (sqlite3.Error, OSError) as exc:
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

    def perfect(self, level: int, index: int) -> bytes:
        """Stored subtree hash (level 0: the record's leaf column).

        Raises:
            StorageError: not stored.
        """
        with self._mutex:
            self._check_open()
            if level == 0:
                row = self._conn.execute(
                    "SELECT leaf FROM dta_records WHERE idx = ?", (index,)
                ).fetchone()
            else:
                row = self._conn.execute(
                    "SELECT hash FROM dta_nodes WHERE level = ? AND idx = ?", (level, index)
                ).fetchone()
        if row is None:
            raise StorageError(f"{self.url}: subtree ({level}, {index}) is not stored")
        return bytes(row[0])

    def _nodes(self, compute: Callable[[NodeSource], Any]) -> Any:
        """Run a Merkle computation with every node it needs fetched in one query.

        The merkle functions ask for the same subtrees whatever their hashes are, so a first run
        over a recorder learns which to fetch.
        """
        recorder = _Recorder()
        compute(recorder)
        wanted = recorder.wanted
        found: dict[tuple[int, int], bytes] = {}
        leaves = [i for lv, i in wanted if lv == 0]
        inner = [(lv, i) for lv, i in wanted if lv]
        with self._mutex:
            self._check_open()
            # Point lookups on the primary keys, one statement; only "?" placeholders are
            # interpolated (their count), never values.
            parts = ["SELECT 0, idx, leaf FROM dta_records WHERE idx = ?"] * len(leaves)
            parts += ["SELECT level, idx, hash FROM dta_nodes WHERE level = ? AND idx = ?"] * len(
                inner
            )
            params = [*leaves, *(x for pair in inner for x in pair)]
            if parts:
                query = " UNION ALL ".join(parts)
                for level, idx, h in self._conn.execute(query, params):
                    found[(level, idx)] = bytes(h)

        return compute(_Fetched(found))

    def root(self, size: int) -> bytes:
        """Merkle root of ``size`` records (nodes fetched in one query per table).

        Raises:
            StorageError: a node is missing.
        """
        out: bytes = self._nodes(lambda src: merkle_root(size, src))
        return out

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Inclusion proof (nodes fetched in one query per table).

        Raises:
            ProofError: bad index or size.
            StorageError: a node is missing.
        """
        out: list[bytes] = self._nodes(lambda src: inclusion_proof(index, size, src))
        return out

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        """Consistency proof (nodes fetched in one query per table).

        Raises:
            ProofError: bad sizes.
            StorageError: a node is missing.
        """
        out: list[bytes] = self._nodes(lambda src: consistency_proof(old, new, src))
        return out

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
        rb = RootBuilder()
        count = 0
        with self._mutex:
            cur = self._conn.execute("SELECT idx, line, leaf FROM dta_records ORDER BY idx")
            for idx, line, leaf in cur:
                if idx != count:
                    problems.append(f"index gap: record {count} missing (next is {idx})")
                    break
                count += 1
                computed = hashlib.sha256(b"\x00" + bytes(line)).digest()
                if computed != bytes(leaf):
                    problems.append(f"stored leaf hash of record {idx} does not match its line")
                    break
                for node in rb.append(computed):
                    if node.level and self.perfect(node.level, node.index) != node.hash:
                        problems.append(f"stored subtree ({node.level}, {node.index}) is wrong")
                        break
        return {
            "store": "sqlite",
            "url": self.url,
            "size": size,
            "ok": not problems,
            "torn": None,
            "problems": problems,
            "rebuilt": [],
        }

    def repair(self) -> dict[str, Any]:
        """Nothing to repair: SQLite transactions cannot leave a torn tail.

        Raises:
            StorageError: the database fails its integrity check (repair cannot fix that).
        """
        report = self.fsck()
        if not report["ok"]:
            raise StorageError(f"{self.url}: {report['problems'][0]}; repair cannot fix this")
        return {"repaired": False, "moved_to": None, "bytes": 0, "size": report["size"]}
