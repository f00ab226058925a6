"""Hash one file safely, and the loop a hashing worker process runs (standard library only).

Rules this module enforces (every hashing mode uses it: in-thread, threads and processes):

* A file is opened relative to its directory descriptor with ``O_NOFOLLOW | O_NONBLOCK`` (a link
  swapped in after the walk fails to open; a FIFO swapped in does not block), then checked with
  ``fstat``: anything but a regular file is reported and never read.
* Exactly ``st_size`` bytes (from that ``fstat``) are read; files of 64 KiB or more in 1 MiB
  chunks into one reused per-thread buffer, so memory does not grow with file size. A file whose
  size, mtime, ctime, inode or device differ between the ``fstat`` before and after reading, or
  that ends early, is reported as ``changed`` and never given a digest.
* A worker reaches a directory only from the tree's root descriptor, one component at a time
  with ``O_DIRECTORY | O_NOFOLLOW``: a directory swapped for a symlink after the walk fails to
  open, and its files are reported as ``changed``, never read through the link. Workers only
  open names the parent sends, and the parent sends only names its safe walk found.
* In a worker's task, small regular files go through one loop with exactly these checks
  (``_hash_small_run``, ADR 0098; in C where ``dta._speedups`` has ``hash_small_run`` and the
  ``_read_small`` seam is not replaced, ADR 0102); any other file is opened afresh by
  ``hash_one``, and a file that loop found changed is reported, never retried.
* Only the standard library is imported, so a worker can run this file as a script in a fresh,
  isolated interpreter (``python -I -S``) that loads nothing of dta or of the caller.

Wire format on the worker's socket (both directions): a 4-byte little-endian length, then the
message. Task: ``prefix NUL name NUL name ...`` (UTF-8; safe paths contain no NUL). Result:
``0x00`` + n sizes (``<q``) + n raw SHA-256 digests when every file was hashed, otherwise
``0x01`` + per file either ``0x00 <q size> digest`` or ``0x01 <H,H lengths> kind reason``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import signal
import stat
import struct
import sys
import threading
from collections.abc import Callable

__all__ = [
    "CHUNK",
    "SMALL",
    "Failure",
    "decode_result",
    "hash_one",
    "open_dir",
    "run_task",
    "serve",
    "special_kind",
]

CHUNK = 1 << 20
SMALL = 64 << 10  # files below this are read with one read() into a fresh bytes object
_FILE_FLAGS = os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
_LENGTH = struct.Struct("<I")
_ENTRY = struct.Struct("<q32s")
_TEXTS = struct.Struct("<HH")
_sha256 = hashlib.sha256
_local = threading.local()

# The C loop of _hash_small_run (ADR 0102), when dta._speedups is built with it: only when this
# file is imported as part of dta (a worker run as a script imports the standard library only)
# and DTA_PURE_PYTHON is not set; otherwise the Python loop below, with the same results.
_SmallRun = Callable[[int, list[bytes], int, int, list[int], list[bytes]], tuple[int, bool]]
_c_small_run: _SmallRun | None = None
if __name__ != "__main__" and not os.environ.get("DTA_PURE_PYTHON"):
    with contextlib.suppress(ImportError):  # built without a C compiler or this function
        from dta._speedups import hash_small_run as _c_small_run


class Failure:
    """Why a file got no digest.

    Attributes:
        kind: ``changed``, ``unreadable``, ``fifo``, ``device``, ``socket`` or ``special``.
        reason: One readable sentence.
    """

    __slots__ = ("kind", "reason")

    def __init__(self, kind: str, reason: str) -> None:
        self.kind = kind
        self.reason = reason

    def __repr__(self) -> str:
        return f"Failure({self.kind!r}, {self.reason!r})"


Outcome = tuple[int, bytes] | Failure


def special_kind(mode: int) -> tuple[str, str]:
    """Kind and reason for a file mode that is neither a regular file nor a directory."""
    if stat.S_ISFIFO(mode):
        return "fifo", "is a FIFO (named pipe); never opened"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device", "is a device file; never opened"
    if stat.S_ISSOCK(mode):
        return "socket", "is a socket; never opened"
    return "special", "is not a regular file or directory; never opened"


def _why(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


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


_READ_SMALL = _read_small  # the original seam: only with it may the C loop stand in


def hash_one(dir_fd: int, name: str | bytes) -> Outcome:
    """Hash one regular file opened relative to ``dir_fd``.

    Args:
        dir_fd: Descriptor of the containing directory.
        name: The file's name in that directory.

    Returns:
        ``(size, raw sha256 digest)`` or a :class:`Failure` saying why no digest was taken.
    """
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return Failure("changed", "was replaced by a symbolic link during the scan")
        return Failure("unreadable", _why(exc))
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            kind, reason = special_kind(before.st_mode)
            return Failure(kind, f"{reason} (it replaced a file during the scan)")
        size = before.st_size
        # Read exactly the size fstat reported; growth after that shows in the second fstat.
        if size < SMALL:
            data = _read_small(fd, size)
            digest = _sha256(data)
            total = len(data)
        else:
            digest = _sha256()
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
        return Failure("unreadable", _why(exc))
    finally:
        os.close(fd)
    if (
        total != size
        or after.st_size != size
        or after.st_mtime_ns != before.st_mtime_ns
        or after.st_ctime_ns != before.st_ctime_ns
        or after.st_ino != before.st_ino
        or after.st_dev != before.st_dev
    ):
        return Failure("changed", "changed while it was being hashed")
    return size, digest.digest()


def open_dir(root_fd: int, prefix: str | bytes) -> int:
    """Open the directory ``prefix`` (``""`` or ``a/b/``) below ``root_fd`` without following links.

    Args:
        root_fd: Descriptor of the tree's root.
        prefix: Relative directory path, empty or ending in ``/``.

    Returns:
        A new descriptor (the caller closes it).

    Raises:
        OSError: A component is missing, not a directory, or a symbolic link.
    """
    parts = os.fsencode(prefix).rstrip(b"/").split(b"/") if prefix else []
    fd = os.dup(root_fd)
    try:
        for component in parts:
            child = os.open(component, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except OSError:
        os.close(fd)
        raise
    return fd


class _DirCache:
    """The last directory a worker opened (consecutive tasks usually share it)."""

    __slots__ = ("fd", "prefix")

    def __init__(self) -> None:
        self.prefix = b""
        self.fd = -1

    def get(self, root_fd: int, prefix: bytes) -> int:
        if self.fd >= 0 and self.prefix == prefix:
            return self.fd
        self.close()
        self.fd = open_dir(root_fd, prefix)
        self.prefix = prefix
        return self.fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _hash_small_run(
    dir_fd: int, names: list[bytes], start: int, sizes: list[int], digests: list[bytes]
) -> tuple[int, Failure | None]:
    """Hash ``names[start:]`` while each is a small regular file; the per-file fast path.

    The same checks as :func:`hash_one` with the lookups hoisted out of the loop: an
    ``O_NOFOLLOW | O_NONBLOCK`` open, ``fstat`` (regular and below ``SMALL``, else stop),
    exactly ``st_size`` bytes read, a second ``fstat`` compared on size, mtime, ctime, inode and
    device. Appends to ``sizes``/``digests`` and returns ``(index, failure)`` where it stopped:
    ``failure`` is the ``changed`` finding of that file, or None when the file must go through
    :func:`hash_one` (it is opened afresh there: nothing of this attempt is kept).
    """
    read = _read_small  # looked up per call: the fault-injection seam stays effective
    if _c_small_run is not None and read is _READ_SMALL:
        at, changed = _c_small_run(dir_fd, names, start, SMALL, sizes, digests)
        return at, Failure("changed", "changed while it was being hashed") if changed else None
    fstat, close, sha256 = os.fstat, os.close, _sha256
    flags, small, regular = _FILE_FLAGS, SMALL, stat.S_IFREG
    for index in range(start, len(names)):
        try:
            fd = os.open(names[index], flags, dir_fd=dir_fd)
        except OSError:
            return index, None
        try:
            before = fstat(fd)
            size = before.st_size
            if size >= small or stat.S_IFMT(before.st_mode) != regular:
                return index, None
            data = read(fd, size)
            after = fstat(fd)
        except OSError:
            return index, None
        finally:
            close(fd)
        if (
            len(data) != size
            or after.st_size != size
            or after.st_mtime_ns != before.st_mtime_ns
            or after.st_ctime_ns != before.st_ctime_ns
            or after.st_ino != before.st_ino
            or after.st_dev != before.st_dev
        ):
            return index, Failure("changed", "changed while it was being hashed")
        sizes.append(size)
        digests.append(sha256(data).digest())
    return len(names), None


def _hash_names(dir_fd: int, names: list[bytes]) -> list[Outcome] | tuple[list[int], list[bytes]]:
    """``(sizes, digests)`` when every file was hashed, else one :data:`Outcome` per file."""
    sizes: list[int] = []
    digests: list[bytes] = []
    failed: dict[int, Failure] = {}
    at = 0
    while at < len(names):
        at, failure = _hash_small_run(dir_fd, names, at, sizes, digests)
        if at == len(names):
            break
        outcome = failure if failure is not None else hash_one(dir_fd, names[at])
        if isinstance(outcome, Failure):
            failed[at] = outcome
        else:
            sizes.append(outcome[0])
            digests.append(outcome[1])
        at += 1
    if not failed:
        return sizes, digests
    hashed = iter(zip(sizes, digests, strict=True))
    return [failed[i] if i in failed else next(hashed) for i in range(len(names))]


def run_task(root_fd: int, task: bytes, cache: _DirCache | None = None) -> bytes:
    """Hash the files a task names and encode the result message (see the module docstring).

    Args:
        root_fd: Descriptor of the tree's root.
        task: ``prefix NUL name NUL name ...``.
        cache: Directory cache to reuse between tasks (a fresh one when None).
    """
    prefix, *names = task.split(b"\0")
    own = cache is None
    dirs = _DirCache() if cache is None else cache
    try:
        try:
            dir_fd = dirs.get(root_fd, prefix)
        except OSError as exc:
            why = Failure("changed", f"directory changed during scan: {_why(exc)}")
            result: list[Outcome] | tuple[list[int], list[bytes]] = [why] * len(names)
            if not names:
                result = [], []
        else:
            result = _hash_names(dir_fd, names)
    finally:
        if own:
            dirs.close()
    if isinstance(result, tuple):
        sizes, digests = result
        return b"\x00" + struct.pack(f"<{len(sizes)}q", *sizes) + b"".join(digests)
    parts = [b"\x01"]
    for outcome in result:
        if isinstance(outcome, Failure):
            kind, reason = outcome.kind.encode(), outcome.reason.encode()
            parts += [b"\x01", _TEXTS.pack(len(kind), len(reason)), kind, reason]
        else:
            parts += [b"\x00", _ENTRY.pack(*outcome)]
    return b"".join(parts)


def decode_result(message: bytes, count: int) -> tuple[tuple[int, ...], str] | list[Outcome]:
    """Decode a result message for ``count`` files.

    Returns:
        ``(sizes, hex digests concatenated)`` when every file was hashed, else one
        :data:`Outcome` per file.

    Raises:
        ValueError: The message is malformed.
    """
    if message[:1] == b"\x00":
        end = 1 + 8 * count
        if len(message) != end + 32 * count:
            raise ValueError("hashing worker sent a result of the wrong length")
        return struct.unpack_from(f"<{count}q", message, 1), message[end:].hex()
    if message[:1] != b"\x01":
        raise ValueError("hashing worker sent an unknown result type")
    outcomes: list[Outcome] = []
    at = 1
    for _ in range(count):
        tag = message[at : at + 1]
        if tag == b"\x00":
            size, digest = _ENTRY.unpack_from(message, at + 1)
            outcomes.append((size, digest))
            at += 1 + _ENTRY.size
        elif tag == b"\x01":
            klen, rlen = _TEXTS.unpack_from(message, at + 1)
            at += 1 + _TEXTS.size
            kind = message[at : at + klen].decode()
            reason = message[at + klen : at + klen + rlen].decode()
            outcomes.append(Failure(kind, reason))
            at += klen + rlen
        else:
            raise ValueError("hashing worker sent a malformed result")
    if at != len(message):
        raise ValueError("hashing worker sent trailing bytes")
    return outcomes


def _read_exact(fd: int, pending: bytearray, count: int) -> bytes | None:
    while len(pending) < count:
        data = os.read(fd, max(1 << 16, count - len(pending)))
        if not data:
            return None
        pending += data
    out = bytes(pending[:count])
    del pending[:count]
    return out


def serve(sock_fd: int, root_fd: int) -> None:
    """Answer tasks from ``sock_fd`` until the parent closes it.

    Args:
        sock_fd: This worker's end of the socket to the parent (blocking).
        root_fd: Descriptor of the tree's root.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent kills and reaps us
    cache = _DirCache()
    pending = bytearray()
    try:
        while True:
            header = _read_exact(sock_fd, pending, _LENGTH.size)
            if header is None:
                return
            task = _read_exact(sock_fd, pending, _LENGTH.unpack(header)[0])
            if task is None:
                return
            result = run_task(root_fd, task, cache)
            message = memoryview(_LENGTH.pack(len(result)) + result)
            while message:
                message = message[os.write(sock_fd, message) :]
    except (BrokenPipeError, ConnectionResetError):
        return  # the parent went away; nothing is left to report to
    finally:
        cache.close()


if __name__ == "__main__":
    # python -I -S _hashing_worker.py SOCKET_FD ROOT_FD  (started by dta._hashing_procs)
    serve(int(sys.argv[1]), int(sys.argv[2]))
