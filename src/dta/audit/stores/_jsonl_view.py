"""What the JSONL store knows the log holds: the in-memory view, kept in step with the file.

Rules this module enforces:

* :class:`LogView` holds the store's view of the log: the number of indexed records, the end
  offset of the last one, its leaf hash and any damage after it. It is read and changed only
  under the store's lock (:meth:`LogView._locked`; exclusive for appenders, shared for a
  read-only store). Since every appender writes under the exclusive lock, a view that was
  current stays current while the file's size equals its end; on any other size, or once a
  write failed or was interrupted (the view is then marked unknown), it is refreshed from the
  files.
* On open (and whenever another process changed the file) the sidecar (:mod:`._sidecar`) is
  checked against the log: partial entries are dropped, a sidecar whose first or last leaf hash
  does not match the log's bytes is rebuilt from the log, and records the sidecar lacks are
  parsed and indexed (catch-up). Having seen another process append marks the view
  *contended*, after which the store writes sidecar entries before it unlocks.
* Catch-up checks each new line (size, strict canonical JSON, record rules, index, ``prev`` link),
  a block of lines at once through the verifier's batch check (:func:`._jsonl_read.clean_lines`)
  and line by line after any anomaly (:func:`._jsonl_read.line_problem`), reading the log in
  blocks of :data:`CHUNK` bytes. The bytes after the last valid record are a *torn tail* when
  they hold no newline (or only NUL bytes and newlines, as after a power loss); any other
  damage is *corruption*. Either is recorded in :attr:`LogView.damage`; its bytes are left as
  they are.
* Records already in the log are *staged*: the view counts them at once and their sidecar
  entries wait in a :class:`._sidecar_queue.SidecarQueue` until *drained* under the lock. A drain
  that finds the sidecar changed drops the queue and marks the view unknown, so the next
  refresh re-indexes those records from the log, the source of truth.
* Read-only (ADR 0105): the sidecar is a :class:`._sidecar_readonly.ReadOnlySidecar` and the
  lock a :class:`._jsonl_read.SharedLock`; caught-up records are indexed in memory only, and
  nothing is written.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from dta.audit._record import MAX_LINE
from dta.audit.stores._jsonl_files import FileLock
from dta.audit.stores._jsonl_read import SharedLock, clean_lines, line_problem
from dta.audit.stores._sidecar import Sidecar
from dta.audit.stores._sidecar_queue import SidecarQueue
from dta.audit.stores._sidecar_readonly import ReadOnlySidecar
from dta.errors import StorageError

__all__ = ["CHUNK", "ZERO", "LogView"]

#: Leaf hash before record 0 (the ``prev`` of the first record).
ZERO = bytes(32)
#: Bytes read per block when indexing or streaming the log.
CHUNK = 1 << 20


class LogView:
    """The store's view of its log and sidecar (see module rules); ``JSONLStore`` extends it."""

    def __init__(self, path: Path, fd: int, readonly: bool) -> None:
        """View the log open at ``fd`` (nothing is read until :meth:`_refresh`)."""
        self._path = path
        self._fd = fd
        self._readonly = readonly
        nodes = path.with_name(path.name + ".nodes")
        self._sidecar = ReadOnlySidecar(nodes, self._pread) if readonly else Sidecar(nodes)
        self._lock = SharedLock(fd, path) if readonly else FileLock(fd, path)
        self._n = 0
        self._end = 0
        self._last = ZERO
        self._known = False
        self._damage: dict[str, Any] | None = None
        self._q = SidecarQueue(self._sidecar)  # sidecar entries of appends not written yet
        self._contended = False
        self._closed = False

    def _pread(self, offset: int, size: int) -> bytes:
        return os.pread(self._fd, size, offset)

    @property
    def damage(self) -> dict[str, Any] | None:
        """``{"kind": "torn"|"corrupt", "index", "offset", "bytes", "reason"}`` or None."""
        return None if self._damage is None else dict(self._damage)

    def _locked(self) -> FileLock:
        if self._closed:
            raise StorageError(f"{self._path}: store is closed")
        return self._lock

    def _refresh(self) -> None:
        """Bring the in-memory view up to date with the file (caller holds the lock)."""
        size = os.fstat(self._fd).st_size
        if self._known and size == self._end:
            return  # nobody appended since our view: every appender writes under the lock
        if self._known:
            self._contended = True  # another process appended: write entries before unlocking
        self._known = False
        self._damage = None
        self._q.reset(0)
        n = self._sidecar.normalise()
        if n and not self._matches(n, size):
            self._sidecar.truncate(0)
            n = 0
        self._n = n
        self._q.reset(n)
        self._end = self._sidecar.offset(n - 1) if n else 0
        self._last = self._sidecar.node(0, n - 1) if n else ZERO
        if size > self._end:
            self._catch_up(size)
        self._known = True

    def _matches(self, n: int, size: int) -> bool:
        """True if the sidecar's first and last records match the log's bytes."""
        end = self._sidecar.offset(n - 1)
        if end > size:
            return False
        for index in {0, n - 1}:
            start = self._sidecar.offset(index - 1) if index else 0
            stop = self._sidecar.offset(index)
            raw = os.pread(self._fd, stop - start, start)
            if len(raw) != stop - start or not raw.endswith(b"\n") or stop <= start:
                return False
            leaf = hashlib.sha256(b"\x00" + raw[:-1]).digest()
            if leaf != self._sidecar.node(0, index):
                return False
        return True

    def _catch_up(self, size: int) -> None:
        """Index the records after the sidecar's end; note a torn or corrupt tail."""
        offset = self._end
        buf = b""
        ends: list[int] = []
        leaves: list[bytes] = []
        while offset + len(buf) < size:
            chunk = os.pread(self._fd, min(CHUNK, size - offset - len(buf)), offset + len(buf))
            if not chunk:
                break
            buf += chunk
            prev = leaves[-1] if leaves else self._last
            pos = clean_lines(buf, offset, self._n + len(leaves), prev, ends=ends, leaves=leaves)
            if len(leaves) >= 65536:
                self._index(ends, leaves)
                ends, leaves = [], []
            while True:
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    break
                line = buf[pos:nl]
                prev = leaves[-1] if leaves else self._last
                reason = line_problem(line, self._n + len(leaves), prev)
                if reason is not None:
                    self._index(ends, leaves)
                    self._note_damage(offset + pos, size, reason)
                    return
                ends.append(offset + nl + 1)
                leaves.append(hashlib.sha256(b"\x00" + line).digest())
                pos = nl + 1
                if len(leaves) >= 65536:
                    self._index(ends, leaves)
                    ends, leaves = [], []
            offset += pos
            buf = buf[pos:]
            if len(buf) > MAX_LINE + 1:
                break
        self._index(ends, leaves)
        if offset < size:
            self._note_damage(offset, size, "incomplete last line (no newline)")

    def _index(self, ends: list[int], leaves: list[bytes]) -> None:
        if not leaves:
            return
        if isinstance(self._sidecar, ReadOnlySidecar):
            self._sidecar.remember(ends, leaves)
            self._n += len(leaves)
            self._end = ends[-1]
            self._last = leaves[-1]
            return
        self._stage(ends, leaves)
        self._drain(strict=True)

    def _note_damage(self, offset: int, size: int, reason: str) -> None:
        rest = os.pread(self._fd, min(size - offset, 1 << 24), offset)
        body = rest[:-1] if rest.endswith(b"\n") else rest
        torn = b"\n" not in rest or not body.replace(b"\n", b"").strip(b"\x00")
        self._damage = {
            "kind": "torn" if torn else "corrupt",
            "index": self._n,
            "offset": offset,
            "bytes": size - offset,
            "reason": reason,
        }

    def _stage(self, ends: list[int], leaves: list[bytes]) -> None:
        """Account for records ``_n, ...`` (already in the log) and queue their sidecar entries."""
        self._q.stage(ends, leaves)
        self._n += len(leaves)
        self._end = ends[-1]
        self._last = leaves[-1]

    def _drain(self, *, strict: bool = False) -> None:
        """Write the queued sidecar entries (caller holds the lock and a current view).

        Raises:
            StorageError: with ``strict``, the write failed or the sidecar changed meanwhile
                (without it the next refresh re-indexes those records from the log).
        """
        try:
            self._q.write()
        except StorageError:
            self._known = False  # the log holds the records; the next refresh re-indexes them
            if strict:
                raise

    def _view(self) -> None:
        """Refresh and write queued sidecar entries, so sidecar reads see every record."""
        self._refresh()
        if len(self._q):
            self._drain()
            self._refresh()  # a no-op unless the queue had to be dropped (then: catch-up)
