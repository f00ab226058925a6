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
  :class:`StorageError`. :class:`._sidecar_readonly.ReadOnlySidecar` builds on it for a log opened
  read-only: it
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
from collections.abc import Sequence
from pathlib import Path

from dta.audit.stores._sidecar_tiles import (
    TILE_FILE,
    TILE_LEVELS,
    Tiles,
    inclusion_path,
    level_offset,
)
from dta.errors import StorageError

__all__ = ["TOP_LEVEL_BYTES", "Sidecar"]

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
