"""PostgreSQL store: schema versioning, database-enforced append-only rules, secrets, proofs."""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid

import pytest

from dta.audit import merkle
from dta.errors import ConfigError, StorageError

if os.environ.get("CI", "").lower() in ("", "0", "false", "no"):
    psycopg = pytest.importorskip("psycopg")
else:  # under CI a missing psycopg is a failure, never a skip
    import psycopg

from dta.audit.stores._pg_schema import LATEST_VERSION
from dta.audit.stores._postgres import PostgresStore, redact_url


def _builder(n: int, size_log: list[int] | None = None):  # type: ignore[no-untyped-def]
    def build(size: int, last: bytes) -> list[bytes]:
        if size_log is not None:
            size_log.append(size)
        out = []
        for i in range(n):
            out.append(b'{"index":%d,"prev":"%s"}' % (size + i, last.hex().encode()))
            last = merkle.leaf_hash(out[-1])
        return out

    return build


def _indices(store: PostgresStore) -> list[int]:
    return [json.loads(line)["index"] for line in store.lines()]


def _schema(url: str) -> str:
    return url.rsplit("schema=", 1)[1]


def _sql(url: str, query: str) -> None:
    with psycopg.connect(url.rsplit("?", 1)[0], autocommit=True) as conn:
        conn.execute(query)


def test_pg_schema_created_with_version_row(pg_url: str) -> None:
    """Creating a log records its schema version; reopening does not migrate again."""
    with PostgresStore(pg_url, create=True) as store:
        assert store.version == LATEST_VERSION
    with PostgresStore(pg_url) as store:
        rows = store._conn.execute(
            f"SELECT version, description FROM {store.schema}.schema_version"
        ).fetchall()
    assert [r[0] for r in rows] == list(range(1, LATEST_VERSION + 1))
    assert all(r[1] for r in rows)


def test_pg_open_missing_log_without_create_refused(pg_url: str) -> None:
    """Opening a URL whose schema holds no log fails unless create is asked for."""
    with pytest.raises(StorageError, match="no dta audit log"):
        PostgresStore(pg_url)


def test_pg_newer_schema_version_refused(pg_url: str) -> None:
    """A schema migrated by a newer dta is refused, never used or downgraded."""
    PostgresStore(pg_url, create=True).close()
    _sql(
        pg_url,
        f"INSERT INTO {_schema(pg_url)}.schema_version (version, description) "
        f"VALUES ({LATEST_VERSION + 1}, 'from the future')",
    )
    with pytest.raises(StorageError, match="newer than this dta supports"):
        PostgresStore(pg_url)


def test_pg_concurrent_create_makes_one_schema(pg_url: str) -> None:
    """Several processes creating the same new log at once migrate it exactly once."""
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            PostgresStore(pg_url, create=True).close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with PostgresStore(pg_url) as store:
        count = store._conn.execute(
            f"SELECT count(*) FROM {store.schema}.schema_version"
        ).fetchone()
        assert count == (LATEST_VERSION,)
        assert store.size() == 0


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {s}.records SET line = 'x' WHERE idx = 1",
        "DELETE FROM {s}.records WHERE idx = 2",
        "TRUNCATE {s}.records",
        "UPDATE {s}.nodes SET hash = sha256('x') WHERE level = 1 AND idx = 0",
        "DELETE FROM {s}.nodes",
        "TRUNCATE {s}.nodes",
        "DELETE FROM {s}.head",
        "TRUNCATE {s}.head CASCADE",
        "UPDATE {s}.head SET size = 1",
        "INSERT INTO {s}.records (idx, line, leaf) "
        "VALUES (9, 'x', sha256('\\x00'::bytea || 'x'::bytea))",
        "INSERT INTO {s}.records (idx, line, leaf) "
        "VALUES (4, 'x', sha256('\\x00'::bytea || 'x'::bytea))",
        "INSERT INTO {s}.records (idx, line, leaf) VALUES (5, 'x', sha256('x'))",
        "INSERT INTO {s}.records (idx, line, leaf) "
        "VALUES (5, 'a\\x0ab', sha256('\\x00'::bytea || 'a\\x0ab'::bytea))",
    ],
    ids=[
        "update-record",
        "delete-record",
        "truncate-records",
        "update-node",
        "delete-nodes",
        "truncate-nodes",
        "delete-head",
        "truncate-head",
        "shrink-head",
        "insert-gap",
        "insert-duplicate-index",
        "insert-wrong-leaf",
        "insert-newline",
    ],
)
def test_pg_database_rejects_rewriting_the_log(pg_url: str, statement: str) -> None:
    """UPDATE/DELETE/TRUNCATE, gaps, duplicate indices and bad leaves are refused by PostgreSQL."""
    with PostgresStore(pg_url, create=True) as store:
        store.append(_builder(5))
        with pytest.raises(psycopg.Error):
            store._conn.execute(statement.format(s=store.schema))
        assert _indices(store) == [0, 1, 2, 3, 4]
        assert store.size() == 5


