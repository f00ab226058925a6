"""Streaming, parallel SHA-256 of a directory tree (for building and verifying manifests).

Rules this module enforces:

* Every file is hashed with the rules of :func:`dta._hashing_worker.hash_one` (``O_NOFOLLOW |
  O_NONBLOCK`` open relative to its directory, ``fstat`` re-check, exactly ``st_size`` bytes
  read in bounded memory, a file changed while read is reported as ``changed`` and never given
  a digest), whatever the mode: a batch goes through the same ``_hash_names`` as a worker
  process's task (small regular files in one loop, in C where built, ADRs 0098 and 0102; any
  other file through ``hash_one``).
* The root is opened once; the walk (:mod:`dta._tree`) and every hashing thread or process use
  that one descriptor, so all of them see the same directory.
* Modes: ``threads`` (the GIL is released while hashing, and by the C loop around each
  file's system calls too), ``processes`` (workers started safely by
  :mod:`dta._hashing_procs`: the per-file Python work of many small files runs on every core)
  and ``auto`` (the default): processes once the walk has found enough files to pay for
  starting them (1,000 when this process can be forked safely, 5,000 when fresh interpreters
  must be started), threads for smaller trees or where no process can be started.
* Small files are batched (up to 128 a task; a directory is split into at least two tasks per
  worker, so four huge files use all cores); at most ``4 x workers`` tasks are in flight, so the
  walk never races far ahead and open descriptors stay bounded.
* A progress display (rich, on stderr) is shown only when asked for or when stderr is a terminal.
"""

from __future__ import annotations

import itertools
import operator
import os
import sys
from collections import deque
from collections.abc import Callable, Container, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import attrs

from dta import _hashing_procs as _processes
from dta._hashing_worker import CHUNK, Failure, Outcome, _hash_names, hash_one, open_dir
from dta._tree import DirHandle, UnsafeEntry, open_root, walk
from dta.errors import InputError, UsageError

__all__ = [
    "CHUNK",
    "MODES",
    "Chunk",
    "Record",
    "TreeHashes",
    "hash_file",
    "hash_tree",
    "progress_display",
]

MODES = ("auto", "threads", "processes")
_BATCH_FILES = 128
_AUTO_MIN_FILES = {"fork": 1_000, "spawn": 5_000}
_NAME, _REL = operator.itemgetter(0), operator.itemgetter(1)

# (relative path, size, hex digest)
Record = tuple[str, int, str]
# receives a directory's (name, path) list, returns those to hash
Select = Callable[[list[tuple[str, str]]], list[tuple[str, str]]]
Progress = Callable[[int, int], None]
# (directory handle or None when only the prefix is known, directory prefix, [(name, path)])
_Batch = tuple[DirHandle | None, str, list[tuple[str, str]]]


# (relative paths, their sizes, their SHA-256 hex digests concatenated): one hashed task
Chunk = tuple[list[str], tuple[int, ...], str]


@attrs.frozen
class TreeHashes:
    """What :func:`hash_tree` found.

    Attributes:
        chunks: Hashed files, a task at a time (paths, sizes, hex digests concatenated), in no
            particular order: compact, and comparable in bulk.
        unsafe: Entries that were not hashed, with reasons.
    """

    chunks: list[Chunk]
    unsafe: list[UnsafeEntry]

    @property
    def records(self) -> list[Record]:
        """``(path, size, sha256 hex)`` of every hashed file (a new list each time)."""
        out: list[Record] = []
        for rels, sizes, hexes in self.chunks:
            digests = [hexes[i : i + 64] for i in range(0, len(hexes), 64)]
            out.extend(zip(rels, sizes, digests, strict=True))
        return out

    @property
    def files(self) -> int:
        """How many files were hashed."""
        return sum(len(rels) for rels, _, _ in self.chunks)


def hash_file(dir_fd: int, name: str, rel: str) -> Record | UnsafeEntry:
    """Hash one regular file opened relative to ``dir_fd``.

    Args:
        dir_fd: Descriptor of the containing directory.
        name: The file's name in that directory.
        rel: Its relative path (for the result).

    Returns:
        ``(rel, size, hex)`` or an :class:`UnsafeEntry` explaining why no digest was taken.
    """
    outcome = hash_one(dir_fd, name)
    if isinstance(outcome, Failure):
        return UnsafeEntry(rel, outcome.kind, outcome.reason)
    return rel, outcome[0], outcome[1].hex()


