"""File and directory-tree scanning: sniffing, dispatch by format, unscanned files reported.

Rules this module enforces:

* Every path given or found is reported: regular files are scanned (``scanned``), binary,
  over-limit, symlinked and special files are listed as ``unscanned`` with a reason, and
  unreadable files as ``error`` — nothing is silently skipped.
* Symlinks are never followed (neither as files nor while walking directories); FIFOs, sockets
  and devices are never opened.
* Encoding: UTF-8 (BOM allowed), UTF-16 with BOM, else GB 18030 if the head decodes; NUL bytes,
  known binary signatures (PDF, ZIP/Office, images, archives, executables) or undecodable heads
  make a file binary.
* Format by extension: ``.csv``, ``.tsv``/``.tab``, ``.json``, ``.jsonl``/``.ndjson``, anything
  else is text; a structured file that does not parse is rescanned as text with the reason
  recorded. JSON over :data:`~dta.classify._structured.JSON_MAX` is scanned as text.
* Report paths are relative POSIX paths: relative to the directory when one directory is
  scanned, otherwise relative to the common parent of the arguments.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from dta.classify._report import Collector, ReportContext
from dta.classify._stream import scan_stream
from dta.classify._structured import JSON_MAX, NotStructured, scan_csv, scan_json, scan_jsonl
from dta.errors import InputError

__all__ = ["Progress", "iter_targets", "scan_file"]

Progress = Callable[[str, int], None]
_SNIFF = 8192
_MAGIC = (
    (b"%PDF-", "pdf"),
    (b"PK\x03\x04", "zip container (docx/xlsx/jar/...)"),
    (b"\x89PNG", "png image"),
    (b"\xff\xd8\xff", "jpeg image"),
    (b"GIF8", "gif image"),
    (b"\x1f\x8b", "gzip"),
    (b"7z\xbc\xaf", "7z archive"),
    (b"\xfd7zXZ", "xz"),
    (b"BZh", "bzip2"),
    (b"\x7fELF", "executable"),
    (b"MZ", "executable"),
    (b"SQLite format 3", "sqlite database"),
)
_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".geojson": "json",
}


def sniff(head: bytes) -> tuple[str | None, int, str]:
    """Return ``(encoding or None if binary, BOM length, reason)`` for a file head."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", 3, ""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return ("utf-16-le" if head.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"), 2, ""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return None, 0, f"binary ({kind})"
    if b"\x00" in head:
        return None, 0, "binary (NUL bytes)"
    for enc in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(enc)("strict").decode(head, final=False)
        except UnicodeDecodeError:
            continue
        return enc, 0, ""
    return None, 0, "binary (not UTF-8, UTF-16 or GB 18030 text)"


def _hash_rest(handle: Any, digest: Any, progress: Progress | None, rel: str) -> None:
    while True:
        block = handle.read(1 << 20)
        if not block:
            return
        digest.update(block)
        if progress is not None:
            progress(rel, len(block))


def scan_file(
    path: Path,
    rel: str,
    ctx: ReportContext,
    *,
    max_size: int | None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Scan one path (not followed if a symlink) and return its report entry."""
    entry: dict[str, Any] = {"path": rel, "size": 0, "findings": {}}
    try:
        st = os.lstat(path)
    except OSError as exc:
        return _unscanned(ctx, entry, rel, "error", f"cannot stat: {exc.strerror or exc}")
    if stat.S_ISLNK(st.st_mode):
        return _unscanned(ctx, entry, rel, "unscanned", "symlink (not followed)")
    if not stat.S_ISREG(st.st_mode):
        return _unscanned(ctx, entry, rel, "unscanned", "not a regular file")
    entry["size"] = st.st_size
    try:
        fd = os.open(
            path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        )
    except OSError as exc:
        return _unscanned(ctx, entry, rel, "error", f"cannot open: {exc.strerror or exc}")
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between lstat and open
        os.close(fd)
        return _unscanned(ctx, entry, rel, "unscanned", "not a regular file")
    try:
        with os.fdopen(fd, "rb") as handle:
            return _scan_open(
                handle,
                path=path,
                rel=rel,
                ctx=ctx,
                entry=entry,
                max_size=max_size,
                progress=progress,
            )
    except OSError as exc:
        return _unscanned(ctx, entry, rel, "error", f"read failed: {exc.strerror or exc}")


def _scan_open(
    handle: Any,
    *,
    path: Path,
    rel: str,
    ctx: ReportContext,
    entry: dict[str, Any],
    max_size: int | None,
    progress: Progress | None,
) -> dict[str, Any]:
    size = entry["size"]
    digest = hashlib.sha256()
    head = handle.read(_SNIFF)
    encoding, bom, reason = sniff(head)
    if encoding is None or (max_size is not None and size > max_size):
        digest.update(head)
        _hash_rest(handle, digest, progress, rel)
        entry["sha256"] = digest.hexdigest()
        why = reason or f"larger than the {max_size}-byte limit"
        return _unscanned(ctx, entry, rel, "unscanned", why)
    fmt = _FORMATS.get(path.suffix.lower(), "text")
    if fmt == "json" and size > JSON_MAX:
        fmt, note = "text", f"JSON larger than {JSON_MAX} bytes: scanned as text"
    else:
        note = ""

    def feed(block: bytes) -> None:
        digest.update(block)
        if progress is not None:
            progress(rel, len(block))

    collector = Collector(ctx)
    if fmt != "text":
        handle.seek(bom)
        digest.update(head[:bom])
        try:
            if fmt in ("csv", "tsv"):
                reader: Any = _Tee(handle, feed)
                scan_csv(reader, encoding, collector, delimiter="," if fmt == "csv" else "\t")
                _hash_rest(handle, digest, progress, rel)
            elif fmt == "json":
                data = handle.read()
                feed(data)
                scan_json(data, collector)
            else:
                scan_jsonl(handle, collector, feed)
        except NotStructured as exc:
            note = f"{exc}: scanned as text"
            fmt = "text"
            digest = hashlib.sha256()
            collector = Collector(ctx)
    if fmt == "text":
        handle.seek(bom)
        digest.update(head[:bom])
        scan_stream(handle, encoding, collector, bom=bom, on_bytes=feed)
    entry.update(status="scanned", format=fmt, encoding=encoding, sha256=digest.hexdigest())
    if note:
        entry["reason"] = note
    collector.finish(entry, rel)
    return _ordered(entry)


class _Tee:
    """Binary reader that reports every block it returns (for hashing while parsing)."""

    def __init__(self, handle: Any, feed: Callable[[bytes], None]):
        self._h = handle
        self._feed = feed

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return bool(self._h.closed)

    def read(self, n: int = -1) -> bytes:
        data: bytes = self._h.read(n)
        self._feed(data)
        return data

    def read1(self, n: int = -1) -> bytes:
        return self.read(n if n is not None and n > 0 else 1 << 16)

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def flush(self) -> None:
        return None


def _unscanned(
    ctx: ReportContext, entry: dict[str, Any], rel: str, status: str, reason: str
) -> dict[str, Any]:
    entry["status"] = status
    entry["reason"] = reason
    collector = Collector(ctx)
    collector.finish(entry, rel, default=ctx.policy.unscanned_level)
    return _ordered(entry)


def _ordered(entry: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(entry.items()))


def iter_targets(paths: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[Path, str]]:
    """Yield ``(path, relative POSIX path)`` for every file below the given paths, sorted.

    Raises:
        InputError: A given path does not exist.
    """
    roots = [Path(p) for p in paths]
    if not roots:
        raise InputError("no paths to scan")
    for r in roots:
        if not os.path.lexists(r):
            raise InputError(f"{r}: no such file or directory")
    if len(roots) == 1 and roots[0].is_dir() and not roots[0].is_symlink():
        base = roots[0]
    else:
        parents = [
            os.path.abspath(r.parent if not (r.is_dir() and len(roots) == 1) else r) for r in roots
        ]
        base = Path(os.path.commonpath(parents))
    found: list[tuple[bytes, Path, str]] = []
    for r in roots:
        if r.is_dir() and not r.is_symlink():
            for dirpath, dirnames, filenames in os.walk(r, followlinks=False):
                dirnames.sort()
                for name in [
                    *filenames,
                    *(d for d in dirnames if os.path.islink(os.path.join(dirpath, d))),
                ]:
                    full = Path(dirpath) / name
                    rel = _rel(full, base)
                    found.append((rel.encode("utf-8", "surrogateescape"), full, rel))
        else:
            rel = _rel(r, base)
            found.append((rel.encode("utf-8", "surrogateescape"), r, rel))
    found.sort(key=lambda t: t[0])
    for _, full, rel in found:
        yield full, rel


def _rel(path: Path, base: Path) -> str:
    try:
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(base))
    except ValueError:
        rel = path.name
    return Path(rel).as_posix()