def test_pg_failed_batch_leaves_nothing(pg_url: str) -> None:
    """A batch the database refuses (an oversized line) is rolled back whole; the log goes on."""
    with PostgresStore(pg_url, create=True) as store:
        store.append(_builder(3))

        def bad(size: int, last: bytes) -> list[bytes]:
            return [*_builder(2)(size, last), b"x" * 65536]

        with pytest.raises(StorageError, match="append failed"):
            store.append(bad)
        assert store.size() == 3
        sizes: list[int] = []
        assert store.append(_builder(1, sizes))[0] == 3
        assert sizes == [3]
        assert _indices(store) == [0, 1, 2, 3]


def test_pg_exception_in_builder_rolls_back_and_releases_lock(pg_url: str) -> None:
    """An error raised while the head is locked aborts the transaction and frees the lock."""
    with PostgresStore(pg_url, create=True) as one, PostgresStore(pg_url) as two:

        def boom(size: int, last: bytes) -> list[bytes]:
            raise ValueError("builder failed")

        with pytest.raises(ValueError, match="builder failed"):
            one.append(boom)
        assert two.append(_builder(2))[0] == 0
        assert one.append(_builder(2))[0] == 2


def test_pg_password_never_logged_or_in_errors(
    pg_server_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The URL's password appears in no log line, no error message and no attribute."""
    secret = f"pw-{uuid.uuid4().hex}"
    url = pg_server_url.replace("dta@", f"dta:{secret}@") + f"?schema=t_{uuid.uuid4().hex[:12]}"
    caplog.set_level(logging.DEBUG)
    with PostgresStore(url, create=True) as store:
        assert secret not in store.url
        store.append(_builder(1))
    host_port = pg_server_url.split("@", 1)[1].split("/", 1)[0]
    dead = url.replace(host_port, "127.0.0.1:1")
    with pytest.raises(StorageError) as info:
        PostgresStore(dead + f"&password={secret}")
    assert secret not in str(info.value)
    assert "***" in str(info.value)
    assert secret not in caplog.text
    assert "***" in caplog.text


def test_redact_url_hides_userinfo_and_parameter_passwords() -> None:
    """Both password spellings of a libpq URL are masked."""
    assert redact_url("postgresql://u:p%40ss@h:5/db?password=x&sslmode=require") == (
        "postgresql://u:***@h:5/db?password=***&sslmode=require"
    )


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://h/db?schema=Bad-Name",
        "postgresql://h/db?schema=a&schema=b",
        "postgresql://h/db?schema=" + "a" * 64,
        "mysql://h/db",
    ],
)
def test_pg_bad_url_rejected_before_connecting(url: str) -> None:
    """Invalid schema names, repeated schemas and foreign schemes are configuration errors."""
    with pytest.raises(ConfigError):
        PostgresStore(url)


