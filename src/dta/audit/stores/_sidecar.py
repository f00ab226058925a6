"""The JSONL store's rebuildable sidecar: record end offsets and subtree hashes, one file per level.

Rules this module enforces:

* Directory ``<log>.nodes/`` holds ``offsets`` (8-byte big-endian end offset of each record line,
  newline included) and ``L00``, ``L01``, ... where ``Lk`` holds the 32-byte hashes of the perfect
  subtrees of ``2**k`` leaves, in order (``L00`` = leaf hashes). So any node is one ``pread``.
* A consistent sidecar for ``n`` records has ``n`` offsets, ``n`` leaf hashes and exactly
  ``n >> k`` hashes at level ``k``. :meth:`Sidecar.normalise` restores that after a crash by
  dropping partial entries and recomputing missing upper-level nodes from the level below.
* The sidecar is a cache: it is never fsynced, the store checks it against the log on open and
  rebuilds it when stale, and verifiers never read it.
* Reads of the upper levels are served from memory (ADR 0097): a level whose ``n >> k`` hashes
  fit in :data:`TOP_LEVEL_BYTES` is read whole (from where this process's copy ends) the first
  time a hash beyond that copy is asked for, so a warm proof makes one ``pread`` per lower level
  only and a cold one touches the disk for those levels only. A copy holds only whole entries
  that were in the file when read (entries are never rewritten while the log is unchanged);
  every cut of a level (``truncate``, ``normalise``) cuts the copy too. Writes never go through
  the copies, and a copy never grows past twice :data:`TOP_LEVEL_BYTES`.
* Tiles (ADR 0106, :mod:`._sidecar_tiles`): ``T00`` holds levels 0..5 of every complete
  64-record block in one 4 KiB page, written after the level files by the append that completes
  the block, rebuilt from the level files by ``normalise`` (a sidecar without it, a crash
  between the writes) and cut with them. Reads of levels 0..5 come from a whole tile when the
  file holds one, so a proof's lower levels cost one ``pread``; anything else reads the levels.
* Read-only (ADR 0105): ``Sidecar(directory, readonly=True)`` never creates the directory or a
  file and opens what exists ``O_RDONLY``; every method that would write raises
  :class:`StorageError`. :class:`ReadOnlySidecar` builds on it for a log opened read-only: it
  uses the longest prefix of ``base`` records the files hold consistently (nothing is repaired)
  and indexes the records after it in memory — every end offset (8 bytes per record) and the
  subtree hashes of levels >= :data:`MEMORY_LOW_LEVEL` (about 1 byte per record). A lower node
  is recomputed from the log's lines of its aligned block of ``2**MEMORY_LOW_LEVEL`` records
  (one ``pread``; the last block is kept), so a proof costs one block read.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path

from dta.audit._merkle_tree import MemoryTree, RootBuilder
from dta.audit.stores._sidecar_tiles import (
    TILE_FILE,
    TILE_LEVELS,
    Tiles,
    inclusion_path,
    level_offset,
)
from dta.errors import StorageError

__all__ = ["MEMORY_LOW_LEVEL", "TOP_LEVEL_BYTES", "ReadOnlySidecar", "Sidecar"]

_OFFSETS = "offsets"
_MAX_LEVEL = 63
#: A level is kept in memory when all its hashes fit in this many bytes (~2x this in total).
TOP_LEVEL_BYTES = 512 * 1024
_COPY_LIMIT = 2 * TOP_LEVEL_BYTES
_TOP_SHIFT = (TOP_LEVEL_BYTES // 32).bit_length() - 1  # n >> _TOP_SHIFT == 0 <=> fits
_NO_CACHE = _MAX_LEVEL + 1
_sha256 = hashlib.sha256


def _level_name(level: int) -> str:
    return f"L{level:02d}"


class Sidecar:
    """Append-only hash and offset files beside a JSONL log (see module rules)."""

    def __init__(self, directory: Path, *, readonly: bool = False) -> None:
        """Open (creating if needed, unless ``readonly``) the sidecar directory.

        Raises:
            StorageError: the directory cannot be created.
        """
        self.directory = directory
        self.readonly = readonly
        if not readonly:
            try:
                directory.mkdir(exist_ok=True)
            except OSError as exc:
                raise StorageError(f"{directory}: cannot create sidecar: {exc.strerror}") from exc
        self._fds: dict[str | int, int] = {}
        #: In-memory copies of the top levels' files (module rules); ``b""`` below them.
        self._copies: list[bytes] = [b""] * (_MAX_LEVEL + 1)
        #: Lowest cached level; from the leaf count this process last learned (none: no cache).
        self._top = _NO_CACHE
        self._n: int | None = None
        #: Levels 0..5 of complete blocks, one page each (ADR 0106).
        self._tiles = Tiles(lambda: self._fd(TILE_FILE), self._read_level)

    def _read_level(self, level: int, offset: int, size: int) -> bytes:
        return os.pread(self._fd(level), size, offset)

    def _learn(self, n: int | None) -> None:
        """Note the number of indexed records (``None``: unknown) and the top levels it implies."""
        self._n = n
        self._top = _NO_CACHE if n is None else (n >> _TOP_SHIFT).bit_length()

    def _fd(self, name: str | int) -> int:
        fd = self._fds.get(name)
        if fd is None:
            fname = name if isinstance(name, str) else _level_name(name)
            flags = os.O_RDONLY if self.readonly else os.O_RDWR | os.O_CREAT | os.O_APPEND
            try:
                fd = os.open(self.directory / fname, flags, 0o644)
            except OSError as exc:
                raise StorageError(f"{self.directory / fname}: {exc.strerror}") from exc
            self._fds[name] = fd
        return fd

    def _len(self, name: str | int, width: int) -> int:
        return os.fstat(self._fd(name)).st_size // width

    def count(self) -> int:
        """Number of leaf hashes stored (a quick staleness probe)."""
        return self._len(0, 32)

    def holds_exactly(self, n: int) -> bool:
        """True if ``offsets`` and ``L00`` hold exactly ``n`` whole entries (nothing partial).

        An appender checks this before writing entries for records ``n, ...``: anything else
        means another process indexed them (or crashed mid-write) and the entries would land
        misaligned.
        """
        return self._size(_OFFSETS) == n * 8 and self._size(0) == n * 32

    def _size(self, name: str | int) -> int:
        return os.fstat(self._fd(name)).st_size

    def offset(self, index: int) -> int:
        """End offset (after the newline) of record ``index``.

        Raises:
            StorageError: not stored.
        """
        data = os.pread(self._fd(_OFFSETS), 8, index * 8)
        if len(data) != 8:
            raise StorageError(f"{self.directory}: no offset stored for record {index}")
        value: int = struct.unpack(">Q", data)[0]
        return value

    def node(self, level: int, index: int) -> bytes:
        """Stored hash of the perfect subtree ``(level, index)``.

        Raises:
            StorageError: not stored.
        """
        if not 0 <= level <= _MAX_LEVEL or index < 0:
            raise StorageError(f"no subtree ({level}, {index})")
        if level < TILE_LEVELS:
            shift = TILE_LEVELS - level
            tile = self._tiles.get(index >> shift)
            if tile is not None:
                at = level_offset(level) + (index - (index >> shift << shift)) * 32
                return tile[at : at + 32]
        at = index * 32
        if level >= self._top:
            copy = self._copies[level]
            if at + 32 > len(copy) and at < _COPY_LIMIT:
                copy = self._extend(level)
            if at + 32 <= len(copy):
                return copy[at : at + 32]
        data = os.pread(self._fds.get(level) or self._fd(level), 32, at)
        if len(data) != 32:
            raise StorageError(f"{self.directory}: subtree ({level}, {index}) is not stored")
        return data

    perfect = node  # a NodeSource (dta.audit.merkle) over what is stored

    def inclusion_path(self, index: int, size: int) -> list[bytes]:
        """Inclusion proof of ``index < size`` from what is stored (ADR 0106)."""
        return inclusion_path(self._tiles, self, index, size)

    def file_node(self, level: int, index: int) -> bytes | None:
        """The entry of level file ``level`` (no tile, no copy; ``b""`` if missing) for fsck."""
        try:
            return os.pread(self._fd(level), 32, index * 32)
        except OSError:
            return b""

    def _extend(self, level: int) -> bytes:
        """Read the whole entries of ``level`` past this process's copy into it; return it."""
        copy = self._copies[level]
        more = os.pread(self._fds.get(level) or self._fd(level), _COPY_LIMIT - len(copy), len(copy))
        copy += more[: len(more) - len(more) % 32]
        self._copies[level] = copy
        return copy

    def append(self, ends: Sequence[int], nodes: dict[int, list[bytes]]) -> None:
        """Append record end offsets and completed subtree hashes (leaves first).

        Raises:
            StorageError: a write failed.
        """
        self._writable()
        n = self._n
        self._learn(None)  # unknown until the writes below have all succeeded
        try:
            _write_all(self._fd(_OFFSETS), struct.pack(f">{len(ends)}Q", *ends))
            for level in sorted(nodes):
                _write_all(self._fd(level), b"".join(nodes[level]))
            now = self._len(0, 32) if n is None else n + len(ends)
            if n is None or now >> TILE_LEVELS != n >> TILE_LEVELS:
                with contextlib.suppress(ValueError):  # levels short: those tiles stay unwritten
                    self._tiles.sync(now)
        except OSError as exc:
            raise StorageError(f"{self.directory}: sidecar write failed: {exc.strerror}") from exc
        if n is not None:
            self._learn(n + len(ends))

    def truncate(self, n: int) -> None:
        """Cut every file to what ``n`` records need (entries beyond are dropped)."""
        self._writable()
        self._learn(None)
        self._copies = [b""] * (_MAX_LEVEL + 1)
        os.ftruncate(self._fd(_OFFSETS), min(self._len(_OFFSETS, 8), n) * 8)
        for level in range(_MAX_LEVEL + 1):
            path = self.directory / _level_name(level)
            if level not in self._fds and not path.exists():
                continue
            keep = min(self._len(level, 32), n >> level)
            os.ftruncate(self._fd(level), keep * 32)
        self._tiles.cut(n)

    def normalise(self) -> int:
        """Make the files consistent for the largest ``n`` both offsets and leaves cover.

        Returns:
            ``n``, the number of records the sidecar now indexes.
        """
        self._writable()
        self._learn(None)
        n = min(self._len(_OFFSETS, 8), self._len(0, 32))
        self._cut(_OFFSETS, n * 8)
        self._cut(0, n * 32)
        # Offsets are written first, then L00, L01, ...: after a crash an upper level can hold
        # at most the nodes completed by the leaves just dropped (levels <= bit_length(n) + 1).
        for level in range(1, n.bit_length() + 2):
            want = n >> level
            self._cut(level, want * 32)  # also drops a partially written entry
            have = self._len(level, 32)
            if have < want:
                below = os.pread(self._fd(level - 1), (want - have) * 64, have * 64)
                if len(below) != (want - have) * 64:
                    raise StorageError(f"{self.directory}: level {level - 1} is short")
                out = [
                    hashlib.sha256(b"\x01" + below[i : i + 64]).digest()
                    for i in range(0, len(below), 64)
                ]
                _write_all(self._fd(level), b"".join(out))
        try:
            self._tiles.sync(n, check=True)
        except ValueError as exc:
            raise StorageError(f"{self.directory}: {exc}") from exc
        self._learn(n)
        return n

    def _writable(self) -> None:
        if self.readonly:
            raise StorageError(f"{self.directory}: sidecar opened read-only: not written")

    def _cut(self, name: str | int, limit: int) -> None:
        """Truncate to ``limit`` bytes, or to whole entries below it (never extends)."""
        fd = self._fd(name)
        size = os.fstat(fd).st_size
        width = 8 if name == _OFFSETS else 32
        keep = min(limit, size - size % width)
        if keep != size:
            os.ftruncate(fd, keep)
            if isinstance(name, int):
                self._forget(name, keep)

    def _forget(self, level: int, keep: int) -> None:
        """Cut the in-memory copy of ``level`` to ``keep`` bytes (after a cut of its file)."""
        if len(self._copies[level]) > keep:
            self._copies[level] = self._copies[level][:keep]

    def close(self) -> None:
        """Close every file."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        self._copies = [b""] * (_MAX_LEVEL + 1)
        self._tiles.forget()
        self._learn(None)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


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
