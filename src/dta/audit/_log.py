"""AuditLog: append events as hash-chained records, prove them, checkpoint and verify the log.

Rules this module enforces:

* An event becomes a record (see :mod:`dta.audit._record`) with the index and ``prev`` the store
  hands out under its exclusive lock, so the chain never forks; ``append`` returns
  ``(index, leaf_hash)`` only once the store made the record durable under its mode.
* ``append_many`` appends all events in one atomic store write (all or none) and one sync.
* Proofs and roots come from the store's subtree hashes (O(log n) reads, or the store's own
  ``root`` / ``inclusion_proof`` / ``consistency_proof`` when it has them, e.g. to batch a
  database round trip); sizes and indices are checked against the committed size first
  (:class:`dta.errors.ProofError`).
* ``verify`` never uses stored hashes: it streams the stored lines through
  :func:`dta.audit._verify.verify_lines` (large JSONL files first go through the parallel fast
  path of :mod:`dta.audit._verify_parallel`, which only ever confirms a clean log).
* A log opened with ``readonly=True`` never writes (ADR 0105): the store opens read-only, and
  ``append``, ``append_many`` and ``repair`` raise :class:`dta.errors.StorageError` whatever
  the store.
* A torn tail (bytes after the last complete record, never acknowledged) is not a record:
  ``size``, ``records`` and proofs cover the complete records only, and ``verify`` reports it
  as a ``malformed`` fault at the index it would have had, even when its bytes would parse as
  a record (only the newline that ends a line commits it) — the same index ``fsck`` and the
  store's ``damage`` name.
* The log is a context manager; leaving it flushes (group commit) and closes the store.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

from dta._json import loads
from dta.audit._checkpoint import Checkpoint, sign_checkpoint
from dta.audit._merkle import consistency_proof, inclusion_proof, root
from dta.audit._note import Note
from dta.audit._proofbundle import make_proof_bundle
from dta.audit._record import MAX_LINE, prepare_record
from dta.audit._verify import Fault, VerifyReport, verify_lines
from dta.audit._verify_parallel import PARALLEL_MIN_BYTES, verify_file_parallel
from dta.audit.stores import Store, open_store
from dta.errors import ProofError, SignatureError, StorageError
from dta.keys import Signer

__all__ = ["AuditLog"]

_sha256 = hashlib.sha256


class AuditLog:
    """A tamper-evident, Merkle-provable audit log over a :class:`dta.audit.stores.Store`."""

    def __init__(self, store: Store, *, readonly: bool = False) -> None:
        """Wrap an open store (see :meth:`open`); ``readonly`` refuses every write."""
        self._store = store
        self._readonly = readonly or bool(getattr(store, "readonly", False))

    @classmethod
    def open(
        cls,
        path_or_url: str | os.PathLike[str],
        *,
        durability: str = "batch",
        create: bool = False,
        readonly: bool = False,
    ) -> AuditLog:
        """Open an audit log.

        Args:
            path_or_url: JSONL path or ``file:``/``sqlite:``/``postgresql://`` URL.
            durability: ``always``, ``batch`` (default) or ``none``.
            create: Create an empty log when there is none.
            readonly: Only read: nothing is created or written (not even the JSONL sidecar),
                appends and repairs are refused. Excludes ``create``.

        Returns:
            The open log.

        Raises:
            ConfigError: unknown URL scheme or durability mode, or ``create`` with ``readonly``.
            StorageError: the log is missing (without ``create``) or cannot be opened.
        """
        url = os.fspath(path_or_url)
        store = open_store(url, durability=durability, create=create, readonly=readonly)
        return cls(store, readonly=readonly)

    # -- context --------------------------------------------------------------------------

    def __enter__(self) -> AuditLog:
        """Enter: the log itself."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Flush and close."""
        self.close()

    @property
    def store(self) -> Store:
        """The underlying store."""
        return self._store

    @property
    def url(self) -> str:
        """Where the log lives."""
        return self._store.url

    @property
    def readonly(self) -> bool:
        """True if the log was opened read-only (writes are refused)."""
        return self._readonly

    def _refuse(self, what: str) -> None:
        if self._readonly:
            raise StorageError(f"{self.url}: opened read-only: refusing to {what}")

    @property
    def size(self) -> int:
        """Number of committed records (including other processes' appends)."""
        return self._store.size()

    # -- appending --------------------------------------------------------------------------

    def append(self, event: Mapping[str, Any], *, now: datetime | None = None) -> tuple[int, bytes]:
        """Append one event.

        Args:
            event: ``actor``, ``action``, ``subject``; optional ``agreement``, ``details``,
                ``time`` (RFC 3339 UTC ``Z``; default ``now``).
            now: The time to stamp when the event has none (default: the clock).

        Returns:
            ``(index, leaf_hash)`` of the durable record.

        Raises:
            SchemaError: the event is malformed or its record is over 65,535 bytes.
            StorageError: read-only, or the store refused or failed (torn tail, disk error, ...).
        """
        self._refuse("append")
        prepared = prepare_record(event, now=now)  # checked before the lock is taken

        def build(n: int, prev: bytes) -> Sequence[bytes]:
            return [prepared.line(n, prev)]  # the store hashes the line it writes

        index, leaves = self._store.append(build)
        return index, leaves[0]

    def append_many(
        self, events: Iterable[Mapping[str, Any]], *, now: datetime | None = None
    ) -> list[tuple[int, bytes]]:
        """Append several events atomically (one write, one sync).

        Returns:
            ``(index, leaf_hash)`` per event, in order.

        Raises:
            SchemaError: an event is malformed (nothing is appended).
            StorageError: read-only, or the store refused or failed.
        """
        self._refuse("append")
        items = list(events)
        if not items:
            return []
        # Check everything before taking the lock; only index and prev are set under it.
        prepared = [prepare_record(event, now=now) for event in items]

        def build(n: int, prev: bytes) -> Sequence[bytes]:
            out = [prepared[0].line(n, prev)]
            for offset in range(1, len(prepared)):  # the store hashes every line it writes
                prev = _sha256(b"\x00" + out[-1]).digest()
                out.append(prepared[offset].line(n + offset, prev))
            return out

        start, leaves = self._store.append(build)
        return [(start + k, leaf) for k, leaf in enumerate(leaves)]

    def flush(self) -> None:
        """Make every append durable (``batch`` group commit).

        Raises:
            StorageError: the sync failed.
        """
        self._store.flush()

    def close(self) -> None:
        """Flush and close the store (idempotent)."""
        self._store.close()

    # -- reading --------------------------------------------------------------------------

    def records(self, start: int = 0, stop: int | None = None) -> Iterator[dict[str, Any]]:
        """Parsed records from ``start`` to ``stop`` (exclusive, at most the committed size).

        A torn or corrupt tail is not listed (``verify`` names it).

        Raises:
            StorageError: the store cannot be read.
            JSONError: a stored line is not strict JSON (verify the log).
        """
        size = self._store.size()
        stop = size if stop is None else min(stop, size)
        for line in self._store.lines(start, max(start, stop)):  # start > size: no record
            yield loads(line, max_size=MAX_LINE)

    def line(self, index: int) -> bytes:
        """The stored canonical line of record ``index`` (no newline).

        Raises:
            StorageError: no such record.
        """
        return self._store.line(index)

    # -- Merkle ---------------------------------------------------------------------------

    def _size_arg(self, size: int | None, what: str) -> int:
        current = self._store.size()
        if size is None:
            return current
        if type(size) is not int or not 0 <= size <= current:
            raise ProofError(f"{what} {size!r} is not within the log size {current}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """Merkle root of the first ``size`` records (default: all).

        Raises:
            ProofError: ``size`` exceeds the log.
            StorageError: a stored subtree hash is missing.
        """
        n = self._size_arg(size, "tree size")
        fast = getattr(self._store, "root", None)
        return bytes(fast(n)) if callable(fast) else root(n, self._store)

    def prove_inclusion(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 inclusion proof of record ``index`` in the tree of ``size`` records.

        Raises:
            ProofError: ``index`` not below ``size`` or ``size`` beyond the log.
            StorageError: a stored subtree hash is missing.
        """
        n = self._size_arg(size, "tree size")
        if type(index) is not int or not 0 <= index < n:
            raise ProofError(f"index {index!r} is not within tree size {n}")
        fast = getattr(self._store, "inclusion_proof", None)
        if callable(fast):
            return list(fast(index, n))
        return inclusion_proof(index, n, self._store)

    def prove_consistency(self, old: int, new: int | None = None) -> list[bytes]:
        """RFC 9162 consistency proof from ``old`` records to ``new`` (default: all).

        Raises:
            ProofError: sizes out of range (see :mod:`dta.audit.merkle`).
            StorageError: a stored subtree hash is missing.
        """
        n = self._size_arg(new, "new size")
        if type(old) is not int or not 0 <= old <= n:
            raise ProofError(f"old size {old!r} is not within new size {n}")
        fast = getattr(self._store, "consistency_proof", None)
        if callable(fast):
            return list(fast(old, n))
        return consistency_proof(old, n, self._store)

    def checkpoint(
        self,
        signer: Signer,
        origin: str,
        *,
        size: int | None = None,
        extensions: Sequence[str] = (),
    ) -> str:
        """Sign a C2SP checkpoint of the log at ``size`` records (default: all).

        Returns:
            The signed note text.

        Raises:
            ProofError: bad origin, size or extension lines.
            SignatureError: the key cannot sign notes (Ed25519 only).
            KeyMaterialError: the signer is not Ed25519.
        """
        n = self._size_arg(size, "checkpoint size")
        cp = Checkpoint(origin, n, self.root(n), tuple(extensions))
        return sign_checkpoint(cp, signer)

    def proof_bundle(self, index: int, checkpoint_note: str) -> str:
        """A ``c2sp.org/tlog-proof@v1`` bundle for record ``index`` under a signed checkpoint.

        The checkpoint's root is checked against this log before the bundle is made.

        Raises:
            ProofError: malformed checkpoint, index outside it, or its root is not this log's.
        """
        try:
            cp = Checkpoint.from_text(Note.from_text(checkpoint_note).text)
        except SignatureError as exc:  # a malformed note (signatures are not checked here)
            raise ProofError(f"checkpoint: {exc}") from exc
        if self.root(cp.size) != cp.root:
            raise ProofError(f"checkpoint root at size {cp.size} is not this log's root")
        return make_proof_bundle(index, self.prove_inclusion(index, cp.size), checkpoint_note)

    # -- verification and maintenance --------------------------------------------------------

    def verify(self, trusted: Iterable[Any] = (), *, workers: int | None = None) -> VerifyReport:
        """Stream every stored line and recompute the chain and the tree.

        Args:
            trusted: Trusted checkpoints (``Checkpoint`` objects or ``(size, root)``).
            workers: Worker processes for a JSONL file: None = all CPUs for files of 64 MiB
                and more, 1 = sequential. Any anomaly re-runs the sequential verifier, so the
                report never depends on this.

        Returns:
            The report (first bad index and kind, or ok with the root).

        Raises:
            StorageError: the store cannot be read.
            TamperError: a trusted checkpoint is malformed.
        """
        cps = list(trusted)
        path = getattr(self._store, "path", None)
        lines = self._store.lines()  # the store's view (size, tail) is current from here
        damage = getattr(self._store, "damage", None)
        if isinstance(damage, dict) and damage.get("kind") == "torn":
            return _verify_before_torn(lines, cps, damage)
        if isinstance(path, str) and workers != 1 and (os.cpu_count() or 1) > 1:
            try:
                big = os.path.getsize(path) >= PARALLEL_MIN_BYTES
            except OSError:
                big = False
            if big or (workers is not None and workers > 1):
                report = verify_file_parallel(path, cps, workers=workers)
                if report is not None:
                    return report
        return verify_lines(lines, cps)

    def fsck(self) -> dict[str, Any]:
        """The store's consistency report (see :meth:`dta.audit.stores.Store.fsck`)."""
        return self._store.fsck()

    def repair(self) -> dict[str, Any]:
        """Move a torn tail aside so appends can resume (see the store's ``repair``).

        Raises:
            StorageError: read-only, or the damage is not a torn tail.
        """
        self._refuse("repair")
        return self._store.repair()


def _verify_before_torn(
    lines: Iterator[bytes], cps: list[Any], damage: dict[str, Any]
) -> VerifyReport:
    """Verify the lines before a torn tail (at byte ``damage["offset"]``), then name the tail.

    The lines are recomputed as always (the store's damage only says where its unacknowledged
    bytes begin); a fault before the tail is reported first.
    """
    offset = damage["offset"]
    count = 0

    def before() -> Iterator[bytes]:
        nonlocal count
        pos = 0
        for line in lines:
            if pos >= offset:
                return
            pos += len(line) + 1
            count += 1
            yield line

    report = verify_lines(before(), cps)
    fault = report.fault
    if fault is not None and not (fault.kind == "truncated" and fault.index == count):
        return report
    message = (
        f"torn tail: {damage['bytes']} bytes after the last complete record "
        f"({damage.get('reason')}); 'dta audit repair' moves them aside"
    )
    return VerifyReport(False, count, None, Fault(count, "malformed", message), report.checkpoints)
