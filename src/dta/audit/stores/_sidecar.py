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
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Sequence
from pathlib import Path

from dta.errors import StorageError

__all__ = ["Sidecar"]

_OFFSETS = "offsets"
_MAX_LEVEL = 63


def _level_name(level: int) -> str:
    return f"L{level:02d}"


class Sidecar:
    """Append-only hash and offset files beside a JSONL log (see module rules)."""

    def __init__(self, directory: Path) -> None:
        """Open (creating if needed) the sidecar directory.

        Raises:
            StorageError: the directory cannot be created.
        """
        self.directory = directory
        try:
            directory.mkdir(exist_ok=True)
        except OSError as exc:
            raise StorageError(f"{directory}: cannot create sidecar: {exc.strerror}") from exc
        self._fds: dict[str | int, int] = {}

    def _fd(self, name: str | int) -> int:
        fd = self._fds.get(name)
        if fd is None:
            fname = name if isinstance(name, str) else _level_name(name)
            try:
                fd = os.open(self.directory / fname, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
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
        data = os.pread(self._fd(level), 32, index * 32)
        if len(data) != 32:
            raise StorageError(f"{self.directory}: subtree ({level}, {index}) is not stored")
        return data

    perfect = node  # a NodeSource (dta.audit.merkle) over what is stored

    def append(self, ends: Sequence[int], nodes: dict[int, list[bytes]]) -> None:
        """Append record end offsets and completed subtree hashes (leaves first).

        Raises:
            StorageError: a write failed.
        """
        try:
            _write_all(self._fd(_OFFSETS), struct.pack(f">{len(ends)}Q", *ends))
            for level in sorted(nodes):
                _write_all(self._fd(level), b"".join(nodes[level]))
        except OSError as exc:
            raise StorageError(f"{self.directory}: sidecar write failed: {exc.strerror}") from exc

    def truncate(self, n: int) -> None:
        """Cut every file to what ``n`` records need (entries beyond are dropped)."""
        os.ftruncate(self._fd(_OFFSETS), min(self._len(_OFFSETS, 8), n) * 8)
        for level in range(_MAX_LEVEL + 1):
            path = self.directory / _level_name(level)
            if level not in self._fds and not path.exists():
                continue
            keep = min(self._len(level, 32), n >> level)
            os.ftruncate(self._fd(level), keep * 32)

    def normalise(self) -> int:
        """Make the files consistent for the largest ``n`` both offsets and leaves cover.

        Returns:
            ``n``, the number of records the sidecar now indexes.
        """
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
        return n

    def _cut(self, name: str | int, limit: int) -> None:
        """Truncate to ``limit`` bytes, or to whole entries below it (never extends)."""
        fd = self._fd(name)
        size = os.fstat(fd).st_size
        width = 8 if name == _OFFSETS else 32
        keep = min(limit, size - size % width)
        if keep != size:
            os.ftruncate(fd, keep)

    def close(self) -> None:
        """Close every file."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
