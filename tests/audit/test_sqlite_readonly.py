"""SQLite store opened read-only (ADR 0104): reads, proves and verifies; never creates or writes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from store_kinds import event
from test_sqlite_store import _lines, _write_v1

from dta.audit import AuditLog
from dta.audit.merkle import MemoryTree, verify_inclusion
from dta.audit.stores._sqlite import SQLiteStore
from dta.errors import ConfigError, StorageError


def _snapshot(path: Path) -> tuple[bytes, bytes]:
    """Bytes of the database and of its WAL (what a write would change).

    SQLite may create an empty ``-wal`` (and ``-shm``) to read a WAL database: its own lock
    files, not content; an absent WAL and an empty one are the same here.
    """
    wal = Path(f"{path}-wal")
    return path.read_bytes(), wal.read_bytes() if wal.exists() else b""


def _make(path: Path, n: int) -> list[bytes]:
    with AuditLog.open(f"sqlite:{path}", create=True) as log:
        return [leaf for _, leaf in log.append_many([event(i) for i in range(n)])]


def test_readonly_open_of_missing_database_fails_and_creates_nothing(tmp_path: Path) -> None:
    """No file appears: a read-only open never creates the database."""
    path = tmp_path / "absent.db"
    with pytest.raises(StorageError, match="no such audit log"):
        SQLiteStore.open(path, durability="batch", create=False, readonly=True)
    assert not path.exists()
    with pytest.raises(ConfigError):
        SQLiteStore.open(path, durability="batch", create=True, readonly=True)
    assert not path.exists()


def test_readonly_open_of_empty_file_refused_without_creating_tables(tmp_path: Path) -> None:
    """An empty file is not taken for a log, and no table is created in it."""
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    with pytest.raises(StorageError, match="not a dta audit log"):
        SQLiteStore.open(path, durability="batch", create=False, readonly=True)
    assert path.read_bytes() == b""


def test_readonly_store_reads_proves_and_verifies_but_refuses_writes(tmp_path: Path) -> None:
    """Proofs equal the memory tree's; append and repair raise StorageError; bytes unchanged."""
    path = tmp_path / "log.db"
    leaves = _make(path, 45)
    before = _snapshot(path)
    store = SQLiteStore.open(path, durability="batch", create=False, readonly=True)
    try:
        assert store.readonly
        log = AuditLog(store)
        assert log.size == 45
        assert log.verify().ok
        tree = MemoryTree(leaves)
        for size in (1, 7, 32, 45):
            assert store.root(size) == tree.root(size)
            for index in range(size):
                proof = log.prove_inclusion(index, size)
                assert proof == tree.inclusion_proof(index, size)
                verify_inclusion(leaves[index], index, size, proof, tree.root(size))
        assert store.consistency_proof(7, 45) == tree.consistency_proof(7, 45)
        assert store.fsck()["ok"]
        assert list(store.lines(40)) == [store.line(i) for i in range(40, 45)]
        with pytest.raises(StorageError, match="read-only"):
            log.append(event(99))
        with pytest.raises(StorageError, match="read-only"):
            store.append(lambda n, prev: [b"{}"])
        with pytest.raises(StorageError, match="read-only"):
            store.repair()
        store.flush()
    finally:
        store.close()
    assert _snapshot(path) == before


def test_readonly_store_sees_records_appended_by_another_writer(tmp_path: Path) -> None:
    """Sizes and proofs follow a writer's later commits (upper-level copies grow with them)."""
    path = tmp_path / "log.db"
    leaves = _make(path, 300)
    store = SQLiteStore.open(path, durability="none", create=False, readonly=True)
    try:
        for index in range(0, 300, 3):  # enough proofs for levels to be copied
            store.inclusion_proof(index, 300)
        with AuditLog.open(f"sqlite:{path}") as writer:
            leaves += [leaf for _, leaf in writer.append_many([event(i) for i in range(300, 700)])]
            leaves.append(writer.append(event(700))[1])
        assert store.size() == 701
        tree = MemoryTree(leaves)
        for index in range(0, 701, 5):
            assert store.inclusion_proof(index, 701) == tree.inclusion_proof(index, 701)
            assert store.inclusion_proof(index % 300, 300) == tree.inclusion_proof(index % 300, 300)
        assert store.root(701) == tree.root(701)
    finally:
        store.close()


