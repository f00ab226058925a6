"""Reading side of the JSONL store: read-only open, the shared lock, block-wise line reading.

Rules this module enforces (ADR 0105):

* :func:`open_readonly` opens an existing log ``O_RDONLY``: it never creates, truncates or
  changes anything, so a log on a read-only mount or in a read-only checkout can be opened.
* :class:`SharedLock` is :class:`._jsonl_files.FileLock` with a *shared* ``flock``: readers
  run side by side, and since every appender holds the lock exclusively while it writes, a
  reader never sees half of an append (which it would otherwise take for a torn tail).
* :func:`read_lines` yields the lines that start before ``limit`` (newline removed), at most
  ``count``, reading blocks of ``chunk`` bytes; a last line without newline (a damaged tail) is
  yielded as it is.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from dta.audit.stores._jsonl_files import FileLock
from dta.errors import StorageError

__all__ = ["SharedLock", "open_readonly", "read_lines"]


def open_readonly(path: Path) -> int:
    """Open the log ``O_RDONLY`` (nothing is created).

    Returns:
        The file descriptor.

    Raises:
        StorageError: missing, not a regular file, or unreadable.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError as exc:
        raise StorageError(f"{path}: no such audit log") from exc
    except OSError as exc:
        raise StorageError(f"{path}: cannot open audit log: {exc.strerror}") from exc
    if not os.path.isfile(path):
        os.close(fd)
        raise StorageError(f"{path}: not a regular file")
    return fd


class SharedLock(FileLock):
    """:class:`FileLock` taking a shared ``flock`` (readers; appenders lock exclusively)."""

    def __enter__(self) -> None:
        """Take the mutex, then a shared ``flock`` unless this thread holds it already.

        Raises:
            StorageError: ``flock`` failed.
        """
        self.mutex.acquire()
        if self._depth:
            self._depth += 1
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_SH)
        except OSError as exc:
            self.mutex.release()
            raise StorageError(f"{self._path}: cannot lock for reading: {exc.strerror}") from exc
        self._depth = 1


def read_lines(
    path: Path, offset: int, count: int | None, limit: int, chunk: int
) -> Iterator[bytes]:
    """Lines of ``path`` from byte ``offset`` that start before ``limit`` (at most ``count``).

    Raises:
        OSError: the file cannot be read.
    """
    left = -1 if count is None else count
    pos = offset
    rest = b""
    with open(path, "rb", buffering=0) as handle:
        handle.seek(offset)
        while left and pos < limit:
            block = handle.read(chunk)
            if not block:
                break
            data = rest + block
            lines = data.split(b"\n")
            rest = lines.pop()
            size = len(data) - len(rest)  # the complete lines with their newlines
            if pos + size <= limit and not 0 <= left < len(lines):  # the whole block
                pos += size
                left -= len(lines) if left > 0 else 0
                yield from lines
                continue
            for line in lines:
                if not left or pos >= limit:
                    return
                pos += len(line) + 1
                left -= 1
                yield line
    if rest and left and pos < limit:
        yield rest  # a last line without newline (a damaged tail)
