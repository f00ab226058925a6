"""Versioned schema of the PostgreSQL audit store, and the migrator that applies it.

Rules this module enforces:

* Every log lives in its own PostgreSQL schema (default ``dta_audit``). Its version is recorded in
  ``<schema>.schema_version`` (one row per applied migration, with time and description).
* Migrations are numbered from 1, applied in order, all pending ones in ONE transaction under a
  transaction-scoped advisory lock keyed on the schema name, so two processes opening a new log at
  once cannot both create it; a failed migration leaves the schema exactly as it was.
* Migrating is idempotent: an up-to-date schema is detected with read-only queries first, so a
  least-privilege application role (no CREATE right) can open a log its owner role created.
* A schema newer than this code knows is refused (``StorageError``) — never used or downgraded.
* The database itself enforces append-only storage: triggers reject UPDATE, DELETE and TRUNCATE of
  records and subtree hashes, reject insert statements that leave a gap (one check per
  statement, over its transition table), and allow the head row only to grow
  to a size whose last record it names. CHECK constraints bound every column (index >= 0, hashes
  32 bytes, record lines 1..65,535 bytes without a newline, leaf = SHA-256(0x00 || line)).
  None of this is trusted by verification, which recomputes from the stored lines.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Final

from dta.errors import ConfigError, StorageError

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "check_schema_name",
    "current_version",
    "fsck_problems",
    "migrate",
]

_log = logging.getLogger("dta.audit.postgres")
_SCHEMA_RE: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# Each migration: (version, description, SQL with {s} standing for the quoted schema name).
_V1: Final = r"""
CREATE TABLE {s}.head (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  size bigint NOT NULL CHECK (size >= 0),
  last_leaf bytea NOT NULL CHECK (octet_length(last_leaf) = 32),
  peaks bytea NOT NULL CHECK (octet_length(peaks) % 32 = 0),
  root bytea NOT NULL CHECK (octet_length(root) = 32),
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO {s}.head (size, last_leaf, peaks, root)
  VALUES (0, '\x0000000000000000000000000000000000000000000000000000000000000000', '',
          sha256(''::bytea));
CREATE TABLE {s}.records (
  idx bigint PRIMARY KEY CHECK (idx >= 0),
  line bytea NOT NULL CONSTRAINT records_line_is_one_line
    CHECK (octet_length(line) BETWEEN 1 AND 65535 AND position('\x0a'::bytea IN line) = 0),
  leaf bytea NOT NULL CONSTRAINT records_leaf_is_hash_of_line
    CHECK (leaf = sha256('\x00'::bytea || line)),
  stored_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {s}.nodes (
  level smallint NOT NULL CHECK (level BETWEEN 1 AND 62),
  idx bigint NOT NULL CHECK (idx >= 0),
  hash bytea NOT NULL CHECK (octet_length(hash) = 32),
  PRIMARY KEY (level, idx)
);
COMMENT ON TABLE {s}.records IS
  'dta audit log: one canonical JSON record per row; append-only (triggers); see dta ADR 0080';
COMMENT ON TABLE {s}.nodes IS
  'RFC 9162 perfect subtree hashes (level >= 1) for proofs; never trusted by verification';
COMMENT ON TABLE {s}.head IS 'size, last leaf hash, compact-range peaks and root of the log';

CREATE FUNCTION {s}.reject_change() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  RAISE EXCEPTION 'dta audit log table %.% is append-only: % rejected',
    TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP USING ERRCODE = 'integrity_constraint_violation';
END $f$;
CREATE FUNCTION {s}.check_records_contiguous() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE lo bigint; hi bigint; n bigint;
BEGIN
  SELECT min(idx), max(idx), count(*) INTO lo, hi, n FROM new_rows;
  IF n > 0 AND (hi - lo + 1 <> n OR (lo > 0 AND NOT EXISTS (
      SELECT 1 FROM {s}.records WHERE idx = lo - 1))) THEN
    RAISE EXCEPTION 'dta audit log %: records %..% would leave a gap', TG_TABLE_SCHEMA, lo, hi
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END $f$;
CREATE FUNCTION {s}.check_head_update() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  IF NEW.size < OLD.size THEN
    RAISE EXCEPTION 'dta audit log %: head may not shrink (% -> %)',
      TG_TABLE_SCHEMA, OLD.size, NEW.size USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF NEW.size > 0 AND NOT EXISTS (
      SELECT 1 FROM {s}.records WHERE idx = NEW.size - 1 AND leaf = NEW.last_leaf) THEN
    RAISE EXCEPTION 'dta audit log %: head names no stored record %',
      TG_TABLE_SCHEMA, NEW.size - 1 USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $f$;
CREATE TRIGGER records_append_only BEFORE UPDATE OR DELETE ON {s}.records
  FOR EACH ROW EXECUTE FUNCTION {s}.reject_change();
CREATE TRIGGER records_no_truncate BEFORE TRUNCATE ON {s}.records
  FOR EACH STATEMENT EXECUTE FUNCTION {s}.reject_change();
CREATE TRIGGER records_no_gap AFTER INSERT ON {s}.records
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION {s}.check_records_contiguous();
CREATE TRIGGER nodes_append_only BEFORE UPDATE OR DELETE ON {s}.nodes
  FOR EACH ROW EXECUTE FUNCTION {s}.reject_change();
CREATE TRIGGER nodes_no_truncate BEFORE TRUNCATE ON {s}.nodes
  FOR EACH STATEMENT EXECUTE FUNCTION {s}.reject_change();
CREATE TRIGGER head_grows_only BEFORE UPDATE ON {s}.head
  FOR EACH ROW EXECUTE FUNCTION {s}.check_head_update();
CREATE TRIGGER head_no_delete BEFORE DELETE OR INSERT ON {s}.head
  FOR EACH ROW EXECUTE FUNCTION {s}.reject_change();
CREATE TRIGGER head_no_truncate BEFORE TRUNCATE ON {s}.head
  FOR EACH STATEMENT EXECUTE FUNCTION {s}.reject_change();
CREATE VIEW {s}.records_json AS
  SELECT idx, convert_from(line, 'UTF8')::jsonb AS record, encode(leaf, 'hex') AS leaf_hash,
         stored_at
  FROM {s}.records;
"""

MIGRATIONS: Final[tuple[tuple[int, str, str], ...]] = (
    (1, "records, nodes, head; append-only triggers; records_json view", _V1),
)
LATEST_VERSION: Final = MIGRATIONS[-1][0]


def check_schema_name(name: str) -> str:
    """Return ``name`` if it is a safe lowercase PostgreSQL identifier.

    Raises:
        ConfigError: the name is not ``[a-z_][a-z0-9_]{0,62}``.
    """
    if not _SCHEMA_RE.fullmatch(name):
        raise ConfigError(
            f"PostgreSQL schema name {name!r} is not a lowercase identifier "
            "([a-z_][a-z0-9_]*, at most 63 characters)"
        )
    return name


def current_version(conn: psycopg.Connection[tuple[object, ...]], schema: str) -> int | None:
    """Applied schema version of the log in ``schema`` (None: no log there yet).

    Raises:
        StorageError: the version table exists but is empty or unreadable.
    """
    row = conn.execute(
        # pg_tables is read with the statement's MVCC snapshot (to_regclass would use the
        # cached catalog snapshot and could miss a schema created while we waited for the lock)
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables "
        "WHERE schemaname = %s AND tablename = 'schema_version')",
        (schema,),
    ).fetchone()
    if not row or not row[0]:
        return None
    from psycopg import sql

    got = conn.execute(
        sql.SQL("SELECT max(version) FROM {}.schema_version").format(sql.Identifier(schema))
    ).fetchone()
    if not got or not isinstance(got[0], int):
        raise StorageError(f"PostgreSQL schema {schema}: schema_version table is empty")
    return got[0]


def migrate(conn: psycopg.Connection[tuple[object, ...]], schema: str, *, create: bool) -> int:
    """Bring the log in ``schema`` to :data:`LATEST_VERSION` (creating it only if ``create``).

    Args:
        conn: An autocommit connection.
        schema: The log's PostgreSQL schema (already checked with :func:`check_schema_name`).
        create: Create the log when the schema holds none.

    Returns:
        The schema version now in force.

    Raises:
        StorageError: no log and not ``create``; the schema is newer than this code; a migration
            failed (rolled back as a whole).
    """
    import psycopg
    from psycopg import sql

    try:  # fast path, one round trip: an existing, up-to-date log
        row = conn.execute(
            sql.SQL("SELECT max(version) FROM {}.schema_version").format(sql.Identifier(schema))
        ).fetchone()
        version = row[0] if row and isinstance(row[0], int) else None
    except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
        version = current_version(conn, schema)
    if version == LATEST_VERSION:
        return version
    if version is None and not create:
        raise StorageError(f"no dta audit log in PostgreSQL schema {schema} (open with create)")
    if version is not None and version > LATEST_VERSION:
        raise StorageError(
            f"PostgreSQL schema {schema} is at version {version}, newer than this dta supports "
            f"({LATEST_VERSION}); upgrade dta"
        )
    ident = sql.Identifier(schema)
    try:
        with conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext('dta_audit_migrate:' || %s))", (schema,)
            )
            version = current_version(conn, schema)  # re-read under the lock
            if version is None:
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
                conn.execute(
                    sql.SQL(
                        "CREATE TABLE {}.schema_version (version integer PRIMARY KEY "
                        "CHECK (version > 0), description text NOT NULL, "
                        "applied_at timestamptz NOT NULL DEFAULT now())"
                    ).format(ident)
                )
                version = 0
            for number, description, text in MIGRATIONS:
                if number <= version:
                    continue
                conn.execute(sql.SQL(text).format(s=ident))
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {}.schema_version (version, description) VALUES (%s, %s)"
                    ).format(ident),
                    (number, description),
                )
                _log.info("dta audit store: schema %s migrated to version %d", schema, number)
    except psycopg.Error as exc:
        raise StorageError(
            f"PostgreSQL schema {schema}: migration failed: {type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        ) from exc
    return LATEST_VERSION


_TRIGGERS: Final = frozenset(
    (
        "records_append_only",
        "records_no_truncate",
        "records_no_gap",
        "nodes_append_only",
        "nodes_no_truncate",
        "head_grows_only",
        "head_no_delete",
        "head_no_truncate",
    )
)

_FSCK_NODES: Final = """
SELECT n.level, n.idx FROM {s}.nodes n
  LEFT JOIN {s}.records l ON l.idx = 2 * n.idx
  LEFT JOIN {s}.records r ON r.idx = 2 * n.idx + 1
WHERE n.level = 1
  AND (l.leaf IS NULL OR r.leaf IS NULL OR n.hash <> sha256('\\x01'::bytea || l.leaf || r.leaf))
UNION ALL
SELECT n.level, n.idx FROM {s}.nodes n
  LEFT JOIN {s}.nodes l ON l.level = n.level - 1 AND l.idx = 2 * n.idx
  LEFT JOIN {s}.nodes r ON r.level = n.level - 1 AND r.idx = 2 * n.idx + 1
WHERE n.level > 1
  AND (l.hash IS NULL OR r.hash IS NULL OR n.hash <> sha256('\\x01'::bytea || l.hash || r.hash))
ORDER BY 1, 2 LIMIT 5
"""


def fsck_problems(conn: psycopg.Connection[tuple[Any, ...]], schema: str) -> list[str]:
    """Server-side consistency checks of one log's tables (read-only, one snapshot).

    Checks: every append-only trigger present and enabled; records gap-free from 0 and as many
    as the head says; the head's last leaf; every stored leaf = SHA-256(0x00 || line); every
    stored subtree hash = SHA-256(0x01 || left || right) of the level below, and exactly
    ``size >> level`` of them per level. Verification does not depend on any of this.

    Returns:
        One line per problem found (empty: consistent).

    Raises:
        psycopg.Error: a query failed.
    """
    from psycopg import sql

    s = sql.Identifier(schema)
    problems: list[str] = []
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        rows = conn.execute(
            "SELECT t.tgname, t.tgenabled FROM pg_catalog.pg_trigger t "
            "JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND NOT t.tgisinternal",
            (schema,),
        ).fetchall()
        state = {str(name): str(enabled) for name, enabled in rows}
        problems += [f"append-only trigger {t} is missing" for t in sorted(_TRIGGERS - set(state))]
        problems += [f"trigger {t} is disabled" for t, e in sorted(state.items()) if e == "D"]
        head = conn.execute(sql.SQL("SELECT size, last_leaf FROM {}.head").format(s)).fetchone()
        size = int(head[0]) if head else 0
        if head is None:
            problems.append("head row is missing")
        count, low, high = conn.execute(
            sql.SQL("SELECT count(*), min(idx), max(idx) FROM {}.records").format(s)
        ).fetchone() or (0, None, None)
        if count != size or (count and (low != 0 or high != size - 1)):
            problems.append(
                f"head says {size} records but {count} are stored (indices {low}..{high})"
            )
        if head is not None and size:
            last = conn.execute(
                sql.SQL("SELECT leaf FROM {}.records WHERE idx = %s").format(s), (size - 1,)
            ).fetchone()
            if last is None or bytes(last[0]) != bytes(head[1]):
                problems.append(f"head's last leaf hash is not that of record {size - 1}")
        bad = conn.execute(
            sql.SQL(
                "SELECT idx FROM {}.records WHERE leaf <> sha256('\\x00'::bytea || line) "
                "ORDER BY idx LIMIT 5"
            ).format(s)
        ).fetchall()
        problems += [f"stored leaf hash of record {r[0]} does not match its line" for r in bad]
        per_level = dict(
            conn.execute(
                sql.SQL("SELECT level, count(*) FROM {}.nodes GROUP BY level").format(s)
            ).fetchall()
        )
        for level in range(1, max(size.bit_length(), max(per_level, default=0) + 1)):
            want, got = size >> level, int(per_level.get(level, 0))
            if want != got:
                problems.append(f"level {level}: {got} subtree hashes stored, {want} expected")
        bad = conn.execute(sql.SQL(_FSCK_NODES).format(s=s)).fetchall()
        problems += [f"subtree hash (level {r[0]}, index {r[1]}) does not match" for r in bad]
    return problems
