"""JSONL file store: one canonical record per line, the default store and the exchange format.

Rules this module enforces (what the store knows the log holds, and how it learns it from the
files, is :mod:`._jsonl_view`):

* The log file holds only record lines, each ``canonical_bytes(record) + b"\\n"``; it is opened
  ``O_APPEND`` and every append happens under an exclusive ``flock`` on the log file, after
  re-reading the tail, so processes sharing the file never fork the chain or reuse an index.
* A rebuildable sidecar (:mod:`._sidecar`) gives O(1) access to any record offset and subtree
  hash; it is checked against the log on open and whenever another process changed the file.
* A log with a damaged tail (see :mod:`._jsonl_view`: *torn* or *corrupt*) refuses appends: a
  torn tail until :meth:`JSONLStore.repair` moves it aside into ``<log>.torn-<time>-<offset>``
  (fsynced, then the log is cut), corruption always (repair refuses; verify the log and restore
  it from a partner's copy). Nothing is ever deleted.
* Durability (see :mod:`dta.audit.stores`): ``always`` fdatasyncs the log before each append
  returns (and fsyncs the file and directory on create); ``batch`` writes under the lock and
  fdatasyncs on ``flush()``/``close()`` or after the group-commit bounds; ``none`` never syncs.
  The sidecar is never synced (it is rebuilt when stale).
* Sidecar entries of this process's appends are written in groups (ADR 0059): at most
  :data:`SIDECAR_LAG` records behind the log, and before any read that needs them (lines,
  proofs, fsck, repair) or ``close()``. They are written under the lock only if the sidecar
  still ends exactly where this process last saw it; otherwise they are dropped and the log is
  re-indexed from its bytes (catch-up). Once another process was seen appending, every append
  writes its entries before the lock is released, so concurrent appenders do not re-parse each
  other's records.
* Read-only (``readonly=True``, ADR 0105): the log is opened ``O_RDONLY`` and only ever read
  under a *shared* ``flock`` (appenders hold it exclusively, so a reader never sees half an
  append and never blocks another reader); the sidecar is a
  :class:`._sidecar_readonly.ReadOnlySidecar` (files read when consistent, never created or
  written; the rest indexed in memory). Nothing under the log's directory is created, written,
  cut or repaired; ``append`` and ``repair`` raise :class:`StorageError`, and ``fsck`` reports
  a stale sidecar without rebuilding it.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dta.audit._merkle import inclusion_proof
from dta.audit.stores import BATCH_MAX_DELAY, BATCH_MAX_RECORDS, Builder, check_durability
from dta.audit.stores._jsonl_files import move_aside, open_log
from dta.audit.stores._jsonl_read import open_readonly, read_lines, sidecar_matches
from dta.audit.stores._jsonl_view import CHUNK, LogView
from dta.audit.stores._sidecar import _write_all
from dta.errors import ConfigError, StorageError

__all__ = ["SIDECAR_LAG", "JSONLStore"]

#: Most records this process appends before it writes their sidecar entries (one write per file).
SIDECAR_LAG = 256
_sha256 = hashlib.sha256


class JSONLStore(LogView):
    """Append-only JSONL log with a subtree-hash sidecar (see module rules)."""

    def __init__(self, path: Path, fd: int, durability: str, readonly: bool = False) -> None:
        """Use :meth:`open`."""
        super().__init__(path, fd, readonly)
        self._durability = durability
        self._pending = 0
        self._pending_since = 0.0

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        durability: str,
        create: bool,
        readonly: bool = False,
    ) -> JSONLStore:
        """Open (or create) the JSONL log at ``path`` and check its sidecar and tail.

        Args:
            path: The log file.
            durability: ``always``, ``batch`` or ``none``.
            create: Create an empty log if there is none.
            readonly: Only read (see the module rules); excludes ``create``.

        Raises:
            StorageError: missing log without ``create``, or the file cannot be opened.
            ConfigError: unknown durability mode, or ``create`` with ``readonly``.
        """
        check_durability(durability)
        p = Path(path)
        if readonly and create:
            raise ConfigError(f"{p}: a log opened read-only cannot be created")
        fd = open_readonly(p) if readonly else open_log(p, durability=durability, create=create)
        store = None
        try:
            store = cls(p, fd, durability, readonly)
            with store._locked():
                store._refresh()
        except BaseException:
            if store is not None:
                store._sidecar.close()
            os.close(fd)
            raise
        return store

    # -- properties -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The log's path."""
        return str(self._path)

    @property
    def path(self) -> str:
        """The log file's path (the parallel verifier reads the raw file)."""
        return str(self._path)

    @property
    def durability(self) -> str:
        """The durability mode."""
        return self._durability

    @property
    def readonly(self) -> bool:
        """True if the store was opened read-only."""
        return self._readonly

    def _refuse(self, what: str) -> None:
        if self._readonly:
            raise StorageError(f"{self._path}: opened read-only: refusing to {what}")

    # -- Store API --------------------------------------------------------------------------

    def size(self) -> int:
        """Number of committed records.

        Raises:
            StorageError: the log cannot be read.
        """
        with self._locked():
            self._refresh()
            return self._n

    def append(self, build: Builder) -> tuple[int, list[bytes]]:
        """Append ``build(n, prev)`` as records ``n, ...`` (see :class:`dta.audit.stores.Store`).

        Raises:
            StorageError: read-only, torn or corrupt tail, or a write or sync failed.
        """
        self._refuse("append")
        with self._locked():
            if not self._known or os.fstat(self._fd).st_size != self._end:
                self._refresh()
            if self._damage is not None:
                d = self._damage
                hint = "run 'dta audit repair'" if d["kind"] == "torn" else "verify the log"
                raise StorageError(
                    f"{self._path}: {d['kind']} tail at index {d['index']} "
                    f"(offset {d['offset']}, {d['bytes']} bytes): refusing to append; {hint}"
                )
            n = self._n
            lines = build(n, self._last)
            if not lines:
                return n, []
            if len(lines) == 1:
                line = lines[0]
                data = line + b"\n"
                if data.find(b"\n") != len(line):
                    raise StorageError("a record line contains a newline")
                ends = [self._end + len(data)]
            else:
                ends = []
                end = self._end
                for line in lines:
                    if b"\n" in line:
                        raise StorageError("a record line contains a newline")
                    end += len(line) + 1
                    ends.append(end)
                data = b"\n".join(lines) + b"\n"
            self._known = False
            try:
                written = os.write(self._fd, data)
                if written != len(data):  # rare (signals, nearly full disk): write the rest
                    _write_all(self._fd, data[written:])
                if self._durability == "always":
                    os.fdatasync(self._fd)
            except OSError as exc:
                raise StorageError(f"{self._path}: append failed: {exc.strerror}") from exc
            # The records are committed in the log (the source of truth); from here on only
            # the in-memory view and the sidecar queue (a cache) are updated.
            leaves = [_sha256(b"\x00" + line).digest() for line in lines]
            self._stage(ends, leaves)
            self._known = True
            if self._contended or len(self._q.ends) >= SIDECAR_LAG:
                self._drain()
            if self._durability == "batch":
                now = time.monotonic()
                if not self._pending:
                    self._pending_since = now
                self._pending += len(lines)
                if (
                    self._pending >= BATCH_MAX_RECORDS
                    or now - self._pending_since >= BATCH_MAX_DELAY
                ):
                    self._sync()
            return n, leaves

    def _sync(self) -> None:
        try:
            os.fdatasync(self._fd)
        except OSError as exc:
            raise StorageError(f"{self._path}: fdatasync failed: {exc.strerror}") from exc
        self._pending = 0

    def flush(self) -> None:
        """fdatasync the log if appends are pending (``batch`` group commit).

        Raises:
            StorageError: the sync failed.
        """
        with self._lock.mutex:
            if self._pending and not self._closed:
                self._sync()

    def close(self) -> None:
        """Flush, write queued sidecar entries and close (idempotent).

        Raises:
            StorageError: the final sync failed (the store is closed all the same).
        """
        with self._lock.mutex:
            if self._closed:
                return
            try:
                if len(self._q):
                    try:
                        with self._locked():
                            self._view()
                    except StorageError:
                        pass  # only the cache lags: the next open re-indexes from the log
                self.flush()
            finally:
                self._closed = True
                self._sidecar.close()
                os.close(self._fd)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof (``index < size <= size()``; lower levels from a tile)."""
        if len(self._q) or not self._known:
            with self._locked():
                self._view()
        if self._readonly or not 0 <= index < size:
            return inclusion_proof(index, size, self)
        return self._sidecar.inclusion_path(index, size)

    def perfect(self, level: int, index: int) -> bytes:
        """Stored subtree hash from the sidecar (one ``pread``).

        Raises:
            StorageError: not stored.
        """
        if len(self._q) or not self._known:  # latest appends not in the sidecar yet
            with self._locked():
                self._view()
        return self._sidecar.node(level, index)

    def lines(self, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """Stream the file's lines from record ``start`` (raw bytes, damaged tail included).

        Raises:
            StorageError: ``start`` is beyond the indexed records.
        """
        with self._locked():
            self._view()
            if start and start > self._n:
                raise StorageError(f"{self._path}: no record {start}")
            offset = self._sidecar.offset(start - 1) if start else 0
            # A clean log is read up to its committed end (a concurrent append may be half
            # written past it); a damaged one to the end of the file, so verify sees the damage.
            limit = self._end if self._damage is None else os.fstat(self._fd).st_size
        return self._read_lines(offset, None if stop is None else max(stop - start, 0), limit)

    def _read_lines(self, offset: int, count: int | None, limit: int) -> Iterator[bytes]:
        """Lines starting before ``limit`` (at most ``count``), read in blocks of ``CHUNK``."""
        return read_lines(self._path, offset, count, limit, CHUNK)

    def line(self, index: int) -> bytes:
        """The stored line of record ``index``.

        Raises:
            StorageError: no such record.
        """
        with self._locked():
            self._view()
            if not 0 <= index < self._n:
                raise StorageError(f"{self._path}: no record {index} (size {self._n})")
            start = self._sidecar.offset(index - 1) if index else 0
            stop = self._sidecar.offset(index)
            return os.pread(self._fd, stop - start - 1, start)

    def fsck(self) -> dict[str, Any]:
        """Check the tail and every sidecar entry against the log; rebuild a stale sidecar.

        Returns:
            The report described in :meth:`dta.audit.stores.Store.fsck`.
        """
        with self._locked():
            self._view()
            self._known = False
            self._refresh()
            problems: list[str] = []
            rebuilt: list[str] = []
            if self._damage is not None:
                d = self._damage
                problems.append(f"{d['kind']} tail at index {d['index']}: {d['reason']}")
            lines = self._read_lines(0, self._n, self._end)
            if not sidecar_matches(lines, self._sidecar):
                rebuilt.append("sidecar (in memory: read-only)" if self._readonly else "sidecar")
                self._sidecar.truncate(0)
                self._known = False
                self._end = 0
                self._refresh()
            damage = self._damage
            return {
                "store": "jsonl",
                "url": self.url,
                "size": self._n,
                "ok": not problems,
                "torn": None
                if damage is None or damage["kind"] != "torn"
                else {"offset": damage["offset"], "bytes": damage["bytes"]},
                "problems": problems,
                "rebuilt": rebuilt,
            }

    def repair(self) -> dict[str, Any]:
        """Move a torn tail aside into ``<log>.torn-<time>-<offset>`` and cut the log there.

        Raises:
            StorageError: read-only, the damage is corruption, not a torn tail, or the move failed.
        """
        self._refuse("repair")
        with self._locked():
            self._view()
            self._known = False
            self._refresh()
            d = self._damage
            if d is None:
                return {"repaired": False, "moved_to": None, "bytes": 0, "size": self._n}
            if d["kind"] != "torn":
                raise StorageError(
                    f"{self._path}: damage at index {d['index']} is not a torn tail "
                    f"({d['reason']}); refusing to repair — verify the log"
                )
            aside, moved = move_aside(self._path, self._fd, d["offset"])
            self._known = False
            self._refresh()
            return {"repaired": True, "moved_to": str(aside), "bytes": moved, "size": self._n}
