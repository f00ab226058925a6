"""Safe directory walk for manifests: nothing is followed, nothing special is opened.

Rules this module enforces:

* The root is opened once as a directory; everything below it is reached only through directory
  file descriptors (``openat``-style ``dir_fd``), so no path string outside the tree is ever built
  or resolved, and a directory swapped for a symlink mid-walk cannot redirect the walk.
* Entries are classified by their directory-entry type (``d_type``, or ``lstat`` where the file
  system does not report it; never following a link) before anything is opened:
  symbolic links are never followed, FIFOs, sockets and devices are never opened; each is reported
  as an :class:`UnsafeEntry` with a reason. Sub-directories are opened with
  ``O_DIRECTORY | O_NOFOLLOW``.
* Every name is checked with :func:`dta._paths.path_problem` before it is used; a directory with
  an unsafe name is reported and not entered.
* Regular files are yielded per directory together with the directory handle; the handle is
  reference counted so hashing threads can open files relative to it after the walk moved on.
  Empty directories carry no data and are not reported.
* A directory's names and entry types may be read in C (``_speedups.scan_names``, ADR 0102):
  the same names, in the same order, as ``os.scandir``; a directory with any entry that is
  neither a regular file nor a directory by ``d_type`` (or of unknown type) is scanned with
  ``os.scandir`` instead.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Callable, Container, Iterable, Iterator

import attrs

from dta._hashing_worker import special_kind
from dta._paths import child_problem, plain_names
from dta.errors import InputError

__all__ = ["DirHandle", "KnownFiles", "UnsafeEntry", "open_root", "special_kind", "walk"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_c_scan_names: Callable[[int], tuple[list[str], list[str], int]] | None = None
if not os.environ.get("DTA_PURE_PYTHON"):
    with contextlib.suppress(ImportError):  # built without a C compiler or this function
        from dta._speedups import scan_names as _c_scan_names


@attrs.frozen
class UnsafeEntry:
    """An entry that was not hashed, and why.

    Attributes:
        path: Relative path (as found; may itself be unsafe, so display it escaped).
        kind: ``symlink``, ``fifo``, ``device``, ``socket``, ``special``, ``unsafe-name``,
            ``collision``, ``unreadable`` or ``changed``.
        reason: One readable sentence.
    """

    path: str
    kind: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        """Return ``{"path", "kind", "reason"}``."""
        return {"path": self.path, "kind": self.kind, "reason": self.reason}


class KnownFiles(list[tuple[str, str]]):
    """A directory's ``(name, path)`` list whose every path is in ``known`` (the container the
    walk was given), so a caller selecting by that same container need not look again."""

    __slots__ = ("known",)

    def __init__(self, files: Iterable[tuple[str, str]], known: Container[str]) -> None:
        super().__init__(files)
        self.known = known


class DirHandle:
    """A directory file descriptor closed when its last user releases it."""

    __slots__ = ("_lock", "_refs", "fd")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._refs = 1
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Add a user (a hashing task that will open files in this directory)."""
        with self._lock:
            self._refs += 1

    def release(self) -> None:
        """Drop a user; the descriptor is closed when none is left."""
        with self._lock:
            self._refs -= 1
            last = self._refs == 0
        if last:
            os.close(self.fd)


def open_root(root: str | os.PathLike[str]) -> int:
    """Open the tree's root directory.

    Raises:
        InputError: The root is missing, not a directory, or unreadable.
    """
    try:
        return os.open(root, _DIR_FLAGS)
    except NotADirectoryError as exc:
        raise InputError(f"{os.fspath(root)}: not a directory") from exc
    except OSError as exc:
        raise InputError(f"{os.fspath(root)}: {exc.strerror or exc}") from exc


def walk(
    root: str | os.PathLike[str],
    unsafe: list[UnsafeEntry],
    known: Container[str] = (),
    *,
    root_fd: int | None = None,
) -> Iterator[tuple[DirHandle, list[tuple[str, str]]]]:
    """Walk the tree below ``root`` without following anything.

    Yields ``(handle, files)`` per directory, where ``files`` holds ``(name, relative path)``
    of its regular files (by directory-entry type; the opener re-checks with ``fstat``). The
    caller must ``acquire`` the handle for any use that outlives the next iteration; the walk
    releases its own reference afterwards. Unsafe entries are appended to ``unsafe``.

    Args:
        root: The directory to walk (the root itself is opened normally).
        unsafe: Receives every entry that is not a safe regular file or directory.
        known: Paths the caller already checked with the same rules (not checked again).
        root_fd: The root, already opened by the caller with :func:`open_root` (the walk uses
            a duplicate, so hashing workers can share the very same directory).

    Raises:
        InputError: The root cannot be opened.
    """
    first = open_root(root) if root_fd is None else os.dup(root_fd)
    stack = [(DirHandle(first), "")]
    try:
        while stack:
            handle, prefix = stack.pop()
            try:
                files = _scan_dir(handle, prefix, stack, unsafe, known)
                yield handle, files
            finally:
                handle.release()
    finally:
        for handle, _ in stack:
            handle.release()


