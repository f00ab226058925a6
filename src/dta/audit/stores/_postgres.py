"""PostgreSQL audit-log store: many processes on many hosts append to one log.

Rules this module enforces:

* Chosen by a ``postgresql://`` (or ``postgres://``) URL. The dta-only query parameter
  ``schema=<name>`` (default ``dta_audit``) names the PostgreSQL schema holding the log and is
  removed before the rest of the URL goes to libpq, so every libpq parameter (``sslmode``,
  ``options=-c lock_timeout=5s``, ``target_session_attrs`` ...) works as a DBA expects.
* The connection string is never logged or put into an error with its password: only
  :func:`redact_url` output (password replaced by ``***``) is.
* Sequencing is safe across processes and hosts: each batch is ONE transaction that locks the
  single head row (``SELECT ... FOR UPDATE``), reads the tail (size, last leaf hash, compact-range
  peaks), builds the records for exactly that tail, inserts them and their completed subtree
  hashes, updates the head and commits. Indices come only from the locked head, so there are no
  gaps, no duplicate indices and no forks; the primary key and the insert trigger also refuse
  them in the database. A failed transaction leaves nothing behind.
* Append-only is enforced by the database (see :mod:`dta.audit.stores._pg_schema`), but nothing
  read back is trusted: verification recomputes every hash from the stored lines, and subtree
  hashes are only used to *generate* proofs, which verifiers check against recomputed roots.
* Proof generation fetches all O(log n) subtree hashes it needs in one round trip.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final

from dta.audit import merkle
from dta.audit.stores import (
    BATCH_MAX_DELAY,
    BATCH_MAX_RECORDS,
    Builder,
    _pg_schema,
    check_durability,
)
from dta.audit.stores._pg_support import (
    Fetched,
    Recorder,
    copy_batch,
    first_line,
    insert_batch,
    redact_url,
    split_url,
    stage_batch,
)
from dta.errors import StorageError

try:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
    from psycopg.pq import TransactionStatus
except ImportError as _exc:  # the optional extra is not installed
    raise StorageError("the PostgreSQL store needs psycopg: pip install 'dta[postgres]'") from _exc

__all__ = ["PostgresStore", "redact_url"]

_log = logging.getLogger("dta.audit.postgres")
_PAGE: Final = 5000
_CACHE_MAX: Final = 1 << 16
_COPY_MIN: Final = 64  # batches this large are inserted with binary COPY


class PostgresStore:
    """An audit log kept in one PostgreSQL schema (implements :class:`dta.audit.stores.Store`).

    Durability maps onto PostgreSQL's commit modes: ``always`` commits every batch with
    ``synchronous_commit`` at least ``on`` (the server's stronger setting, e.g. ``remote_apply``,
    is kept); ``batch`` commits with ``synchronous_commit=off`` (committed and visible to every
    process at once; WAL flushed by a synchronous commit at ``flush()``/``close()`` or when
    :data:`BATCH_MAX_RECORDS` records / :data:`BATCH_MAX_DELAY` seconds are pending); ``none``
    always commits asynchronously and leaves flushing to the server's WAL writer.
    """

    def __init__(self, url: str, *, durability: str = "batch", create: bool = False) -> None:
        """Connect and bring the log's schema up to date (see :meth:`open`).

        Raises:
            ConfigError: bad URL or durability mode.
            StorageError: psycopg missing, connection refused, no log (and not ``create``), or
                the schema is newer than this code.
        """
        self._durability = check_durability(durability)
        self._conninfo, self.schema = split_url(url)
        self._url = redact_url(url)
        self._mutex = threading.RLock()
        self._closed = False
        self._pending = 0
        self._pending_since = 0.0
        self._cache: dict[tuple[int, int], bytes] = {}
        self._conn: psycopg.Connection[tuple[Any, ...]] = self._connect()
        try:
            self.version = _pg_schema.migrate(self._conn, self.schema, create=create)
        except BaseException:
            self._conn.close()
            raise
        s = sql.Identifier(self.schema)
        self._q_head = sql.SQL(
            "SELECT size, last_leaf, peaks FROM {}.head WHERE singleton FOR UPDATE"
        ).format(s)
        self._q_size = sql.SQL("SELECT size FROM {}.head").format(s)
        self._q_ins = (
            sql.SQL(
                "INSERT INTO {}.records (idx, line, leaf) "
                "SELECT * FROM unnest(%s::bigint[], %s::bytea[], %s::bytea[])"
            ).format(s),
            sql.SQL(
                "INSERT INTO {}.nodes (level, idx, hash) "
                "SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[])"
            ).format(s),
        )
        self._q_copy = (
            sql.SQL("COPY {}.records (idx, line, leaf) FROM STDIN (FORMAT BINARY)").format(s),
            sql.SQL("COPY {}.nodes (level, idx, hash) FROM STDIN (FORMAT BINARY)").format(s),
        )
        self._q_update = sql.SQL(
            "UPDATE {}.head SET size = %s, last_leaf = %s, peaks = %s, root = %s, "
            "updated_at = now() WHERE singleton"
        ).format(s)
        self._q_lines = sql.SQL(
            "SELECT idx, line FROM {}.records WHERE idx >= %s AND idx < %s ORDER BY idx LIMIT %s"
        ).format(s)
        self._q_line = sql.SQL("SELECT line FROM {}.records WHERE idx = %s").format(s)
        self._q_check = sql.SQL("SELECT leaf FROM {}.records WHERE idx = %s").format(s)
        self._q_fetch = sql.SQL(
            "SELECT n.level, n.idx, n.hash FROM {0}.nodes n "
            "JOIN unnest(%s::smallint[], %s::bigint[]) AS q(level, idx) USING (level, idx) "
            "UNION ALL SELECT 0, r.idx, r.leaf FROM {0}.records r WHERE r.idx = ANY(%s::bigint[])"
        ).format(s)
        _log.info(
            "dta audit store: opened %s (schema %s, version %d, durability %s)",
            self._url, self.schema, self.version, self._durability,
        )  # fmt: skip

    @classmethod
    def open(cls, url: str, *, durability: str = "batch", create: bool = False) -> PostgresStore:
        """Open (or with ``create`` create) the log named by a ``postgresql://`` URL.

        Raises:
            ConfigError: bad URL or durability mode.
            StorageError: psycopg missing, connection refused, no log (and not ``create``), or
                the schema is newer than this code.
        """
        return cls(url, durability=durability, create=create)

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        try:
            params = conninfo_to_dict(self._conninfo)
            params.setdefault("application_name", "dta-audit")
            if self._durability != "always":  # no extra round trip: a startup option
                params["options"] = f"{params.get('options', '')} -c synchronous_commit=off"
            conn = psycopg.connect(make_conninfo("", **params), autocommit=True)
            if self._durability == "always":  # keep a stronger server setting (remote_apply)
                row = conn.execute("SHOW synchronous_commit").fetchone()
                if row is None or row[0] == "off":
                    conn.execute("SET synchronous_commit = on")
        except psycopg.Error as exc:
            raise StorageError(
                f"cannot connect to PostgreSQL {self._url}: {first_line(exc)}"
            ) from exc
        return conn

    def _ready(self) -> psycopg.Connection[tuple[Any, ...]]:
        """The connection, reconnecting once if the server dropped it (restart, failover)."""
        if self._closed:
            raise StorageError(f"PostgreSQL store {self._url} is closed")
        if self._conn.broken or self._conn.closed:
            _log.warning("dta audit store: reconnecting to %s", self._url)
            self._conn = self._connect()
        return self._conn

    def _error(self, what: str, exc: BaseException) -> StorageError:
        return StorageError(
            f"PostgreSQL {self._url} schema {self.schema}: {what}: {first_line(exc)}"
        )

    @property
    def url(self) -> str:
        """The URL with any password replaced by ``***``."""
        return self._url

    @property
    def durability(self) -> str:
        """The durability mode."""
        return self._durability

    # -- writing -----------------------------------------------------------------------------

    def append(self, build: Builder) -> tuple[int, list[bytes]]:
        """Append ``build(n, prev)`` as records ``n, ...`` in ONE transaction (see module rules).

        ``build`` runs with the head row locked, so the lines it makes (which embed their index
        and the previous leaf hash) extend exactly the committed tail.

        Returns:
            ``(n, leaf_hashes)``.

        Raises:
            StorageError: the database refused the batch or the connection failed (nothing of the
                batch is stored; a commit whose outcome was lost is resolved by re-reading).
        """
        with self._mutex:
            conn = self._ready()
            sync = False
            if self._durability == "batch" and self._pending:
                sync = time.monotonic() - self._pending_since >= BATCH_MAX_DELAY
            committing = False
            size, leaves = 0, list[bytes]()
            try:
                with conn.pipeline():  # BEGIN + lock and read the head: one round trip
                    conn.execute("BEGIN")
                    row = conn.execute(self._q_head).fetchone()
                try:
                    size, last, peaks = self._head(row)
                    lines = [bytes(line) for line in build(size, last)]
                    if not lines:
                        conn.execute("ROLLBACK")
                        return size, []
                    if self._durability == "batch" and (
                        sync or self._pending + len(lines) >= BATCH_MAX_RECORDS
                    ):
                        sync = True
                    leaves, nodes, head = stage_batch(size, peaks, lines)
                    big = len(lines) >= _COPY_MIN
                    if big:
                        copy_batch(
                            conn, self._q_copy, size=size, lines=lines, leaves=leaves, nodes=nodes
                        )
                    with conn.pipeline():  # (small) inserts + head + COMMIT: one round trip
                        if not big:
                            insert_batch(
                                conn,
                                self._q_ins,
                                size=size,
                                lines=lines,
                                leaves=leaves,
                                nodes=nodes,
                            )
                        conn.execute(self._q_update, head)
                        if sync:
                            conn.execute("SET LOCAL synchronous_commit = on")
                        committing = True
                        conn.execute("COMMIT")
                except BaseException:
                    self._rollback(conn)  # no-op when the COMMIT went through
                    raise
            except psycopg.Error as exc:
                if not (committing and conn.broken and self._committed(size, leaves)):
                    raise self._error("append failed", exc) from exc
                sync = False  # outcome recovered after a lost commit reply: flush again later
            if self._durability == "batch":
                if sync:
                    self._pending = 0
                else:
                    if not self._pending:
                        self._pending_since = time.monotonic()
                    self._pending += len(leaves)
            return size, leaves

    def _rollback(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        if not conn.broken and conn.info.transaction_status != TransactionStatus.IDLE:
            try:
                conn.execute("ROLLBACK")
            except psycopg.Error:
                _log.warning("dta audit store: rollback failed on %s", self._url)

    def _head(self, row: tuple[Any, ...] | None) -> tuple[int, bytes, bytes]:
        if row is None:
            raise StorageError(f"PostgreSQL schema {self.schema}: head row missing")
        return int(row[0]), bytes(row[1]), bytes(row[2])

    def _committed(self, size: int, leaves: list[bytes]) -> bool:
        """After a lost commit reply: reconnect and check whether our batch is the stored one."""
        try:  # _query reconnects once if the connection turns out to be dropped
            first = self._query("recheck", self._q_check, (size,))
            final = self._query("recheck", self._q_check, (size + len(leaves) - 1,))
        except StorageError:
            return False
        ok = bool(
            first and final and bytes(first[0][0]) == leaves[0] and bytes(final[0][0]) == leaves[-1]
        )
        if ok:
            _log.warning("dta audit store: commit reply lost but batch at %d is stored", size)
        return ok

    def flush(self) -> None:
        """Make every append made through this store durable (a synchronous commit flushes WAL).

        Raises:
            StorageError: the flush failed.
        """
        with self._mutex:
            if not self._pending or self._closed:
                return
            conn = self._ready()
            try:
                with conn.transaction():
                    conn.execute("SET LOCAL synchronous_commit = on")
                    conn.execute("SELECT txid_current()")  # forces a commit record to flush
            except psycopg.Error as exc:
                raise self._error("flush failed", exc) from exc
            self._pending = 0

    def close(self) -> None:
        """Flush and close the connection (idempotent)."""
        with self._mutex:
            if self._closed:
                return
            try:
                if not self._conn.broken:
                    self.flush()
            finally:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------------

    def _query(self, what: str, query: Any, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._mutex:
            for attempt in (0, 1):  # a read is retried once on a dropped connection
                conn = self._ready()
                try:
                    return conn.execute(query, params).fetchall()
                except psycopg.OperationalError as exc:
                    if attempt or not conn.broken:
                        raise self._error(what, exc) from exc
                except psycopg.Error as exc:
                    raise self._error(what, exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def size(self) -> int:
        """Number of committed records, as the head row says now.

        Raises:
            StorageError: the query failed.
        """
        rows = self._query("cannot read size", self._q_size)
        if not rows:
            raise StorageError(f"PostgreSQL schema {self.schema}: head row missing")
        return int(rows[0][0])

    def lines(self, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """Stored lines with ``start <= index < stop`` (``stop`` defaults to the size now).

        Pages by index, holding no transaction between pages. A row deleted behind the
        triggers' back is simply absent, which verification reports (the records carry their
        index and the previous leaf hash).

        Raises:
            StorageError: a query failed.
        """
        end = self.size() if stop is None else stop
        return self._pages(start, end)

    def _pages(self, pos: int, end: int) -> Iterator[bytes]:
        while pos < end:
            rows = self._query("cannot read records", self._q_lines, (pos, end, _PAGE))
            if not rows:
                return
            for _idx, line in rows:
                yield bytes(line)
            pos = int(rows[-1][0]) + 1

    def line(self, index: int) -> bytes:
        """The stored line of record ``index``.

        Raises:
            StorageError: no such record, or the query failed.
        """
        rows = self._query("cannot read record", self._q_line, (index,))
        if not rows:
            raise StorageError(f"PostgreSQL {self._url} schema {self.schema}: no record {index}")
        return bytes(rows[0][0])

    def fetch_nodes(self, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The subtree hashes ``(level, index)`` asked for, in one round trip (cached).

        Raises:
            StorageError: the query failed.
        """
        cache = self._cache
        out: dict[tuple[int, int], bytes] = {}
        levels: list[int] = []
        idxs: list[int] = []
        leaves: list[int] = []
        for key in set(wanted):
            if key in cache:
                out[key] = cache[key]
            elif key[0] == 0:
                leaves.append(key[1])
            else:
                levels.append(key[0])
                idxs.append(key[1])
        if levels or leaves:
            rows = self._query("cannot read subtree hashes", self._q_fetch, (levels, idxs, leaves))
            if len(cache) > _CACHE_MAX:
                cache.clear()
            for lv, ix, h in rows:
                out[(int(lv), int(ix))] = cache[(int(lv), int(ix))] = bytes(h)
        return out

    def perfect(self, level: int, index: int) -> bytes:
        """NodeSource: stored hash of the perfect subtree (``level``, ``index``).

        Stored subtree hashes never change once committed, so they are cached in memory.

        Raises:
            StorageError: the hash is not stored, or the query failed.
        """
        return Fetched(self.fetch_nodes([(level, index)])).perfect(level, index)

    def _prefetched(self, compute: Callable[[merkle.NodeSource], Any]) -> Any:
        recorder = Recorder()
        compute(recorder)  # the subtrees asked for depend only on the sizes, not on hashes
        return compute(Fetched(self.fetch_nodes(recorder.wanted)))

    def root(self, size: int) -> bytes:
        """Merkle root of the first ``size`` records, from stored subtree hashes.

        Raises:
            ProofError: ``size`` is invalid.
            StorageError: a needed hash is missing or the query failed.
        """
        out: bytes = self._prefetched(lambda src: merkle.root(size, src))
        return out

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of record ``index`` in the tree of ``size`` (one round trip).

        Raises:
            ProofError: ``index``/``size`` are invalid.
            StorageError: a needed hash is missing or the query failed.
        """
        out: list[bytes] = self._prefetched(lambda src: merkle.inclusion_proof(index, size, src))
        return out

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        """RFC 9162 consistency proof between sizes ``old`` and ``new`` (one round trip).

        Raises:
            ProofError: the sizes are invalid.
            StorageError: a needed hash is missing or the query failed.
        """
        out: list[bytes] = self._prefetched(lambda src: merkle.consistency_proof(old, new, src))
        return out

    # -- maintenance -------------------------------------------------------------------------

    def fsck(self) -> dict[str, Any]:
        """Check the schema's own consistency, server-side (see :func:`_pg_schema.fsck_problems`).

        Returns:
            The report described in :meth:`dta.audit.stores.Store.fsck` (nothing is rebuilt:
            stored hashes are append-only; a mismatch is a problem to investigate).
        """
        with self._mutex:
            conn = self._ready()
            try:
                problems = _pg_schema.fsck_problems(conn, self.schema)
            except psycopg.Error as exc:
                raise self._error("fsck failed", exc) from exc
        size = self.size()
        return {
            "store": "postgresql",
            "url": self._url,
            "size": size,
            "ok": not problems,
            "torn": None,
            "problems": problems,
            "rebuilt": [],
        }

    def repair(self) -> dict[str, Any]:
        """Nothing to repair: a PostgreSQL transaction never leaves a torn tail.

        Returns:
            ``{"repaired": False, "moved_to": None, "bytes": 0, "size": size}``.

        Raises:
            StorageError: the size cannot be read.
        """
        return {"repaired": False, "moved_to": None, "bytes": 0, "size": self.size()}
