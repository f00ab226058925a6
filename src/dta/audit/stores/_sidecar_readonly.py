"""The read-only view of a JSONL sidecar: a consistent on-disk prefix plus an in-memory index.

Rules this module enforces (ADR 0105; the sidecar's layout and its own rules: :mod:`._sidecar`):

* :class:`ReadOnlySidecar` never creates or writes a file: it uses the longest prefix of
  ``base`` records the files hold consistently (nothing is repaired) and indexes the records
  after it in memory — every end offset (8 bytes per record) and the subtree hashes of levels
  >= :data:`MEMORY_LOW_LEVEL` (about 1 byte per record).
* A lower node is recomputed from the log's lines of its aligned block of
  ``2**MEMORY_LOW_LEVEL`` records (one ``pread``; the last block is kept), so a proof costs one
  block read.
"""

from __future__ import annotations

import hashlib
import os
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path

from dta.audit._merkle_tree import MemoryTree, RootBuilder
from dta.audit.stores._sidecar import _MAX_LEVEL, _OFFSETS, Sidecar, _sha256
from dta.audit.stores._sidecar_tiles import TILE_LEVELS
from dta.errors import StorageError

__all__ = ["MEMORY_LOW_LEVEL", "ReadOnlySidecar"]


#: Lowest subtree level a :class:`ReadOnlySidecar` keeps in memory (lower ones: from the log).
MEMORY_LOW_LEVEL = 6


