"""Helpers of the PostgreSQL store: URL handling without leaking passwords, node sources.

Rules this module enforces:

* A store URL is ``postgresql://`` or ``postgres://``; the dta-only query parameter
  ``schema=<name>`` (default ``dta_audit``, a lowercase identifier, at most once) names the
  PostgreSQL schema of the log and is removed before the URL goes to libpq.
* :func:`redact_url` is the only form of a URL that may be logged or put into a message: a
  password in the userinfo or in a ``password=`` parameter becomes ``***``.
* Proof generation asks a :class:`Recorder` which subtrees a computation needs (they depend only
  on the sizes), fetches them in one query, and answers from :class:`Fetched`.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any, Final

from dta.audit import merkle
from dta.audit.stores import _pg_schema
from dta.errors import ConfigError, StorageError

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "DEFAULT_SCHEMA",
    "Fetched",
    "Peaks",
    "Recorder",
    "copy_batch",
    "first_line",
    "insert_batch",
    "redact_url",
    "split_url",
    "stage_batch",
]

_ZERO: Final = bytes(32)
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
        (
            parts.scheme,
            netloc,
            parts.path,
            urllib.parse.urlencode(query, safe="*", quote_via=urllib.parse.quote),
            "",
        )
    )


def split_url(url: str) -> tuple[str, str]:
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
    rest = urllib.parse.urlencode(
        [(k, v) for k, v in query if k != "schema"], quote_via=urllib.parse.quote
    )
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, rest, "")), schema


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Peaks:
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


class Recorder:
    """NodeSource that records which subtrees a computation asks for (answers dummies)."""

    def __init__(self) -> None:
        self.wanted: list[tuple[int, int]] = []

    def perfect(self, level: int, index: int) -> bytes:
        self.wanted.append((level, index))
        return _ZERO


class Fetched:
    """NodeSource answering from a prefetched dictionary."""

    def __init__(self, nodes: dict[tuple[int, int], bytes]) -> None:
        self._nodes = nodes

    def perfect(self, level: int, index: int) -> bytes:
        try:
            return self._nodes[(level, index)]
        except KeyError:
            raise StorageError(f"subtree hash (level {level}, index {index}) missing") from None


def stage_batch(
    size: int, peaks: bytes, lines: list[bytes]
) -> tuple[list[bytes], list[tuple[int, int, bytes]], tuple[int, bytes, bytes, bytes]]:
    """Leaf hashes, completed subtree hashes and the new head row for ``lines`` at ``size``.

    Raises:
        StorageError: a line contains a newline.
    """
    builder = merkle.RootBuilder.resume(size, Peaks(size, peaks))
    leaves: list[bytes] = []
    nodes: list[tuple[int, int, bytes]] = []
    for line in lines:
        if b"\n" in line:
            raise StorageError("a record line contains a newline")
        leaf = merkle.leaf_hash(line)
        leaves.append(leaf)
        nodes.extend((n.level, n.index, n.hash) for n in builder.append(leaf)[1:])
    new_peaks = b"".join(node.hash for node in builder.peaks())
    return leaves, nodes, (builder.size, leaves[-1], new_peaks, builder.root())


Queries = tuple[Any, Any]


def copy_batch(
    conn: psycopg.Connection[tuple[Any, ...]],
    queries: Queries,
    *,
    size: int,
    lines: list[bytes],
    leaves: list[bytes],
    nodes: list[tuple[int, int, bytes]],
) -> None:
    """Large batches: binary COPY of records and subtree hashes (not inside a pipeline).

    Several times faster than array parameters for thousands of rows.

    Raises:
        psycopg.Error: the database refused the rows.
    """
    with conn.cursor().copy(queries[0]) as copy:
        copy.set_types(["int8", "bytea", "bytea"])
        for k, (line, leaf) in enumerate(zip(lines, leaves, strict=True)):
            copy.write_row((size + k, line, leaf))
    if nodes:
        with conn.cursor().copy(queries[1]) as copy:
            copy.set_types(["int2", "int8", "bytea"])
            for node in nodes:
                copy.write_row(node)


def insert_batch(
    conn: psycopg.Connection[tuple[Any, ...]],
    queries: Queries,
    *,
    size: int,
    lines: list[bytes],
    leaves: list[bytes],
    nodes: list[tuple[int, int, bytes]],
) -> None:
    """Small batches: INSERT ... unnest(arrays), queued in the caller's pipeline.

    Raises:
        psycopg.Error: the database refused the rows.
    """
    conn.execute(queries[0], (list(range(size, size + len(lines))), lines, leaves))
    if nodes:
        levels, idxs, hashes = zip(*nodes, strict=True)
        conn.execute(queries[1], (list(levels), list(idxs), list(hashes)))