def test_pg_proofs_and_roots_match_memory_tree(pg_url: str) -> None:
    """Roots, inclusion and consistency proofs from stored subtree hashes equal the reference."""
    with PostgresStore(pg_url, create=True) as store:
        for n in (1, 2, 5, 13, 16, 30):  # odd batch sizes cross subtree boundaries
            store.append(_builder(n))
        tree = merkle.MemoryTree(merkle.leaf_hash(line) for line in store.lines())
        assert tree.size == 67
        for size in (1, 2, 3, 8, 31, 32, 33, 67):
            assert store.root(size) == tree.root(size)
            for index in range(size):
                assert store.inclusion_proof(index, size) == tree.inclusion_proof(index, size)
            for old in range(1, size):
                assert store.consistency_proof(old, size) == tree.consistency_proof(old, size)
        assert store.perfect(6, 0) == tree.perfect(6, 0)


def test_pg_head_row_tracks_root_and_last_leaf(pg_url: str) -> None:
    """The head row a DBA reads (size, root, last leaf) matches the recomputed tree."""
    with PostgresStore(pg_url, create=True) as store:
        store.append(_builder(7))
        store.append(_builder(4))
        size, root, last = store._conn.execute(
            f"SELECT size, root, last_leaf FROM {store.schema}.head"
        ).fetchone()
        tree = merkle.MemoryTree(merkle.leaf_hash(line) for line in store.lines())
        assert (size, bytes(root), bytes(last)) == (11, tree.root(), tree.leaf(10))


def test_pg_least_privilege_role_appends_but_cannot_rewrite(pg_url: str) -> None:
    """An app role with INSERT/SELECT (+ head UPDATE) appends but cannot disable triggers."""
    role = f"app_{uuid.uuid4().hex[:10]}"
    PostgresStore(pg_url, create=True).close()
    s = _schema(pg_url)
    _sql(
        pg_url,
        f"CREATE ROLE {role} LOGIN; GRANT USAGE ON SCHEMA {s} TO {role}; "
        f"GRANT SELECT, INSERT ON {s}.records, {s}.nodes TO {role}; "
        f"GRANT SELECT, UPDATE ON {s}.head TO {role}; GRANT SELECT ON {s}.schema_version TO {role}",
    )
    app_url = pg_url.replace("//dta@", f"//{role}@")
    with PostgresStore(app_url) as app:
        assert app.append(_builder(3))[0] == 0
        assert app.size() == 3
        for statement in (
            f"ALTER TABLE {s}.records DISABLE TRIGGER records_append_only",
            f"DELETE FROM {s}.records",
            f"CREATE TABLE {s}.x (i int)",
        ):
            with pytest.raises(psycopg.Error):
                app._conn.execute(statement)


def test_pg_store_satisfies_store_protocol_and_open_store_dispatch(pg_url: str) -> None:
    """open_store picks PostgresStore for postgresql:// URLs; it implements the Store protocol."""
    from dta.audit.stores import Store, open_store

    store = open_store(pg_url, durability="always", create=True)
    try:
        assert isinstance(store, PostgresStore)
        assert isinstance(store, Store)
        assert store.durability == "always"
        assert store.url == pg_url
    finally:
        store.close()
    store.close()  # idempotent


def test_pg_fsck_clean_log_reports_ok(pg_url: str) -> None:
    """A healthy log passes fsck: triggers on, head, leaves and subtree hashes consistent."""
    with PostgresStore(pg_url, create=True) as store:
        for n in (3, 9, 21):
            store.append(_builder(n))
        report = store.fsck()
    assert report["ok"], report["problems"]
    assert (report["store"], report["size"], report["torn"]) == ("postgresql", 33, None)
    with PostgresStore(pg_url) as store:
        assert store.repair() == {"repaired": False, "moved_to": None, "bytes": 0, "size": 33}


