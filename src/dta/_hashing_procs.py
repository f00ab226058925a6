"""Hash many small files on every core with forked worker processes.

Rules this module enforces (in addition to :mod:`dta._hashing`, whose ``hash_file`` does the
per-file work and its checks):

* Threads cannot run the per-file Python work (open, fstat, read, fstat, close) in parallel under
  the GIL; worker processes can. They are forked (no re-import, no pickled state) and get only
  ``(directory prefix, names)`` tasks from the safe walk in the parent.
* A worker reaches a directory from a duplicate of the root descriptor the parent opened, one
  component at a time with ``O_DIRECTORY | O_NOFOLLOW``: a directory swapped for a symlink after
  the walk fails to open, and its files are reported as changed, never read through the link.
* Results are ``(path, size, hex)`` tuples or :class:`~dta._tree.UnsafeEntry` objects; at most
  ``4 x workers`` tasks are in flight.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Container
from concurrent.futures import Future, ProcessPoolExecutor

from dta._tree import UnsafeEntry, open_root, walk

__all__ = ["available", "hash_tree_processes"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
_state: dict[str, object] = {}


def available() -> bool:
    """True where forked worker processes can be used (POSIX with ``fork``)."""
    return "fork" in multiprocessing.get_all_start_methods()


def _init(root_fd: int) -> None:
    _state.clear()
    _state["root"] = root_fd


def _dir_fd(prefix: str) -> int:
    cached = _state.get("dir")
    if isinstance(cached, tuple) and cached[0] == prefix:
        return int(cached[1])
    if isinstance(cached, tuple):
        os.close(cached[1])
        del _state["dir"]
    root = int(str(_state["root"]))
    fd = os.dup(root)
    try:
        for component in prefix.rstrip("/").split("/") if prefix else ():
            child = os.open(component, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except OSError:
        os.close(fd)
        raise
    _state["dir"] = (prefix, fd)
    return fd


def _task(prefix: str, names: list[str]) -> list[object]:
    from dta._hashing import hash_file

    try:
        fd = _dir_fd(prefix)
    except OSError as exc:
        reason = f"directory changed during scan: {(exc.strerror or str(exc)).lower()}"
        return [UnsafeEntry(prefix + name, "changed", reason) for name in names]
    return [hash_file(fd, name, prefix + name) for name in names]


def hash_tree_processes(
    root: str | os.PathLike[str],
    *,
    workers: int,
    chosen: Callable[[list[tuple[str, str]]], list[tuple[str, str]]],
    collect: Callable[[list[object]], None],
    unsafe: list[UnsafeEntry],
    known: Container[str],
    batches: Callable[[list[tuple[str, str]], int], object],
) -> None:
    """Walk ``root`` in this process and hash its files in ``workers`` forked processes.

    Args:
        root: The directory.
        workers: Worker processes.
        chosen: Filters a directory's ``(name, path)`` list (the caller's ``select``).
        collect: Receives each task's outcomes, in this process.
        unsafe: Receives the walk's unsafe entries.
        known: Paths already checked by the caller (see :func:`dta._tree.walk`).
        batches: Splits a directory's files into tasks.

    Raises:
        InputError: The root cannot be opened.
    """
    root_fd = open_root(root)
    context = multiprocessing.get_context("fork")
    inflight: deque[Future[list[object]]] = deque()
    try:
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init,
                                 initargs=(root_fd,)) as pool:  # fmt: skip
            for _, files in walk(root, unsafe, known):
                for batch in batches(chosen(files), workers):  # type: ignore[attr-defined]
                    name, rel = batch[0]
                    prefix = rel[: len(rel) - len(name)]
                    inflight.append(pool.submit(_task, prefix, [n for n, _ in batch]))
                    while len(inflight) > 4 * workers:
                        collect(inflight.popleft().result())
            while inflight:
                collect(inflight.popleft().result())
    finally:
        os.close(root_fd)