def _scan_dir(
    handle: DirHandle,
    prefix: str,
    stack: list[tuple[DirHandle, str]],
    unsafe: list[UnsafeEntry],
    known: Container[str],
) -> list[tuple[str, str]]:
    if _c_scan_names is not None:
        # The names and d_types os.scandir would give, in its order, read in C (no DirEntry
        # per file). A directory holding anything but regular files and directories by
        # d_type (links, special files, unknown types) is scanned below instead.
        try:
            names, dirs, others = _c_scan_names(handle.fd)
        except OSError as exc:
            unsafe.append(UnsafeEntry(prefix.rstrip("/") or ".", "unreadable", _why(exc)))
            return []
        if not others:
            files = _regular_files(prefix, names, unsafe, known)
            for name in dirs:
                rel = prefix + name
                if _name_ok(rel, name, prefix, unsafe, known):
                    _push_dir(name, rel, handle, stack, unsafe)
            return files
    try:
        with os.scandir(handle.fd) as iterator:
            entries = list(iterator)
    except OSError as exc:
        unsafe.append(UnsafeEntry(prefix.rstrip("/") or ".", "unreadable", _why(exc)))
        return []
    # The type comes from the directory entry (d_type; lstat where the file system does not
    # report it): never from following a link.
    try:
        regular = [entry.is_file(follow_symlinks=False) for entry in entries]
    except OSError:  # lstat failed for some entry: those are reported one by one below
        regular = [_is_file(entry) for entry in entries]
    if all(regular):
        names, rest = [entry.name for entry in entries], []
    else:
        names = [entry.name for entry, reg in zip(entries, regular, strict=True) if reg]
        rest = [entry for entry, reg in zip(entries, regular, strict=True) if not reg]
    files = _regular_files(prefix, names, unsafe, known)
    for entry in rest:
        _other_entry(entry, handle, prefix, stack=stack, unsafe=unsafe, known=known)
    return files


def _regular_files(
    prefix: str, names: list[str], unsafe: list[UnsafeEntry], known: Container[str]
) -> list[tuple[str, str]]:
    """``(name, path)`` of the regular files ``names`` whose paths are safe; the others are
    reported as unsafe names."""
    rels = [prefix + name for name in names]
    if known and all(map(known.__contains__, rels)):
        return KnownFiles(zip(names, rels, strict=True), known)  # all proven safe in bulk
    if plain_names(prefix, names):
        return list(zip(names, rels, strict=True))  # all proven safe in bulk
    files = []
    for name, rel in zip(names, rels, strict=True):
        problem = None if rel in known else child_problem(rel, name, not prefix)
        if problem is None:
            files.append((name, rel))
        else:
            unsafe.append(UnsafeEntry(rel, "unsafe-name", f"name {problem}"))
    return files


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:
        return False  # reported by _other_entry


def _other_entry(
    entry: os.DirEntry[str],
    handle: DirHandle,
    prefix: str,
    *,
    stack: list[tuple[DirHandle, str]],
    unsafe: list[UnsafeEntry],
    known: Container[str],
) -> None:
    """A directory (pushed on ``stack``) or an unsafe entry (reported), never followed."""
    name = entry.name
    rel = prefix + name
    if not _name_ok(rel, name, prefix, unsafe, known):
        return
    try:
        is_dir = entry.is_dir(follow_symlinks=False)
        mode = 0 if is_dir else entry.stat(follow_symlinks=False).st_mode
    except OSError as exc:
        unsafe.append(UnsafeEntry(rel, "unreadable", _why(exc)))
        return
    if is_dir:
        _push_dir(name, rel, handle, stack, unsafe)
    elif stat.S_ISLNK(mode):
        unsafe.append(UnsafeEntry(rel, "symlink", _link_reason(name, handle.fd)))
    elif stat.S_ISREG(mode):
        # d_type said otherwise a moment ago: the entry changed under the walk
        unsafe.append(UnsafeEntry(rel, "changed", "changed type during the scan"))
    else:
        kind, reason = special_kind(mode)
        unsafe.append(UnsafeEntry(rel, kind, reason))


def _name_ok(
    rel: str, name: str, prefix: str, unsafe: list[UnsafeEntry], known: Container[str]
) -> bool:
    """True if the entry's path is safe; otherwise it is reported (and never entered)."""
    problem = None if rel in known else child_problem(rel, name, not prefix)
    if problem is not None:
        unsafe.append(UnsafeEntry(rel, "unsafe-name", f"name {problem}"))
        return False
    return True


def _push_dir(
    name: str,
    rel: str,
    handle: DirHandle,
    stack: list[tuple[DirHandle, str]],
    unsafe: list[UnsafeEntry],
) -> None:
    """Open a sub-directory without following a link and put it on the walk's stack."""
    try:
        fd = os.open(name, _DIR_FLAGS | _NOFOLLOW, dir_fd=handle.fd)
    except OSError as exc:
        unsafe.append(UnsafeEntry(rel, "changed", f"directory changed during scan: {_why(exc)}"))
        return
    stack.append((DirHandle(fd), rel + "/"))


def _link_reason(name: str, dir_fd: int) -> str:
    try:
        target = os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return "is a symbolic link; never followed"
    return f"is a symbolic link to {target!a}; never followed"


def _why(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()
