"""File-level operations of the JSONL store: durable create, the append lock, moving a tail aside.

Rules this module enforces:

* A new log file is created exclusively; unless durability is ``none`` the file and its
  directory are fsynced before the log is used, so an acknowledged first append cannot vanish
  with its directory entry.
* :class:`FileLock` = a thread ``RLock`` plus an exclusive ``flock`` on the log file, re-entrant
  within a thread (only the outermost exit unlocks), so processes and threads serialise appends.
* :func:`move_aside` never deletes: the bytes from ``offset`` go to a new file
  ``<log>.torn-<UTC time>-<offset>`` (created exclusively, fsynced, directory fsynced) before the
  log is cut at ``offset`` and fsynced.
"""

from __future__ import annotations

import fcntl
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from dta.audit.stores._sidecar import _write_all
from dta.errors import StorageError

__all__ = ["FileLock", "fsync_dir", "move_aside", "open_log"]


def fsync_dir(path: Path) -> None:
    """fsync a directory (its entries become durable).

    Raises:
        OSError: the directory cannot be opened or synced.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_log(path: Path, *, durability: str, create: bool) -> int:
    """Open the log file for reading and appending; create it (durably) if asked.

    Returns:
        The file descriptor (``O_RDWR | O_APPEND``).

    Raises:
        StorageError: missing log without ``create``, not a regular file, or an I/O error.
    """
    try:
        if create:
            try:
                fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                fd = os.open(path, os.O_RDWR | os.O_APPEND)
            else:
                if durability != "none":
                    os.fsync(fd)
                    fsync_dir(path.parent.resolve())
        else:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
    except FileNotFoundError as exc:
        raise StorageError(f"{path}: no such audit log (create it with 'dta audit init')") from exc
    except OSError as exc:
        raise StorageError(f"{path}: cannot open audit log: {exc.strerror}") from exc
    if not os.path.isfile(path):
        os.close(fd)
        raise StorageError(f"{path}: not a regular file")
    return fd


def move_aside(path: Path, fd: int, offset: int) -> tuple[Path, int]:
    """Copy the log's bytes from ``offset`` into a new file, then cut the log there.

    Returns:
        The new file's path and the number of bytes moved.

    Raises:
        StorageError: the copy, sync or truncation failed.
    """
    size = os.fstat(fd).st_size
    data = os.pread(fd, size - offset, offset)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    aside = path.with_name(f"{path.name}.torn-{stamp}-{offset}")
    try:
        out = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            _write_all(out, data)
            os.fsync(out)
        finally:
            os.close(out)
        fsync_dir(path.parent.resolve())
        os.ftruncate(fd, offset)
        os.fsync(fd)
    except OSError as exc:
        raise StorageError(f"{path}: repair failed: {exc.strerror}") from exc
    return aside, len(data)


class FileLock:
    """Thread mutex + exclusive ``flock`` on a file, re-entrant within a thread."""

    def __init__(self, fd: int, path: Path) -> None:
        """Lock ``fd`` (``path`` names it in errors)."""
        self.mutex = threading.RLock()
        self._fd = fd
        self._path = path
        self._depth = 0

    def __enter__(self) -> None:
        """Take the mutex, then the ``flock`` unless this thread holds it already.

        Raises:
            StorageError: ``flock`` failed.
        """
        self.mutex.acquire()
        if self._depth:
            self._depth += 1
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except OSError as exc:
            self.mutex.release()
            raise StorageError(f"{self._path}: cannot lock: {exc.strerror}") from exc
        self._depth = 1

    def __exit__(self, *exc: object) -> None:
        """Release (the ``flock`` at the outermost exit)."""
        self._depth -= 1
        try:
            if not self._depth:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self.mutex.release()
