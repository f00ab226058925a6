"""Sidecar entries a JSONL appender has not written yet, and the guard that writes them safely.

Rules this module enforces (docs/adr/0059):

* An appender queues the sidecar entries (end offset and leaf hash) of the records it appended
  and writes them in one group: one ``write`` per sidecar file instead of one per file and
  record. The completed perfect subtree hashes are computed when the group is written, from
  the Merkle peaks of the records before it, which are kept in memory between groups (loaded
  from the sidecar once after a reset), so queuing is two list appends and never reads.
* The queue is written only if the sidecar still holds exactly the entries this process last
  saw (byte sizes of ``offsets`` and ``L00``). Otherwise another process indexed the records
  from the log meanwhile (or crashed mid-write): the queue is dropped, never appended
  misaligned, and the store re-indexes from the log (catch-up).
* The log file stays the source of truth: a queue lost to a crash only means a catch-up on the
  next open, which re-checks every line it indexes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from dta.audit._merkle_tree import RootBuilder
from dta.audit.stores._sidecar import Sidecar
from dta.errors import StorageError

__all__ = ["SidecarQueue"]

_sha256 = hashlib.sha256


class SidecarQueue:
    """Queued sidecar entries of records ``indexed, ...`` (see module rules)."""

    __slots__ = ("_peaks", "ends", "indexed", "leaves", "sidecar")

    def __init__(self, sidecar: Sidecar) -> None:
        """An empty queue over ``sidecar`` (call :meth:`reset` with its size)."""
        self.sidecar = sidecar
        self.indexed = 0
        #: End offsets and leaf hashes of the queued records (appended to by the store).
        self.ends: list[int] = []
        self.leaves: list[bytes] = []
        self._peaks: list[bytes] | None = None  # of the first ``indexed`` records, once loaded

    def __len__(self) -> int:
        """Number of queued records."""
        return len(self.ends)

    def reset(self, indexed: int) -> None:
        """Drop the queue; the sidecar holds ``indexed`` records (its peaks load lazily)."""
        self.indexed = indexed
        self.ends = []
        self.leaves = []
        self._peaks = None

    def stage(self, ends: Sequence[int], leaves: Sequence[bytes]) -> None:
        """Queue the entries of the next records (their end offsets and leaf hashes)."""
        self.ends.extend(ends)
        self.leaves.extend(leaves)

    def _levels(self) -> tuple[list[list[bytes]], list[bytes]]:
        """Hashes of the queued leaves and of every perfect subtree they complete, per level,
        and the peaks after them.

        Raises:
            StorageError: the peaks had to be loaded and a sidecar node is missing.
        """
        peaks = self._peaks
        index = self.indexed
        if peaks is None:  # the sidecar covers every record before these: load its peaks
            peaks = [node.hash for node in RootBuilder.resume(index, self.sidecar).peaks()]
        else:
            peaks = list(peaks)
        levels: list[list[bytes]] = [self.leaves]
        for leaf in self.leaves:
            h, i, level = leaf, index, 0
            while i & 1:
                h = _sha256(b"\x01" + peaks.pop() + h).digest()
                i >>= 1
                level += 1
                if level == len(levels):
                    levels.append([])
                levels[level].append(h)
            peaks.append(h)
            index += 1
        return levels, peaks

    def write(self) -> None:
        """Write the queue to the sidecar if it still ends where this process saw it.

        Raises:
            StorageError: the sidecar changed under this process or a write failed; the queue
                is dropped (the caller re-indexes from the log).
        """
        if not self.ends:
            return
        try:
            fits = self.sidecar.holds_exactly(self.indexed)
            peaks = None
            if fits:
                levels, peaks = self._levels()
                nodes = {level: hashes for level, hashes in enumerate(levels) if hashes}
                self.sidecar.append(self.ends, nodes)
        except (StorageError, OSError) as exc:
            self.reset(self.indexed)
            raise StorageError(f"{self.sidecar.directory}: sidecar write failed: {exc}") from exc
        if not fits:
            self.reset(self.indexed)
            raise StorageError(f"{self.sidecar.directory}: sidecar changed under this process")
        self.indexed += len(self.ends)
        self._peaks = peaks
        self.ends = []
        self.leaves = []
