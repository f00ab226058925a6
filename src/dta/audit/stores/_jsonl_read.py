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
* A line the store indexes is at most ``MAX_LINE`` bytes of strict canonical JSON, a valid
  record, with the expected ``index`` and ``prev`` (:func:`line_problem` says what is wrong).
  :func:`clean_lines` takes a whole block of lines at once when the verifier's batch check
  (:func:`dta.audit._verify_fast.check_batch`, which checks the same and only ever says
  "clean") passes; any anomaly leaves the block to :func:`line_problem`, line by line.
* :func:`sidecar_matches` recomputes every offset and subtree hash from the lines (``fsck``),
  the lower levels both as served (tiles, ADR 0106) and as held by their level files.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from itertools import accumulate
from pathlib import Path

from dta._json import loads_canonical
from dta.audit._merkle_tree import RootBuilder
from dta.audit._record import MAX_LINE, check_record
from dta.audit._verify_fast import check_batch
from dta.audit.stores._jsonl_files import FileLock
from dta.audit.stores._sidecar import Sidecar
from dta.audit.stores._sidecar_tiles import TILE_LEVELS
from dta.errors import Error, StorageError

__all__ = [
    "SharedLock",
    "clean_lines",
    "line_problem",
    "open_readonly",
    "read_lines",
    "sidecar_matches",
]


def open_readonly(path: Path) -> int:
    """Open the log ``O_RDONLY`` (nothing is created).

    Returns:
        The file descriptor.

    Raises:
        StorageError: missing, not a regular file, or unreadable.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; the fd's own type is checked.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise StorageError(f"{path}: no such audit log") from exc
    except OSError as exc:
        raise StorageError(f"{path}: cannot open audit log: {exc.strerror}") from exc
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
        if regular:
            os.set_blocking(fd, True)
    except OSError as exc:
        os.close(fd)
        raise StorageError(f"{path}: cannot open audit log: {exc.strerror}") from exc
    if not regular:
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


def line_problem(line: bytes, index: int, prev: bytes) -> str | None:
    """What keeps ``line`` from being record ``index`` after leaf hash ``prev`` (None: nothing)."""
    if len(line) > MAX_LINE:
        return f"line longer than {MAX_LINE} bytes"
    try:
        rec = check_record(loads_canonical(line, max_size=MAX_LINE))
    except Error as exc:
        return f"not a valid canonical record: {exc}"
    if rec["index"] != index:
        return f"index {rec['index']} where {index} was expected"
    if rec["prev"] != prev.hex():
        return "prev does not link to the previous record"
    return None


def clean_lines(
    buf: bytes, offset: int, index: int, prev: bytes, *, ends: list[int], leaves: list[bytes]
) -> int:
    """Take every complete line of ``buf`` (at ``offset`` in the log) if all are clean records.

    The lines must be records ``index, ...``, the first linking to ``prev``. When they are,
    their end offsets and leaf hashes are appended to ``ends`` and ``leaves``.

    Returns:
        The position in ``buf`` after the lines taken (0: none; check them line by line).
    """
    last = buf.rfind(b"\n")
    if last < 0:
        return 0
    batch = buf[:last].split(b"\n")
    if max(map(len, batch)) > MAX_LINE:
        return 0
    got = check_batch(batch)
    if got is None or got[1] != index or got[2] != prev.hex():
        return 0
    leaves.extend(got[0])
    positions = accumulate([len(line) + 1 for line in batch], initial=offset)
    next(positions)
    ends.extend(positions)
    return last + 1


def sidecar_matches(lines: Iterable[bytes], sidecar: Sidecar) -> bool:
    """True if every end offset and subtree hash ``sidecar`` holds for ``lines`` is right."""
    rb = RootBuilder()
    end = 0
    for index, line in enumerate(lines):
        end += len(line) + 1
        if sidecar.offset(index) != end:
            return False
        for node in rb.append(hashlib.sha256(b"\x00" + line).digest()):
            if sidecar.node(node.level, node.index) != node.hash:
                return False
            if node.level < TILE_LEVELS:  # served from a tile above: check the level file too
                entry = sidecar.file_node(node.level, node.index)
                if entry is not None and entry != node.hash:
                    return False
    return True