def test_pg_fsck_reports_superuser_tampering(pg_url: str) -> None:
    """fsck names a disabled trigger, a rewritten leaf, a changed subtree hash and a gap."""
    with PostgresStore(pg_url, create=True) as store:
        store.append(_builder(10))
        s = store.schema
        _sql(
            pg_url,
            f"ALTER TABLE {s}.records DISABLE TRIGGER records_append_only; "
            f"ALTER TABLE {s}.nodes DISABLE TRIGGER nodes_append_only; "
            f"ALTER TABLE {s}.records DROP CONSTRAINT records_leaf_is_hash_of_line; "
            f"UPDATE {s}.records SET line = 'forged' WHERE idx = 4; "
            f"UPDATE {s}.nodes SET hash = sha256('x') WHERE level = 2 AND idx = 1; "
            f"DELETE FROM {s}.records WHERE idx = 6",
        )
        problems = "\n".join(store.fsck()["problems"])
    assert "trigger records_append_only is disabled" in problems
    assert "trigger nodes_append_only is disabled" in problems
    assert "stored leaf hash of record 4 does not match" in problems
    assert "subtree hash (level 2, index 1) does not match" in problems
    assert "head says 10 records but 9 are stored" in problems


def test_pg_batch_durability_flushes_within_bounds(pg_url: str) -> None:
    """batch: appends commit asynchronously; flush() and close() make them durable."""
    with PostgresStore(pg_url, durability="batch", create=True) as store:
        assert store._conn.execute("SHOW synchronous_commit").fetchone() == ("off",)
        store.append(_builder(3))
        assert store._pending == 3
        store.flush()
        assert store._pending == 0
        store.append(_builder(2))
    assert store._pending == 0  # close() flushed
    with PostgresStore(pg_url, durability="always") as store:
        assert store._conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
        assert store.size() == 5


def test_pg_batch_reaching_max_records_commits_synchronously(pg_url: str) -> None:
    """A batch that reaches BATCH_MAX_RECORDS pending records is committed synchronously."""
    from dta.audit.stores import BATCH_MAX_RECORDS

    with PostgresStore(pg_url, durability="batch", create=True) as store:
        store.append(_builder(BATCH_MAX_RECORDS - 1))
        assert store._pending == BATCH_MAX_RECORDS - 1
        store.append(_builder(1))
        assert store._pending == 0


def test_pg_reconnects_after_server_drops_connection(pg_url: str) -> None:
    """A terminated backend (server restart, failover) is replaced on the next call."""
    with PostgresStore(pg_url, create=True) as store:
        store.append(_builder(2))
        pid = store._conn.info.backend_pid
        _sql(pg_url, f"SELECT pg_terminate_backend({pid})")
        assert store.size() == 2  # read retried on a fresh connection
        assert store._conn.info.backend_pid != pid
        pid = store._conn.info.backend_pid
        _sql(pg_url, f"SELECT pg_terminate_backend({pid})")
        with pytest.raises(StorageError, match="append failed"):
            store.append(_builder(1))  # the failed transaction is not retried blindly
        assert store.append(_builder(1))[0] == 2
        assert _indices(store) == [0, 1, 2]


def test_pg_libpq_parameters_pass_through_unchanged() -> None:
    """Only schema= is taken from the URL; libpq options (with spaces) reach libpq intact."""
    from dta.audit.stores._pg_support import split_url

    url = "postgresql://u@h:5/db?options=-c%20lock_timeout%3D5s&schema=audit_a&sslmode=require"
    assert split_url(url) == (
        "postgresql://u@h:5/db?options=-c%20lock_timeout%3D5s&sslmode=require",
        "audit_a",
    )


def test_pg_lost_commit_reply_resolved_by_rereading_leaves(pg_url: str) -> None:
    """After a dropped connection the store reconnects and recognises only its own batch."""
    with PostgresStore(pg_url, create=True) as store:
        start, leaves = store.append(_builder(3))
        _sql(pg_url, f"SELECT pg_terminate_backend({store._conn.info.backend_pid})")
        assert store._committed(start, leaves)  # reconnects, finds our first and last leaf
        assert not store._committed(start, [leaves[0], leaves[1], bytes(32)])
        assert not store._committed(3, leaves)  # nothing stored there
