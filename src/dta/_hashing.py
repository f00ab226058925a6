"""Streaming, parallel SHA-256 of a directory tree (for building and verifying manifests).

Rules this module enforces:

* Files are opened relative to their directory handle with ``O_NOFOLLOW | O_NONBLOCK`` (a link
  swapped in after the walk fails to open; a FIFO swapped in does not block), then re-checked
  with ``fstat``: anything but a regular file is reported and never read.
* A file is read in 1 MiB chunks into a per-thread buffer; memory does not grow with file size.
* Exactly ``st_size`` bytes (from ``fstat`` after opening) are read. A file whose size, mtime,
  ctime or inode differ between the ``fstat`` before and after hashing, or that ends early, is
  reported as ``changed`` (never given a digest).
* Work is spread over ``workers`` threads (default: the CPU count); ``hashlib`` releases the GIL
  while hashing, so both cores hash at once. Small files are batched to keep per-task overhead
  low (and a directory of a few huge files spreads over all workers); at most ``4 x workers``
  batches are in flight, so the walk never races far ahead.
* A progress display (rich, on stderr) is shown only when asked for or when stderr is a terminal.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import sys
import threading
from collections import deque
from collections.abc import Callable, Container, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import attrs

from dta import _hashing_procs as _processes
from dta._tree import DirHandle, UnsafeEntry, special_kind, walk
from dta.errors import UsageError

__all__ = ["CHUNK", "Record", "TreeHashes", "hash_tree", "progress_display"]

CHUNK = 1 << 20
_SMALL = 64 << 10  # files below this are read with one read() into a fresh bytes object
_BATCH_FILES = 128
_FILE_FLAGS = os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK

# (relative path, size, hex digest)
Record = tuple[str, int, str]
_Outcome = tuple[str, int, str] | UnsafeEntry
Select = Callable[[str], bool]
Progress = Callable[[int, int], None]

_local = threading.local()


@attrs.frozen
class TreeHashes:
    """What :func:`hash_tree` found.

    Attributes:
        records: ``(path, size, sha256 hex)`` of every hashed file, in no particular order.
        unsafe: Entries that were not hashed, with reasons.
    """

    records: list[Record]
    unsafe: list[UnsafeEntry]


def _buffer() -> memoryview:
    buf: memoryview | None = getattr(_local, "buf", None)
    if buf is None:
        buf = memoryview(bytearray(CHUNK))
        _local.buf = buf
    return buf


def _read_chunk(fd: int, buf: memoryview) -> int:
    """Read up to ``len(buf)`` bytes into ``buf`` (a seam for fault-injection tests)."""
    return os.readv(fd, [buf])


def _read_small(fd: int, size: int) -> bytes:
    """Read a small file in one call (a seam for fault-injection tests, like ``_read_chunk``)."""
    return os.read(fd, size) if size else b""


def _signature(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def hash_file(dir_fd: int, name: str, rel: str) -> _Outcome:
    """Hash one regular file opened relative to ``dir_fd``.

    Args:
        dir_fd: Descriptor of the containing directory.
        name: The file's name in that directory.
        rel: Its relative path (for the result).

    Returns:
        ``(rel, size, hex)`` or an :class:`UnsafeEntry` explaining why no digest was taken.
    """
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return UnsafeEntry(rel, "changed", "was replaced by a symbolic link during the scan")
        return UnsafeEntry(rel, "unreadable", (exc.strerror or str(exc)).lower())
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            kind, reason = special_kind(before.st_mode)
            return UnsafeEntry(rel, kind, f"{reason} (it replaced a file during the scan)")
        size = before.st_size
        # Read exactly the size fstat reported; growth after that shows in the second fstat.
        if size < _SMALL:
            data = _read_small(fd, size)
            digest = hashlib.sha256(data)
            total = len(data)
        else:
            digest = hashlib.sha256()
            total = 0
            buf = _buffer()
            while total < size:
                n = _read_chunk(fd, buf)
                if n == 0:
                    break
                digest.update(buf[:n])
                total += n
        after = os.fstat(fd)
    except OSError as exc:
        return UnsafeEntry(rel, "unreadable", (exc.strerror or str(exc)).lower())
    finally:
        os.close(fd)
    if total != size or _signature(after) != _signature(before):
        return UnsafeEntry(rel, "changed", "changed while it was being hashed")
    return (rel, size, digest.hexdigest())


def _hash_batch(handle: DirHandle, batch: list[tuple[str, str]]) -> list[_Outcome]:
    try:
        return [hash_file(handle.fd, name, rel) for name, rel in batch]
    finally:
        handle.release()


def _batches(files: list[tuple[str, str]], workers: int) -> Iterator[list[tuple[str, str]]]:
    """Split a directory's files into batches: big enough to amortise the hand-off to a
    thread, small enough that a directory of a few (possibly huge) files spreads over all
    workers."""
    size = max(1, min(_BATCH_FILES, -(-len(files) // (4 * workers))))
    for start in range(0, len(files), size):
        yield files[start : start + size]


def hash_tree(
    root: str | os.PathLike[str],
    *,
    workers: int | None = None,
    select: Select | None = None,
    progress: Progress | None = None,
    known: Container[str] = (),
    mode: str = "threads",
) -> TreeHashes:
    """Walk ``root`` safely and hash every regular file (those ``select`` accepts).

    Args:
        root: The directory.
        workers: Hashing threads (default: CPU count); 1 hashes in the calling thread.
        select: Called with each file's path in the calling thread; files it rejects are not
            hashed (the caller records why).
        progress: Called with ``(files, bytes)`` hashed so far, from the calling thread.
        known: Paths already checked by the caller with the same path rules (skipped here).
        mode: ``"threads"`` (default) or ``"processes"`` (forked workers, see
            :mod:`dta._hashing_procs`; faster for many small files on idle cores, but forks the
            calling process); ignored when ``workers`` is 1.

    Returns:
        The records and the unsafe entries.

    Raises:
        InputError: The root cannot be opened.
        UsageError: Unknown ``mode``, or processes where ``fork`` is unavailable.
    """
    if mode not in ("threads", "processes"):
        raise UsageError(f"hash mode must be 'threads' or 'processes', not {mode!r}")
    if mode == "processes" and not _processes.available():
        raise UsageError("hash mode 'processes' needs os.fork (POSIX)")
    count = max(1, min(workers or os.cpu_count() or 1, 64))
    records: list[Record] = []
    unsafe: list[UnsafeEntry] = []
    done = [0, 0]

    def collect(outcomes: list[_Outcome]) -> None:
        for outcome in outcomes:
            if isinstance(outcome, UnsafeEntry):
                unsafe.append(outcome)
            else:
                records.append(outcome)
                done[0] += 1
                done[1] += outcome[1]
        if progress is not None:
            progress(done[0], done[1])

    def chosen(files: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return files if select is None else [f for f in files if select(f[1])]

    if count == 1:
        for handle, files in walk(root, unsafe, known):
            for batch in _batches(chosen(files), 1):
                collect([hash_file(handle.fd, name, rel) for name, rel in batch])
        return TreeHashes(records, unsafe)

    if mode == "processes":
        _processes.hash_tree_processes(
            root,
            workers=count,
            chosen=chosen,
            collect=collect,  # type: ignore[arg-type]
            unsafe=unsafe,
            known=known,
            batches=_batches,
        )
        return TreeHashes(records, unsafe)

    inflight: deque[Future[list[_Outcome]]] = deque()
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="dta-hash") as pool:
        for handle, files in walk(root, unsafe, known):
            for batch in _batches(chosen(files), count):
                handle.acquire()
                inflight.append(pool.submit(_hash_batch, handle, batch))
                while len(inflight) > 4 * count:
                    collect(inflight.popleft().result())
        while inflight:
            collect(inflight.popleft().result())
    return TreeHashes(records, unsafe)


@contextmanager
def progress_display(enabled: bool | None, label: str) -> Iterator[Progress | None]:
    """A rich progress line on stderr (files and bytes so far), or None when disabled.

    Args:
        enabled: True to show, False to hide, None to show only when stderr is a terminal.
        label: Text in front of the counters.
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        DownloadColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )
    from rich.progress import (
        Progress as RichProgress,
    )

    bar = RichProgress(
        SpinnerColumn(),
        TextColumn(f"{label} {{task.fields[files]:,}} files"),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(label, total=None, files=0)

    def update(files: int, nbytes: int) -> None:
        bar.update(task, completed=nbytes, files=files)

    with bar:
        yield update
