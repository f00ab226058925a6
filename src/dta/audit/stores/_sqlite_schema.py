"""SQLite store schema: creation, the schema-1 migration, version checks, connection settings.

Rules this module enforces:

* Schema version 2 (``dta_meta``, ADR 0058): ``dta_records(idx INTEGER PRIMARY KEY, leaf, nodes,
  line)`` — each row carries its record's leaf hash and the hashes of the perfect subtrees its
  append completed (:mod:`dta.audit.stores._sqlite_nodes`). Triggers reject UPDATE and DELETE:
  the log is append-only in the database too.
* A writable open creates the schema in an empty database (``create``), migrates a schema-1
  database in place (O(1): the ``nodes`` column is added, ``inline_from`` records the size at
  migration and the older subtree hashes stay in the frozen ``dta_nodes`` table), adds the
  ``dta_tiles`` table where it is missing (O(1), version unchanged: older releases ignore it;
  :mod:`dta.audit.stores._sqlite_tiles`) and refuses any other version or a database whose
  ``dta_*`` tables lack ``dta_meta``. It switches the database to WAL and sets ``synchronous``
  per durability mode (``always``: FULL, ``batch``: NORMAL with a checkpoint only every 16,384
  WAL pages, ``none``: OFF).
* A read-only open (ADR 0104) uses SQLite's ``mode=ro``: it never creates the file, a table or a
  meta row and never migrates. SQLite itself may create the ``-wal``/``-shm`` files it reads a
  WAL database through; in a directory where it cannot, and when no ``-wal`` exists (so no
  writer is connected), the file is opened ``immutable=1`` instead: a snapshot that does not
  follow later appends (a writer that starts and checkpoints meanwhile can make SQLite report
  corruption, which surfaces as :class:`dta.errors.StorageError`). A schema-1 database is read
  as it is (no ``nodes`` column: every subtree hash is in ``dta_nodes``); a database without
  ``dta_meta`` or of another version is refused. It changes no persistent setting (the journal
  mode stays what the file says).
* Both opens map the file with ``mmap_size`` (:data:`MMAP_BYTES`): proofs read ~8 rows per proof
  from anywhere in the file, and a mapped page costs no ``pread``. Writes still go through
  SQLite's normal path (``SQLITE_MMAP_READWRITE`` is off), and the log file never shrinks.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import NamedTuple

from dta.audit.stores._sqlite_tiles import TILE_SQL
from dta.errors import Error, StorageError, TamperError

__all__ = [
    "MMAP_BYTES",
    "SCHEMA_VERSION",
    "Layout",
    "connect",
    "damage_of",
]

SCHEMA_VERSION = "2"
#: Bytes of the database file SQLite reads through a memory map (ADR 0104).
MMAP_BYTES = 1 << 30
#: ``batch``: SQLite checkpoints (and syncs) after this many WAL pages, not after 1,000;
#: ``flush()`` syncs the WAL instead of checkpointing (ADR 0058).
_BATCH_CHECKPOINT_PAGES = 16384
_SYNC = {"always": "FULL", "batch": "NORMAL", "none": "OFF"}
#: Rows below this index keep their subtree hashes in ``dta_nodes`` (a read-only schema 1).
_ALL_ROWS = 1 << 62

_TRIGGERS = tuple(
    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}"
    " BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"
    for table in ("dta_records", "dta_nodes")
    for op in ("UPDATE", "DELETE")
)
_FREEZE_NODES = (
    "CREATE TRIGGER IF NOT EXISTS dta_nodes_no_insert BEFORE INSERT ON dta_nodes BEGIN"
    " SELECT RAISE(ABORT, 'audit log schema is 2: dta_nodes is frozen (upgrade dta)'); END"
)
_NODES_TABLE = (
    "CREATE TABLE IF NOT EXISTS dta_nodes ("
    " level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,"
    " PRIMARY KEY (level, idx)) WITHOUT ROWID"
)

#: Statements creating an empty schema-2 database (``dta_meta`` rows are added separately).
SCHEMA_V2 = (
    "CREATE TABLE dta_records ("
    " idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL, nodes BLOB, line BLOB NOT NULL)",
    _NODES_TABLE,  # empty; kept so every schema-2 database has the same tables
    *_TRIGGERS,
    _FREEZE_NODES,
)

#: Statements migrating a schema-1 database (``inline_from`` and version 2 are recorded after).
MIGRATE_V1 = (
    "ALTER TABLE dta_records ADD COLUMN nodes BLOB",
    *_TRIGGERS,
    _FREEZE_NODES,
)


class Layout(NamedTuple):
    """Where an open database keeps its subtree hashes."""

    #: Rows below this index have their subtree hashes in ``dta_nodes`` (schema 1 or migrated).
    inline_from: int
    #: SQL for a row's ``nodes`` value: the column, or NULL for a schema-1 database read as is.
    nodes_column: str
    #: Whether ``dta_tiles`` exists (:mod:`dta.audit.stores._sqlite_tiles`).
    tiles: bool
    #: URI for further read-only connections (``mode=ro``, plus ``immutable=1`` when that is
    #: how the store had to be opened).
    read_uri: str = ""


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _inline_from(meta: dict[str, str], p: Path) -> int:
    try:
        return int(meta["inline_from"])
    except (KeyError, ValueError) as exc:
        raise StorageError(f"{p}: dta_meta.inline_from is missing or not an integer") from exc


def _init_schema(conn: sqlite3.Connection, p: Path) -> int:
    """Create, migrate or check the schema inside the open transaction; return ``inline_from``.

    Raises:
        StorageError: not a dta audit log, or a schema version this code does not know.
        sqlite3.Error: the database failed.
    """
    tables = _tables(conn)
    if "dta_meta" not in tables:
        if tables & {"dta_records", "dta_nodes", "dta_tiles"}:
            raise StorageError(f"{p}: dta tables without dta_meta: not a dta audit log")
        conn.execute("CREATE TABLE dta_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    meta = dict(conn.execute("SELECT key, value FROM dta_meta").fetchall())
    version = meta.get("schema")
    if version is None:
        for statement in (*SCHEMA_V2, *TILE_SQL):
            conn.execute(statement)
        conn.executemany(
            "INSERT INTO dta_meta VALUES (?, ?)",
            [("schema", SCHEMA_VERSION), ("type", "dta.audit-log"), ("inline_from", "0")],
        )
        return 0
    if version == "1":
        (top,) = conn.execute("SELECT max(idx) FROM dta_records").fetchone()
        inline_from = 0 if top is None else int(top) + 1
        for statement in (*MIGRATE_V1, *TILE_SQL):
            conn.execute(statement)
        conn.execute("UPDATE dta_meta SET value = ? WHERE key = 'schema'", (SCHEMA_VERSION,))
        conn.execute("INSERT INTO dta_meta VALUES ('inline_from', ?)", (str(inline_from),))
        return inline_from
    if version != SCHEMA_VERSION:
        raise StorageError(f"{p}: audit schema version {version} is not supported")
    if "dta_tiles" not in tables:
        for statement in TILE_SQL:  # a schema-2 log of an older release (ADR 0104)
            conn.execute(statement)
    return _inline_from(meta, p)


def _setup(conn: sqlite3.Connection, p: Path, durability: str) -> Layout:
    """Configure a writable connection (WAL, sync mode) and the schema.

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
    conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        inline_from = _init_schema(conn, p)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return Layout(inline_from, "nodes", tiles=True, read_uri=_ro_uri(p))