def test_readonly_open_reads_schema1_database_without_migrating_it(tmp_path: Path) -> None:
    """An old (schema-1) database is read as it is: proofs from dta_nodes, schema still 1."""
    lines = _lines(tmp_path, 37)
    path = tmp_path / "v1.db"
    _write_v1(path, lines)
    leaves = [hashlib.sha256(b"\x00" + line).digest() for line in lines]
    store = SQLiteStore.open(path, durability="batch", create=False, readonly=True)
    try:
        log = AuditLog(store)
        assert log.verify().ok
        assert store.fsck()["ok"]
        tree = MemoryTree(leaves)
        for _ in range(2):  # the second pass is served from copied levels
            for size in range(1, 38):
                assert store.root(size) == tree.root(size)
                for index in range(size):
                    assert store.inclusion_proof(index, size) == tree.inclusion_proof(index, size)
    finally:
        store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM dta_meta WHERE key = 'schema'").fetchone() == ("1",)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(dta_records)")]
    conn.close()
    assert "nodes" not in columns


def test_readonly_open_refuses_unknown_schema_version(tmp_path: Path) -> None:
    """A newer schema is refused read-only too (its layout is unknown)."""
    path = tmp_path / "log.db"
    _make(path, 3)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE dta_meta SET value = '9' WHERE key = 'schema'")
    conn.close()
    with pytest.raises(StorageError, match="version 9"):
        SQLiteStore.open(path, durability="batch", create=False, readonly=True)


_RO_CHILD = """
import json, sys
from dta.audit import AuditLog
from dta.audit.stores._sqlite import SQLiteStore
store = SQLiteStore.open(sys.argv[1], durability="batch", create=False, readonly=True)
log = AuditLog(store)
out = {"size": log.size, "ok": log.verify().ok, "proof": [h.hex() for h in log.prove_inclusion(3)],
       "lines": len(list(store.lines())), "uri": store._layout.read_uri}
store.close()
print(json.dumps(out))
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv"
)
def test_readonly_open_in_a_directory_the_reader_cannot_write(tmp_path: Path) -> None:
    """Another user's log in a directory they cannot write: read through immutable=1 when no
    -wal exists (no writer connected), and nothing is created; with a -wal it is refused."""
    base = Path(tempfile.mkdtemp(prefix="dta-ro-"))
    try:
        base.chmod(0o755)
        logdir = base / "logs"
        logdir.mkdir()
        path = logdir / "log.db"
        leaves = _make(path, 20)
        logdir.chmod(0o555)
        path.chmod(0o444)
        before = sorted(p.name for p in logdir.iterdir())
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        run = subprocess.run(
            [*cmd, sys.executable, "-c", _RO_CHILD, str(path)],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert run.returncode == 0, run.stderr
        got = json.loads(run.stdout)
        assert (got["size"], got["ok"], got["lines"]) == (20, True, 20)
        assert got["uri"].endswith("?mode=ro&immutable=1")
        assert [bytes.fromhex(h) for h in got["proof"]] == MemoryTree(leaves).inclusion_proof(3, 20)
        assert sorted(p.name for p in logdir.iterdir()) == before == ["log.db"]
        logdir.chmod(0o755)
        Path(f"{path}-wal").write_bytes(b"")  # as if a writer were connected
        Path(f"{path}-wal").chmod(0o444)
        logdir.chmod(0o555)
        run = subprocess.run(
            [*cmd, sys.executable, "-c", _RO_CHILD, str(path)],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert run.returncode != 0
        assert "StorageError" in run.stderr
    finally:
        for d in (base, base / "logs"):
            if d.exists():
                d.chmod(0o755)
        shutil.rmtree(base)
