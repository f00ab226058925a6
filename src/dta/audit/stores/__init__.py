"""Audit-log stores: where record lines, leaf hashes and subtree hashes live.

Rules this module enforces (every store implements :class:`Store` and passes the one contract
suite in ``tests/audit/test_store_contract.py``):

* ``open_store(url)`` dispatch: a plain path or ``file:`` URL -> JSONL file store (the default and
  the exchange format), ``sqlite:`` -> SQLite store (WAL), ``postgresql://`` / ``postgres://`` ->
  ``dta.audit.stores._postgres.PostgresStore`` (imported lazily; needs the ``postgres`` extra).
  Anything else raises :class:`dta.errors.ConfigError`.
* Durability modes (:data:`DURABILITY_MODES`): ``always`` — every append is on stable storage
  before it returns; ``batch`` — an append returns once it is committed and visible to every other
  process (it survives a crash of the process), and is on stable storage after ``flush()`` /
  ``close()``, or at the latest after :data:`BATCH_MAX_RECORDS` records or
  :data:`BATCH_MAX_DELAY` seconds (group commit; docs/adr/0052); ``none`` — the OS decides.
* ``append`` runs under an exclusive cross-process lock or transaction that also re-reads the
  tail, so concurrent appenders never fork the chain or reuse an index.
* Stored hashes (leaf hashes, subtree hashes, sidecars) serve proofs only; verifiers never trust
  them and recompute from the lines.
* Optional accelerators: a store may also define ``root(size)``, ``inclusion_proof(index, size)``
  and ``consistency_proof(old, new)`` (same results as :mod:`dta.audit.merkle` over ``perfect``,
  e.g. fetched in one database round trip); :class:`dta.audit.AuditLog` uses them when present,
  after checking sizes against ``size()``.
* ``open_store(url, readonly=True)`` opens a log only to read it (ADR 0105): nothing is
  created or written (JSONL: the log ``O_RDONLY``, a shared lock, the sidecar read only when it
  is consistent, else indexed in memory; SQLite: ``SQLiteStore.open(..., readonly=True)``);
  ``append`` and ``repair`` raise :class:`dta.errors.StorageError`. ``readonly`` excludes
  ``create``. A PostgreSQL log is read through its server (no local files), so the flag only
  makes :class:`dta.audit.AuditLog` refuse writes there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from dta.errors import ConfigError

__all__ = [
    "BATCH_MAX_DELAY",
    "BATCH_MAX_RECORDS",
    "DURABILITY_MODES",
    "Builder",
    "Store",
    "check_durability",
    "open_store",
]

DURABILITY_MODES = ("always", "batch", "none")
BATCH_MAX_RECORDS = 4096
BATCH_MAX_DELAY = 0.2

#: ``build(next_index, prev_leaf_hash) -> lines``: called by ``Store.append``; must depend on its
#: arguments only (a store may call it more than once, see :meth:`Store.append`).
Builder = Callable[[int, bytes], Sequence[bytes]]


def check_durability(mode: object) -> str:
    """Return ``mode`` if it is a durability mode.

    Raises:
        ConfigError: not one of ``always``, ``batch``, ``none``.
    """
    if mode in DURABILITY_MODES:
        assert isinstance(mode, str)
        return mode
    raise ConfigError(f"durability must be one of {', '.join(DURABILITY_MODES)}, not {mode!r}")


@runtime_checkable
class Store(Protocol):
    """The storage contract of an audit log (also a :class:`dta.audit.merkle.NodeSource`).

    Index ``i`` is the ``i``-th committed record, 0-based, gap-free. ``lines`` returns exactly the
    stored bytes; the store never rewrites or deletes a committed line (only ``repair`` moves a
    torn, never-acknowledged tail aside into a file and reports it).
    """

    @property
    def url(self) -> str:
        """Where the log lives (path or URL, without credentials)."""
        ...

    @property
    def durability(self) -> str:
        """The durability mode the store was opened with."""
        ...

    def size(self) -> int:
        """Number of committed records, as visible now to every process.

        Raises:
            StorageError: the store cannot be read.
        """
        ...

    def append(self, build: Builder) -> tuple[int, list[bytes]]:
        """Append the lines ``build(n, prev)`` returns, atomically, as records ``n, n+1, ...``.

        Under an exclusive cross-process lock/transaction the store reads its current size ``n``
        and the leaf hash ``prev`` of record ``n - 1`` (32 zero bytes when ``n == 0``), calls
        ``build`` (which may raise; then nothing is written), writes the lines, their leaf hashes
        ``SHA-256(0x00 || line)`` and every perfect subtree hash they complete, and makes them
        durable per :attr:`durability` before returning. A store that caches its tail may call
        ``build`` on the cached ``(n, prev)`` before it holds the lock, provided the write fails
        (nothing written) unless ``n`` is still the current size under the lock; it then calls
        ``build`` again on the tail read under the lock (docs/adr/0058, 0096). Only lines built
        for the committed ``(n, prev)`` are ever stored.

        Returns:
            ``(n, leaf_hashes)``.

        Raises:
            StorageError: read-only, torn/corrupt tail (repair first), lock or disk failure.
        """
        ...

    def flush(self) -> None:
        """Make every append made through this store durable (``batch`` group commit).

        Raises:
            StorageError: the sync failed.
        """
        ...

    def close(self) -> None:
        """Flush and release every resource (idempotent)."""
        ...

    def perfect(self, level: int, index: int) -> bytes:
        """Stored hash of the perfect subtree of ``2**level`` leaves at ``index * 2**level``.

        Raises:
            StorageError: the node is not (yet) stored.
        """
        ...

    def lines(self, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """Stream the stored lines from ``start`` (newline removed), in index order.

        For a file store this is the raw file, including lines after a corrupt one and a final
        fragment without newline; it never consults stored hashes.

        Raises:
            StorageError: the store cannot be read.
        """
        ...

    def line(self, index: int) -> bytes:
        """The stored line of record ``index``.

        Raises:
            StorageError: no such record.
        """
        ...

    def fsck(self) -> dict[str, Any]:
        """Check the store's own consistency (torn tail, stored hashes vs lines, indexes).

        Returns:
            ``{"store", "url", "size", "ok": bool, "torn": {"offset", "bytes"} | None,
            "problems": [str, ...], "rebuilt": [str, ...]}`` (stale hash caches are rebuilt).
        """
        ...

    def repair(self) -> dict[str, Any]:
        """Move a torn tail aside into a new file (never delete it) so appends can resume.

        Returns:
            ``{"repaired": bool, "moved_to": path | None, "bytes": int, "size": int}``.

        Raises:
            StorageError: the damage is not a torn tail (refuses; verify the log instead).
        """
        ...


def open_store(
    url: str, *, durability: str = "batch", create: bool = False, readonly: bool = False
) -> Store:
    """Open the store named by ``url``.

    Args:
        url: Path, ``file:`` URL, ``sqlite:`` URL or ``postgresql://`` URL.
        durability: ``always``, ``batch`` or ``none``.
        create: Create an empty log if there is none.
        readonly: Only read the log, never write anything (see the module rules).

    Returns:
        The open store.

    Raises:
        ConfigError: unknown URL scheme or durability mode, or ``create`` with ``readonly``.
        StorageError: the log does not exist (and ``create`` is false) or cannot be opened.
    """
    check_durability(durability)
    if readonly and create:
        raise ConfigError(f"{url}: a log opened read-only cannot be created")
    text = str(url)
    if text.startswith(("postgresql://", "postgres://")):
        from dta.audit.stores._postgres import PostgresStore

        store: Store = PostgresStore.open(text, durability=durability, create=create)
        return store
    if text.startswith("sqlite:"):
        from dta.audit.stores._sqlite import SQLiteStore

        path = _strip(text, "sqlite:")
        if readonly:
            return SQLiteStore.open(path, durability=durability, create=False, readonly=True)
        return SQLiteStore.open(path, durability=durability, create=create)
    if text.startswith("file:"):
        text = _strip(text, "file:")
    elif ":" in text.split("/", 1)[0] and len(text.split(":", 1)[0]) > 1:
        raise ConfigError(f"unknown audit log URL scheme in {url!r} (file:, sqlite:, postgresql:)")
    from dta.audit.stores._jsonl import JSONLStore

    return JSONLStore.open(text, durability=durability, create=create, readonly=readonly)


def _strip(url: str, scheme: str) -> str:
    rest = url[len(scheme) :]
    if rest.startswith("//"):
        rest = rest[2:]
        if not rest.startswith("/"):  # file://host/path: only the local host is supported
            host, _, path = rest.partition("/")
            if host not in ("", "localhost"):
                raise ConfigError(f"{scheme} URL names a remote host: {url!r}")
            rest = "/" + path
    if not rest:
        raise ConfigError(f"{scheme} URL without a path: {url!r}")
    return rest