class _Tally:
    """Collects outcomes (in the calling thread) and reports progress."""

    def __init__(
        self,
        unsafe: list[UnsafeEntry],
        progress: Progress | None,
        on_chunk: Callable[[Chunk], None] | None = None,
    ) -> None:
        self.chunks: list[Chunk] = []
        self.unsafe = unsafe
        self.progress = progress
        self.on_chunk = on_chunk
        self.files = 0
        self.bytes = 0

    def outcomes(self, rels: list[str], outcomes: Iterable[Outcome]) -> None:
        hashed: list[str] = []
        sizes: list[int] = []
        hexes: list[str] = []
        for rel, outcome in zip(rels, outcomes, strict=True):
            if isinstance(outcome, Failure):
                self.unsafe.append(UnsafeEntry(rel, outcome.kind, outcome.reason))
            else:
                hashed.append(rel)
                sizes.append(outcome[0])
                hexes.append(outcome[1].hex())
        self._add(hashed, tuple(sizes), "".join(hexes))

    def decoded(self, rels: list[str], decoded: _processes.Decoded) -> None:
        if isinstance(decoded, list):
            self.outcomes(rels, decoded)
        else:
            self._add(rels, *decoded)  # every file hashed: columns, decoded at C speed

    def _add(self, rels: list[str], sizes: tuple[int, ...], hexes: str) -> None:
        if rels:
            chunk = (rels, sizes, hexes)
            self.chunks.append(chunk)
            self.files += len(rels)
            self.bytes += sum(sizes)
            if self.on_chunk is not None:
                self.on_chunk(chunk)
        if self.progress is not None:
            self.progress(self.files, self.bytes)