class ReadOnlySidecar(Sidecar):
    """A sidecar view that never writes: a consistent on-disk prefix plus an in-memory index.

    ``read(offset, size)`` reads the log's bytes (lower subtree hashes are recomputed from
    them). See the module rules.
    """

    def __init__(self, directory: Path, read: Callable[[int, int], bytes]) -> None:
        """A view over ``directory`` (which may be missing or unreadable: then all in memory)."""
        super().__init__(directory, readonly=True)
        self._read = read
        self._limit = 1 << 62  # most records the files may serve (cut by ``truncate``)
        self._reset(0)

    def _reset(self, base: int) -> None:
        """Use ``base`` records from the files and forget every in-memory entry."""
        self._base = base
        self._ends = array("Q")
        self._upper: list[bytearray] = [bytearray() for _ in range(_MAX_LEVEL + 1)]
        self._rb: RootBuilder | None = None  # over whole blocks; None: resume on next remember
        self._open: list[bytes] = []  # leaf hashes of the last, incomplete block
        self._block: tuple[int, int, MemoryTree] | None = None
        self._tiles.forget()
        self._tiles.cap = base >> TILE_LEVELS  # only tiles of the prefix in use
        self._learn(base)

    def _disk_size(self, name: str | int, width: int) -> int:
        """Whole entries in a sidecar file (0 when it is missing or unreadable)."""
        try:
            return self._len(name, width)
        except (StorageError, OSError):
            return 0

    def _disk_records(self) -> int:
        """Largest ``n`` whose entries the files hold at every level (nothing is cut)."""
        n = min(self._disk_size(_OFFSETS, 8), self._disk_size(0, 32), self._limit)
        level = 1
        while n >> level:
            have = self._disk_size(level, 32)
            if have < n >> level:
                n = ((have + 1) << level) - 1
            level += 1
        return n

    def count(self) -> int:
        """Number of records indexed (files and memory)."""
        return self._base + len(self._ends)

    def holds_exactly(self, n: int) -> bool:
        """Always False: nothing may be appended to a read-only sidecar."""
        return False

    def normalise(self) -> int:
        """Check the files still hold the prefix in use (else fall back to what they hold).

        Returns:
            The number of records indexed.
        """
        if self._disk_records() < self._base or not self._ends:
            self._close_files()
            self._reset(self._disk_records())
        return self.count()

    def truncate(self, n: int) -> None:
        """Forget the entries of records ``n, ...``; the files never serve them again."""
        self._limit = min(self._limit, n)
        if n >= self.count():
            return
        if n <= self._base:
            self._reset(n)
            return
        keep = n - self._base
        del self._ends[keep:]
        for level in range(MEMORY_LOW_LEVEL, _MAX_LEVEL + 1):
            stored = max((n >> level) - (self._base >> level), 0)
            del self._upper[level][stored * 32 :]
        self._rb = None
        self._block = None

    def remember(self, ends: Sequence[int], leaves: Sequence[bytes]) -> None:
        """Index records ``count(), ...`` (already in the log) in memory.

        Leaves are gathered per aligned block of ``2**MEMORY_LOW_LEVEL``; a complete block's
        root is folded into a :class:`RootBuilder` over blocks, whose completed subtrees are
        the nodes of levels >= ``MEMORY_LOW_LEVEL``.
        """
        rb = self._rb
        if rb is None:  # resume: the open block's leaves and the peaks of the blocks before
            count = self.count()
            start = count >> MEMORY_LOW_LEVEL << MEMORY_LOW_LEVEL
            self._open = [self.node(0, i) for i in range(start, count)]
            rb = self._rb = RootBuilder.resume(count >> MEMORY_LOW_LEVEL, _Blocks(self))
        width = 1 << MEMORY_LOW_LEVEL
        block = self._open
        at = 0
        while at < len(leaves):
            take = width - len(block)
            block.extend(leaves[at : at + take])
            at += take
            if len(block) < width:
                break
            level = block
            while len(level) > 1:
                level = [
                    _sha256(b"\x01" + level[j] + level[j + 1]).digest()
                    for j in range(0, len(level), 2)
                ]
            for node in rb.append(level[0]):
                self._upper[node.level + MEMORY_LOW_LEVEL] += node.hash
            block = self._open = []
        self._ends.extend(ends)

    def append(self, ends: Sequence[int], nodes: dict[int, list[bytes]]) -> None:
        """Refuse (read-only).

        Raises:
            StorageError: always.
        """
        self._writable()

    def offset(self, index: int) -> int:
        """End offset (after the newline) of record ``index``.

        Raises:
            StorageError: not indexed.
        """
        if 0 <= index < self._base:
            return super().offset(index)
        at = index - self._base
        if not 0 <= at < len(self._ends):
            raise StorageError(f"{self.directory}: no offset indexed for record {index}")
        return self._ends[at]

    def node(self, level: int, index: int) -> bytes:
        """Hash of the perfect subtree ``(level, index)`` from the files, memory or the log.

        Raises:
            StorageError: the subtree is not complete in the indexed records.
        """
        if not 0 <= level <= _MAX_LEVEL or index < 0 or (index + 1) << level > self.count():
            raise StorageError(f"{self.directory}: subtree ({level}, {index}) is not indexed")
        first = self._base >> level
        if index < first:
            return super().node(level, index)
        if level >= MEMORY_LOW_LEVEL:
            at = (index - first) * 32
            return bytes(self._upper[level][at : at + 32])
        shift = MEMORY_LOW_LEVEL - level
        block = index >> shift
        tree = self._block_tree(block)
        return tree.perfect(level, index - (block << shift))

    perfect = node

    def file_node(self, level: int, index: int) -> bytes | None:
        """The level file's entry if the files serve ``(level, index)``, else None."""
        if index >= self._base >> level:
            return None
        try:
            return super().file_node(level, index)
        except StorageError:
            return b""

    def _block_tree(self, block: int) -> MemoryTree:
        """The subtree hashes of an aligned block of records, recomputed from the log's lines."""
        start = block << MEMORY_LOW_LEVEL
        stop = min(start + (1 << MEMORY_LOW_LEVEL), self.count())
        cached = self._block
        if cached is not None and cached[:2] == (block, stop):
            return cached[2]
        begin = self.offset(start - 1) if start else 0
        end = self.offset(stop - 1)
        data = self._read(begin, end - begin)
        lines = data.split(b"\n")
        if len(data) != end - begin or len(lines) != stop - start + 1 or lines[-1]:
            raise StorageError(f"{self.directory}: the log changed under records {start}..{stop}")
        tree = MemoryTree(hashlib.sha256(b"\x00" + line).digest() for line in lines[:-1])
        self._block = (block, stop, tree)
        return tree

    def _close_files(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        self._copies = [b""] * (_MAX_LEVEL + 1)
        self._tiles.forget()

    def close(self) -> None:
        """Close every file and forget the in-memory index."""
        self._close_files()
        self._reset(0)


class _Blocks:
    """The nodes of levels >= ``MEMORY_LOW_LEVEL`` seen as a tree whose leaves are blocks."""

    __slots__ = ("_src",)

    def __init__(self, src: ReadOnlySidecar) -> None:
        self._src = src

    def perfect(self, level: int, index: int) -> bytes:
        return self._src.node(level + MEMORY_LOW_LEVEL, index)
