"""SQLite store specifics: inline subtree hashes, schema-1 migration, cached tail (ADR 0058)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from store_kinds import event

from dta._cli.main import run
from dta.audit import AuditLog
from dta.audit.merkle import MemoryTree, RootBuilder, leaf_hash
from dta.audit.stores._sqlite import SQLiteStore
from dta.errors import ProofError, StorageError, TamperError

# The schema-1 layout exactly as the previous release created it (ADR 0054).
_V1 = (
    "CREATE TABLE dta_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE dta_records (idx INTEGER PRIMARY KEY, line BLOB NOT NULL, leaf BLOB NOT NULL)",
    "CREATE TABLE dta_nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,"
    " PRIMARY KEY (level, idx)) WITHOUT ROWID",
    *(
        f"CREATE TRIGGER {t}_no_{op.lower()} BEFORE {op} ON {t}"
        " BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"
        for t in ("dta_records", "dta_nodes")
        for op in ("UPDATE", "DELETE")
    ),
    "INSERT INTO dta_meta VALUES ('schema', '1'), ('type', 'dta.audit-log')",
)


def _lines(tmp_path: Path, n: int) -> list[bytes]:
    """``n`` valid, chained record lines (made by a scratch log)."""
    with AuditLog.open(f"sqlite:{tmp_path / 'scratch.db'}", create=True) as log:
        log.append_many([event(i) for i in range(n)])
        return list(log.store.lines())


def _write_v1(path: Path, lines: list[bytes]) -> None:
    """A schema-1 database holding ``lines`` (leaf column and dta_nodes as v1 wrote them)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for statement in _V1:
        conn.execute(statement)
    rb = RootBuilder()
    for i, line in enumerate(lines):
        nodes = rb.append(leaf_hash(line))
        leaf = nodes[0].hash
        conn.execute("INSERT INTO dta_records VALUES (?, ?, ?)", (i, line, leaf))
        conn.executemany(
            "INSERT INTO dta_nodes VALUES (?, ?, ?)",
            [(nd.level, nd.index, nd.hash) for nd in nodes if nd.level],
        )
    conn.close()


def _check_all_proofs(store: SQLiteStore, leaves: list[bytes]) -> None:
    """Roots, inclusion and consistency proofs equal the in-memory tree's, every size."""
    tree = MemoryTree(leaves)
    for size in range(len(leaves) + 1):
        assert store.root(size) == tree.root(size)
        for index in range(size):
            assert store.inclusion_proof(index, size) == tree.inclusion_proof(index, size)
        for old in range(1, size + 1):
            assert store.consistency_proof(old, size) == tree.consistency_proof(old, size)


def test_sqlite_proofs_equal_memory_tree_every_index_and_size(tmp_path: Path) -> None:
    """Proofs computed from inline subtree hashes match MemoryTree for every (index, size)."""
    with AuditLog.open(f"sqlite:{tmp_path / 'log.db'}", create=True) as log:
        leaves = [leaf for _, leaf in log.append_many([event(i) for i in range(5)])]
        for i in range(5, 67):  # single appends and batches: both insert paths
            if i % 7:
                leaves.append(log.append(event(i))[1])
        leaves += [leaf for _, leaf in log.append_many([event(i) for i in range(67, 71)])]
        store = log.store
        assert isinstance(store, SQLiteStore)
        _check_all_proofs(store, leaves)


def test_sqlite_proof_arguments_out_of_range_rejected(tmp_path: Path) -> None:
    """The store's own proof methods reject bad indices and sizes like the merkle module."""
    with AuditLog.open(f"sqlite:{tmp_path / 'log.db'}", create=True) as log:
        log.append_many([event(i) for i in range(4)])
        store = log.store
        assert isinstance(store, SQLiteStore)
        for bad in ((4, 4), (-1, 3), (0, -1)):
            with pytest.raises(ProofError):
                store.inclusion_proof(*bad)
        for bad in ((0, 3), (4, 3), (-1, 2)):
            with pytest.raises(ProofError):
                store.consistency_proof(*bad)
        with pytest.raises(ProofError):
            store.root(-1)
        with pytest.raises(StorageError):
            store.perfect(1, 2)  # leaves 4..5 do not exist yet
        with pytest.raises(StorageError):
            store.perfect(-1, 0)


def test_sqlite_schema1_log_migrates_on_open_and_keeps_its_proofs(tmp_path: Path) -> None:
    """A v1 database opens as v2 in place; old subtrees stay in dta_nodes, proofs still match."""
    lines = _lines(tmp_path, 37)
    path = tmp_path / "v1.db"
    _write_v1(path, lines)
    leaves = [leaf_hash(line) for line in lines]
    with AuditLog.open(f"sqlite:{path}") as log:
        assert log.size == 37
        assert log.verify().ok
        leaves += [log.append(event(100 + i))[1] for i in range(20)]
        leaves += [leaf for _, leaf in log.append_many([event(200 + i) for i in range(9)])]
        store = log.store
        assert isinstance(store, SQLiteStore)
        _check_all_proofs(store, leaves)
        assert log.fsck()["ok"]
        assert log.verify().ok
    conn = sqlite3.connect(path)
    meta = dict(conn.execute("SELECT key, value FROM dta_meta").fetchall())
    assert (meta["schema"], meta["inline_from"]) == ("2", "37")
    (frozen,) = conn.execute("SELECT count(*) FROM dta_nodes").fetchone()
    assert frozen == 37 - (37).bit_count()  # v1 stored one node per completed subtree
    conn.close()