def _inspect(conn: sqlite3.Connection, p: Path) -> Layout:
    """Check the schema of a read-only connection without changing anything.

    Raises:
        StorageError: not a dta audit log, or a schema version this code does not know.
        sqlite3.Error: the database failed.
    """
    conn.execute("PRAGMA busy_timeout = 120000")
    conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
    conn.execute("BEGIN")  # one snapshot for the checks
    try:
        if "dta_meta" not in _tables(conn):
            raise StorageError(f"{p}: no dta_meta table: not a dta audit log")
        tiles = "dta_tiles" in _tables(conn)
        meta = dict(conn.execute("SELECT key, value FROM dta_meta").fetchall())
    finally:
        conn.execute("COMMIT")
    version = meta.get("schema")
    if version == "1":
        return Layout(_ALL_ROWS, "NULL", tiles=False)
    if version != SCHEMA_VERSION:
        raise StorageError(f"{p}: audit schema version {version} is not supported")
    return Layout(_inline_from(meta, p), "nodes", tiles=tiles)


def _ro_uri(p: Path) -> str:
    return p.absolute().as_uri() + "?mode=ro"


def _connect_readonly(p: Path) -> tuple[sqlite3.Connection, Layout]:
    """``mode=ro``; in a directory this process cannot write and with no ``-wal``: immutable.

    Raises:
        StorageError: not a dta audit log, or an unknown schema version.
        sqlite3.Error: the database failed.
    """
    uri = _ro_uri(p)
    for attempt in (0, 1):
        conn = sqlite3.connect(
            uri, uri=True, timeout=120.0, isolation_level=None, check_same_thread=False
        )
        try:
            return conn, _inspect(conn, p)._replace(read_uri=uri)
        except sqlite3.Error as exc:
            conn.close()
            # SQLite reads a WAL database through its -shm, which it must be able to create
            # next to it. Where it cannot and no -wal exists, no writer can be connected
            # (a writer's connection keeps its -wal), so the file alone is the whole log.
            name = getattr(exc, "sqlite_errorname", "")
            if attempt or name != "SQLITE_READONLY_DIRECTORY" or Path(f"{p}-wal").exists():
                raise
            uri += "&immutable=1"
        except BaseException:
            conn.close()
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def damage_of(exc: sqlite3.Error) -> str | None:
    """What a SQLite error says about damage to the file (``SQLITE_CORRUPT*``, ``SQLITE_NOTADB``).

    None for every other error (locked, I/O, permission): those are failures to read, not
    findings about the file (ADR 0110).
    """
    name = str(getattr(exc, "sqlite_errorname", ""))
    if name.startswith("SQLITE_CORRUPT") or name == "SQLITE_NOTADB":
        return f"database file is damaged: {exc}"
    return None


def _open_error(p: Path, exc: sqlite3.Error) -> Error:
    damage = damage_of(exc)
    if damage is not None:
        return TamperError(f"{p}: {damage}", kind="damaged")
    return StorageError(f"{p}: cannot open SQLite audit log: {exc}")


def connect(
    p: Path, *, durability: str, create: bool, readonly: bool
) -> tuple[sqlite3.Connection, Layout]:
    """Open the database at ``p`` (autocommit connection usable from any thread).

    Raises:
        TamperError: SQLite finds the file damaged (kind ``damaged``: a finding, exit 1).
        StorageError: missing database without ``create`` (always when ``readonly``), wrong
            schema, or other SQLite errors.
    """
    if not p.exists() and (readonly or not create):
        raise StorageError(f"{p}: no such audit log (create it with 'dta audit init')")
    if readonly:
        try:
            return _connect_readonly(p)
        except sqlite3.Error as exc:
            raise _open_error(p, exc) from exc
    try:
        conn = sqlite3.connect(p, timeout=120.0, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise _open_error(p, exc) from exc
    try:
        layout = _setup(conn, p, durability)
    except sqlite3.Error as exc:
        conn.close()
        raise _open_error(p, exc) from exc
    except BaseException:
        conn.close()
        raise
    return conn, layout