def _batches(files: list[tuple[str, str]], workers: int) -> Iterator[list[tuple[str, str]]]:
    """Split a directory's files into batches: big enough to amortise the hand-off to a
    worker, small enough that a directory of a few (possibly huge) files spreads over all
    workers."""
    size = max(1, min(_BATCH_FILES, -(-len(files) // (2 * workers))))
    for start in range(0, len(files), size):
        yield files[start : start + size]


def _walk_batches(
    walker: Iterator[tuple[DirHandle, list[tuple[str, str]]]], select: Select | None, workers: int
) -> Iterator[_Batch]:
    """The walk's files (those ``select`` accepts) in batches; a handle is valid until the
    next item unless acquired."""
    for handle, files in walker:
        chosen = files if select is None else select(files)
        if chosen:
            name, rel = chosen[0]
            prefix = rel[: len(rel) - len(name)]
            for batch in _batches(chosen, workers):
                yield handle, prefix, batch


def _hash_listed(dir_fd: int, batch: list[tuple[str, str]]) -> _processes.Decoded:
    """The batch's files hashed as a worker process hashes a task (``_hash_names``: small
    regular files through one loop, in C where built, with the GIL released around each file's
    system calls and hashing; anything else through ``hash_one``): ``(sizes, hex digests)``
    when every file was hashed, else one outcome per file."""
    result = _hash_names(dir_fd, [os.fsencode(name) for name, _ in batch])
    if isinstance(result, tuple):
        sizes, digests = result
        return tuple(sizes), b"".join(digests).hex()
    return result


def _hash_batch(handle: DirHandle, batch: list[tuple[str, str]]) -> _processes.Decoded:
    try:
        return _hash_listed(handle.fd, batch)
    finally:
        handle.release()


def _reopened(root_fd: int, items: Iterable[_Batch], tally: _Tally) -> Iterator[_Batch]:
    """Give batches buffered without a handle one again (opened from the root, no links)."""
    current: tuple[str, DirHandle] | None = None
    try:
        for given, prefix, batch in items:
            handle = given
            if handle is None:
                if current is None or current[0] != prefix:
                    if current is not None:
                        current[1].release()
                        current = None
                    try:
                        current = (prefix, DirHandle(open_dir(root_fd, prefix)))
                    except OSError as exc:
                        why = f"directory changed during scan: {exc.strerror or exc}".lower()
                        failed = [Failure("changed", why)] * len(batch)
                        tally.outcomes([r for _, r in batch], failed)
                        continue
                handle = current[1]
            yield handle, prefix, batch
    finally:
        if current is not None:
            current[1].release()


def _run_threads(items: Iterator[_Batch], count: int, tally: _Tally) -> None:
    inflight: deque[tuple[list[str], Future[_processes.Decoded]]] = deque()
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="dta-hash") as pool:
        for handle, _, batch in items:
            assert handle is not None  # batches without one went through _reopened
            handle.acquire()
            inflight.append(([rel for _, rel in batch], pool.submit(_hash_batch, handle, batch)))
            while len(inflight) > 4 * count:
                done_rels, future = inflight.popleft()
                tally.decoded(done_rels, future.result())
        while inflight:
            done_rels, future = inflight.popleft()
            tally.decoded(done_rels, future.result())


def _lookahead(items: Iterator[_Batch], enough: int) -> tuple[list[_Batch], bool]:
    """Buffer batches (without their handles) until ``enough`` files; True if the walk ended."""
    head: list[_Batch] = []
    files = 0
    for _, prefix, batch in items:
        head.append((None, prefix, batch))
        files += len(batch)
        if files >= enough:
            return head, False
    return head, True


def _check_mode(mode: str, count: int) -> str | None:
    if mode not in MODES:
        raise UsageError(f"hash mode must be one of {', '.join(MODES)}, not {mode!r}")
    method = _processes.start_method() if mode != "threads" and count > 1 else None
    if mode == "processes" and count > 1 and method is None:
        raise UsageError("hash mode 'processes' needs POSIX and a Python interpreter to start")
    return method


def hash_tree(
    root: str | os.PathLike[str],
    *,
    workers: int | None = None,
    select: Select | None = None,
    progress: Progress | None = None,
    known: Container[str] = (),
    mode: str = "auto",
    on_chunk: Callable[[Chunk], None] | None = None,
) -> TreeHashes:
    """Walk ``root`` safely and hash every regular file (those ``select`` accepts).

    Args:
        root: The directory.
        workers: Hashing threads or processes (default: CPU count); 1 hashes in the calling
            thread.
        select: Called in the calling thread with each directory's ``(name, path)`` list;
            returns the files to hash (the caller records why it left others out).
        progress: Called with ``(files, bytes)`` hashed so far, from the calling thread.
        known: Paths already checked by the caller with the same path rules (skipped here).
        mode: ``"auto"`` (default), ``"threads"`` or ``"processes"`` (see the module
            docstring); ignored when ``workers`` is 1.
        on_chunk: Called from the calling thread with each hashed chunk as it arrives (while
            the workers go on hashing), so a caller can compare results without a serial
            pass at the end; the chunk is also in the returned ``chunks``.

    Returns:
        The records and the unsafe entries.

    Raises:
        InputError: The root cannot be opened, or no worker process could be started.
        UsageError: Unknown ``mode``, or processes where none can be started.
    """
    count = max(1, min(workers or os.cpu_count() or 1, 64))
    method = _check_mode(mode, count)
    unsafe: list[UnsafeEntry] = []
    tally = _Tally(unsafe, progress, on_chunk)
    root_fd = open_root(root)
    try:
        items = _walk_batches(walk(root, unsafe, known, root_fd=root_fd), select, count)
        if count == 1:
            for handle, _, batch in items:
                assert handle is not None
                tally.decoded([r for _, r in batch], _hash_listed(handle.fd, batch))
        elif method is None:
            _run_threads(items, count, tally)
        else:
            head: list[_Batch] = []
            ended = False
            if mode == "auto":
                head, ended = _lookahead(items, _AUTO_MIN_FILES[method])
            if ended:
                _run_threads(_reopened(root_fd, head, tally), count, tally)
            else:
                _run_processes(
                    root_fd,
                    itertools.chain(head, items),
                    count,
                    method,
                    tally,
                    strict=mode == "processes",
                )
    finally:
        os.close(root_fd)
    return TreeHashes(tally.chunks, unsafe)


def _run_processes(
    root_fd: int, items: Iterator[_Batch], count: int, method: str, tally: _Tally, *, strict: bool
) -> None:
    """Hash in worker processes; if none can be started, fail (``strict``) or use threads."""
    try:
        pool = _processes.Pool(root_fd, count, method)
    except OSError as exc:
        if strict:
            raise InputError(f"cannot start hashing processes: {exc.strerror or exc}") from exc
        _run_threads(_reopened(root_fd, items, tally), count, tally)
        return
    with pool:
        pool.run(
            (
                _processes.task(prefix, list(map(_NAME, b)), list(map(_REL, b)))
                for _, prefix, b in items
            ),
            tally.decoded,
        )


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
