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
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from dta.audit import merkle
from dta.audit.stores import _pg_schema
from dta.errors import ConfigError, StorageError

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresStore", "redact_url"]

_log = logging.getLogger("dta.audit.postgres")
_ZERO: Final = bytes(32)
_PAGE: Final = 5000
_SCHEMES: Final = ("postgresql", "postgres")
DEFAULT_SCHEMA: Final = "dta_audit"


def redact_url(url: str) -> str:
    """``url`` with any password (userinfo or ``password=`` parameter) replaced by ``***``."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparsable PostgreSQL URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{host}"
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, "***" if k.lower() == "password" else v) for k, v in query]
    return urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path, urllib.parse.urlencode(query, safe="*"), "")
    )


def _split_url(url: str) -> tuple[str, str]:
    """(libpq URL without ``schema=``, schema name).

    Raises:
        ConfigError: not a PostgreSQL URL, a repeated or invalid ``schema`` parameter.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        raise ConfigError(f"invalid PostgreSQL URL {redact_url(url)}") from exc
    if parts.scheme not in _SCHEMES:
        raise ConfigError(f"not a postgresql:// URL: {redact_url(url)}")
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    names = [v for k, v in query if k == "schema"]
    if len(names) > 1:
        raise ConfigError(f"PostgreSQL URL names more than one schema: {redact_url(url)}")
    schema = _pg_schema.check_schema_name(names[0] if names else DEFAULT_SCHEMA)
    rest = urllib.parse.urlencode([(k, v) for k, v in query if k != "schema"])
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, rest, "")), schema


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _Peaks:
    """NodeSource over the head row's compact range (only the peaks are ever asked for)."""

    def __init__(self, size: int, blob: bytes) -> None:
        self._nodes: dict[tuple[int, int], bytes] = {}
        start, count, pos = 0, size, 0
        while count:
            k = 1 << (count.bit_length() - 1)
            level = k.bit_length() - 1
            self._nodes[(level, start >> level)] = blob[pos : pos + 32]
            start, count, pos = start + k, count - k, pos + 32

    def perfect(self, level: int, index: int) -> bytes:
        return self._nodes[(level, index)]


class _Recorder:
    """NodeSource that records which subtrees a computation asks for (answers dummies)."""

    def __init__(self) -> None:
        self.wanted: list[tuple[int, int]] = []

    def perfect(self, level: int, index: int) -> bytes:
        self.wanted.append((level, index))
        return _ZERO


class _Fetched:
    """NodeSource answering from a prefetched dictionary."""

    def __init__(self, nodes: dict[tuple[int, int], bytes]) -> None:
        self._nodes = nodes

    def perfect(self, level: int, index: int) -> bytes:
        try:
            return self._nodes[(level, index)]
        except KeyError:
            raise StorageError(f"subtree hash (level {level}, index {index}) missing") from None