def test_sqlite_migrated_log_refuses_old_writers_subtree_rows(tmp_path: Path) -> None:
    """After migration an old writer's INSERT into dta_nodes aborts its whole append."""
    path = tmp_path / "v1.db"
    _write_v1(path, _lines(tmp_path, 3))
    AuditLog.open(f"sqlite:{path}").close()
    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(sqlite3.IntegrityError, match="frozen"):
        conn.execute("INSERT INTO dta_nodes VALUES (1, 1, ?)", (bytes(32),))
    conn.close()


def test_sqlite_unknown_schema_version_refused(tmp_path: Path) -> None:
    """A database of a newer schema version is refused, not migrated or appended to."""
    path = tmp_path / "log.db"
    AuditLog.open(f"sqlite:{path}", create=True).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE dta_meta SET value = '9' WHERE key = 'schema'")
    conn.close()
    with pytest.raises(StorageError, match="version 9"):
        AuditLog.open(f"sqlite:{path}")


def test_sqlite_foreign_tables_without_meta_refused(tmp_path: Path) -> None:
    """A database with a dta_records table but no dta_meta is not taken for an audit log."""
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE dta_records (idx INTEGER PRIMARY KEY, x TEXT)")
    conn.close()
    with pytest.raises(StorageError, match="not a dta audit log"):
        AuditLog.open(f"sqlite:{path}")


def test_sqlite_fsck_flags_tampered_inline_subtree_but_verify_recomputes(tmp_path: Path) -> None:
    """A changed stored subtree hash fails fsck; verify never reads it and still passes."""
    path = tmp_path / "log.db"
    with AuditLog.open(f"sqlite:{path}", create=True) as log:
        log.append_many([event(i) for i in range(8)])
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER dta_records_no_update")
    conn.execute("UPDATE dta_records SET nodes = ? WHERE idx = 3", (bytes(64),))
    conn.close()
    with AuditLog.open(f"sqlite:{path}") as log:
        report = log.fsck()
        assert not report["ok"]
        assert "record 3" in report["problems"][0]
        assert log.verify().ok


def test_sqlite_fsck_reports_a_damaged_page_as_a_problem_not_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A b-tree page SQLite cannot read (here: dta_meta's index) is an fsck finding.

    The CLI then exits 1 with the finding, like any other fsck problem, instead of failing to
    run (exit 2); the records themselves still read and verify.
    """
    path = tmp_path / "log.db"
    with AuditLog.open(f"sqlite:{path}", create=True) as log:
        log.append_many([event(i) for i in range(40)])
    conn = sqlite3.connect(path)
    (page,) = conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_dta_meta_1'"
    ).fetchone()
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    with path.open("r+b") as f:  # an invalid b-tree page type
        f.seek((page - 1) * page_size)
        f.write(b"\x00")
    with AuditLog.open(f"sqlite:{path}", readonly=True) as log:
        report = log.fsck()
        assert not report["ok"]
        assert report["problems"][0].startswith("database file is damaged")
        assert report["size"] == 40
        assert log.verify().ok
    assert run(["audit", "fsck", f"sqlite:{path}"]) == 1
    assert "database file is damaged" in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["header", "truncated", "meta-page"])
def test_sqlite_file_damaged_before_open_is_an_fsck_finding_and_a_verify_fault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    """Damage SQLite meets while opening is a TamperError (exit 1), and fsck reports it.

    A garbage file header (SQLITE_NOTADB), a file cut in half and a broken dta_meta page all
    fail before the store exists; fsck --format json still prints its report with the finding.
    """
    path = tmp_path / "log.db"
    with AuditLog.open(f"sqlite:{path}", create=True) as log:
        log.append_many([event(i) for i in range(200)])
    data = bytearray(path.read_bytes())
    if damage == "header":
        data[:16] = b"not SQLite here!"
    elif damage == "truncated":
        del data[len(data) // 2 :]
    else:
        data[4096] = 0  # page 2 (dta_meta): an invalid b-tree page type
    path.write_bytes(bytes(data))
    with pytest.raises(TamperError, match="database file is damaged") as caught:
        AuditLog.open(f"sqlite:{path}", readonly=True)
    assert caught.value.kind == "damaged"
    assert run(["audit", "fsck", f"sqlite:{path}", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["ok"]
    assert report["problems"][0].startswith("database file is damaged")
    assert run(["audit", "verify", f"sqlite:{path}"]) == 1
    assert "database file is damaged" in capsys.readouterr().err


def test_sqlite_cached_tail_notices_other_writers_batches(tmp_path: Path) -> None:
    """A handle whose cached tail went stale appends after the other handle's records."""
    url = f"sqlite:{tmp_path / 'log.db'}"
    leaves: list[bytes] = []
    with AuditLog.open(url, create=True) as a, AuditLog.open(url) as b:
        for round_ in range(6):
            first, second = (a, b) if round_ % 2 else (b, a)
            done = first.append_many([event(10 * round_ + k) for k in range(round_ + 1)])
            assert [i for i, _ in done] == list(range(len(leaves), len(leaves) + round_ + 1))
            leaves += [leaf for _, leaf in done]
            index, leaf = second.append(event(10 * round_ + 9))
            assert index == len(leaves)
            leaves.append(leaf)
        assert a.root() == b.root() == MemoryTree(leaves).root()
        assert a.verify().ok
        assert a.fsck()["ok"]