class PostgresStore:
    """An audit log kept in one PostgreSQL schema.

    Args:
        url: ``postgresql://user[:password]@host[:port]/db[?schema=name&libpq-params]``.
        create: Create (and version) the schema when it holds no log yet.
        synchronous: ``False`` commits with ``synchronous_commit=off`` (durability ``none``:
            a server crash may lose the last commits, never corrupt or fork the log).

    Raises:
        ConfigError: the URL is not a valid PostgreSQL URL.
        StorageError: psycopg is missing, the server refused the connection, there is no log and
            ``create`` is false, or the schema is newer than this code.
    """

    def __init__(self, url: str, *, create: bool = False, synchronous: bool = True) -> None:
        conninfo, self.schema = _split_url(url)
        self.url = redact_url(url)
        try:
            import psycopg
            from psycopg import sql
        except ImportError as exc:
            raise StorageError(
                "the PostgreSQL store needs psycopg: pip install 'dta[postgres]'"
            ) from exc
        self._psycopg = psycopg
        try:
            self._conn: psycopg.Connection[tuple[Any, ...]] = psycopg.connect(
                conninfo, autocommit=True, application_name="dta-audit"
            )
        except psycopg.Error as exc:
            raise StorageError(
                f"cannot connect to PostgreSQL {self.url}: {_first_line(exc)}"
            ) from exc
        try:
            if not synchronous:
                self._conn.execute("SET synchronous_commit = off")
            self.version = _pg_schema.migrate(self._conn, self.schema, create=create)
        except BaseException:
            self._conn.close()
            raise
        s = sql.Identifier(self.schema)
        self._q_head = sql.SQL(
            "SELECT size, last_leaf, peaks FROM {}.head WHERE singleton FOR UPDATE"
        ).format(s)
        self._q_size = sql.SQL("SELECT size FROM {}.head").format(s)
        self._q_insert = sql.SQL(
            "INSERT INTO {}.records (idx, line, leaf) "
            "SELECT * FROM unnest(%s::bigint[], %s::bytea[], %s::bytea[])"
        ).format(s)
        self._q_nodes = sql.SQL(
            "INSERT INTO {}.nodes (level, idx, hash) "
            "SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[])"
        ).format(s)
        self._q_update = sql.SQL(
            "UPDATE {}.head SET size = %s, last_leaf = %s, peaks = %s, root = %s, "
            "updated_at = now() WHERE singleton"
        ).format(s)
        self._q_lines = sql.SQL(
            "SELECT idx, line FROM {}.records WHERE idx >= %s AND idx < %s ORDER BY idx LIMIT %s"
        ).format(s)
        self._q_fetch = sql.SQL(
            "SELECT n.level, n.idx, n.hash FROM {0}.nodes n "
            "JOIN unnest(%s::smallint[], %s::bigint[]) AS q(level, idx) USING (level, idx) "
            "UNION ALL SELECT 0, r.idx, r.leaf FROM {0}.records r WHERE r.idx = ANY(%s::bigint[])"
        ).format(s)
        _log.info(
            "dta audit store: opened %s (schema %s, version %d)",
            self.url,
            self.schema,
            self.version,
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._conn.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, what: str, exc: BaseException) -> StorageError:
        return StorageError(
            f"PostgreSQL {self.url} schema {self.schema}: {what}: {_first_line(exc)}"
        )

    # -- writing -----------------------------------------------------------------------------

    def append_batch(
        self, build: Callable[[int, bytes], Sequence[bytes]]
    ) -> tuple[int, list[bytes]]:
        """Append the lines ``build(size, last_leaf)`` returns, in one transaction.

        ``build`` is called with the head row locked, so the lines it makes (which embed their
        index and the previous leaf hash) extend exactly the committed tail.

        Args:
            build: Returns the canonical record lines (no newline) for a tail of ``size``
                records whose last leaf hash is ``last_leaf`` (32 zero bytes when empty).

        Returns:
            (index of the first appended record, leaf hashes of the appended records).

        Raises:
            StorageError: the database refused the batch or the connection failed; nothing of
                the batch is stored.
        """
        psycopg = self._psycopg
        try:
            with self._conn.transaction():
                row = self._conn.execute(self._q_head).fetchone()
                if row is None:
                    raise StorageError(f"PostgreSQL schema {self.schema}: head row missing")
                size, last, peaks = int(row[0]), bytes(row[1]), bytes(row[2])
                lines = [bytes(line) for line in build(size, last)]
                if not lines:
                    return size, []
                builder = merkle.RootBuilder.resume(size, _Peaks(size, peaks))
                leaves: list[bytes] = []
                n_level: list[int] = []
                n_idx: list[int] = []
                n_hash: list[bytes] = []
                for line in lines:
                    leaf = merkle.leaf_hash(line)
                    leaves.append(leaf)
                    for node in builder.append(leaf)[1:]:
                        n_level.append(node.level)
                        n_idx.append(node.index)
                        n_hash.append(node.hash)
                self._conn.execute(
                    self._q_insert, (list(range(size, size + len(lines))), lines, leaves)
                )
                if n_hash:
                    self._conn.execute(self._q_nodes, (n_level, n_idx, n_hash))
                new_peaks = b"".join(node.hash for node in builder.peaks())
                self._conn.execute(
                    self._q_update, (builder.size, leaves[-1], new_peaks, builder.root())
                )
        except psycopg.Error as exc:
            raise self._error("append failed", exc) from exc
        return size, leaves

    # -- reading -----------------------------------------------------------------------------

    def size(self) -> int:
        """Number of committed records.

        Raises:
            StorageError: the query failed.
        """
        try:
            row = self._conn.execute(self._q_size).fetchone()
        except self._psycopg.Error as exc:
            raise self._error("cannot read size", exc) from exc
        if row is None:
            raise StorageError(f"PostgreSQL schema {self.schema}: head row missing")
        return int(row[0])

    def lines(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
        """Stored ``(index, line)`` pairs with ``start <= index < stop``, in index order.

        Pages by index (no transaction is held open between pages). A row deleted behind the
        triggers' back shows up as a missing index, which verification reports.

        Raises:
            StorageError: a query failed.
        """
        end = self.size() if stop is None else stop
        pos = start
        while pos < end:
            try:
                rows = self._conn.execute(self._q_lines, (pos, end, _PAGE)).fetchall()
            except self._psycopg.Error as exc:
                raise self._error("cannot read records", exc) from exc
            if not rows:
                return
            for idx, line in rows:
                yield int(idx), bytes(line)
            pos = int(rows[-1][0]) + 1

    def fetch_nodes(self, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The subtree hashes ``(level, index)`` asked for, in one round trip.

        Raises:
            StorageError: the query failed.
        """
        levels: list[int] = []
        idxs: list[int] = []
        leaves: list[int] = []
        for level, index in set(wanted):
            if level == 0:
                leaves.append(index)
            else:
                levels.append(level)
                idxs.append(index)
        try:
            rows = self._conn.execute(self._q_fetch, (levels, idxs, leaves)).fetchall()
        except self._psycopg.Error as exc:
            raise self._error("cannot read subtree hashes", exc) from exc
        return {(int(lv), int(ix)): bytes(h) for lv, ix, h in rows}

    def perfect(self, level: int, index: int) -> bytes:
        """NodeSource: hash of the perfect subtree (``level``, ``index``).

        Raises:
            StorageError: the hash is not stored.
        """
        return _Fetched(self.fetch_nodes([(level, index)])).perfect(level, index)

    def _prefetched(self, compute: Callable[[merkle.NodeSource], Any]) -> Any:
        recorder = _Recorder()
        compute(recorder)
        return compute(_Fetched(self.fetch_nodes(recorder.wanted)))

    def root(self, size: int) -> bytes:
        """Merkle root of the first ``size`` records (from stored subtree hashes).

        Raises:
            ProofError: ``size`` is invalid.
            StorageError: a needed hash is missing or the query failed.
        """
        out: bytes = self._prefetched(lambda src: merkle.root(size, src))
        return out

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of record ``index`` in the tree of ``size`` records.

        Raises:
            ProofError: ``index``/``size`` are invalid.
            StorageError: a needed hash is missing or the query failed.
        """
        out: list[bytes] = self._prefetched(lambda src: merkle.inclusion_proof(index, size, src))
        return out

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        """RFC 9162 consistency proof between tree sizes ``old`` and ``new``.

        Raises:
            ProofError: the sizes are invalid.
            StorageError: a needed hash is missing or the query failed.
        """
        out: list[bytes] = self._prefetched(lambda src: merkle.consistency_proof(old, new, src))
        return out
