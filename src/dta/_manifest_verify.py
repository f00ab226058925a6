"""Check a directory against a received manifest: one finding per path, nothing outside read.

Rules this module enforces:

* Every path a manifest names is checked with :func:`dta._paths.path_problem` and for NFC /
  case-fold / file-versus-directory duplicates *before* the file system is touched; if any
  fails, the tree is not opened at all (``TreeCheck.tree_read`` is False).
* Only files the safe walk (:mod:`dta._tree`) finds are opened; manifest paths are only looked
  up in a dict, so a manifest cannot direct a read anywhere.
* Findings have a stable ``kind`` (``missing``, ``extra``, ``modified``, ``size-mismatch``,
  ``unsafe``, ``changed``, ``unreadable``, ``unsafe-path``, ``duplicate-path``,
  ``totals-mismatch``), the path, and one clear message; they are sorted by path.
* Signatures are not checked here (content only).
"""

from __future__ import annotations

import contextlib
import operator
import os
import re
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from dta._hashing import Chunk, hash_tree, progress_display
from dta._paths import CollisionIndex, all_safe_and_distinct, path_problem
from dta._tree import KnownFiles
from dta.errors import ManifestError

__all__ = ["Finding", "TreeCheck", "check_items", "iter_items", "verify_tree"]

# The C test of a hashed task against the expected columns (True only when every file
# matches; anything else is looked at by the Python comparison below).
_ChunkMatches = Callable[
    [dict[str, int], list[str], Sequence[int], str, tuple[int, ...], str], bool
]
_c_chunk_matches: _ChunkMatches | None = None
if not os.environ.get("DTA_PURE_PYTHON"):
    with contextlib.suppress(ImportError):  # built without a C compiler or this function
        from dta._speedups import chunk_matches as _c_chunk_matches
# The item columns in one C pass (exact dicts, str paths, int sizes in 0..2**63-1, 64
# lowercase hex digits), or None where any item is otherwise: the Python checks then decide.
_c_columns: Callable[[list[Any]], tuple[list[str], bytes, str] | None] | None = None
if not os.environ.get("DTA_PURE_PYTHON"):
    with contextlib.suppress(ImportError):
        from dta._speedups import manifest_columns as _c_columns

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX_DIGITS = b"0123456789abcdef"
_PATH, _SIZE = operator.itemgetter("path"), operator.itemgetter("size")
_DIGEST, _SHA256 = operator.itemgetter("digest"), operator.itemgetter("sha256")
_REL = operator.itemgetter(1)


@attrs.frozen
class Finding:
    """One discrepancy between a manifest and a directory.

    Attributes:
        kind: ``missing``, ``extra``, ``modified``, ``size-mismatch``, ``unsafe``,
            ``unsafe-path``, ``duplicate-path``, ``changed``, ``unreadable`` or
            ``totals-mismatch``.
        path: The item path concerned (escaped if it is unprintable); ``""`` for the manifest.
        message: One clear reason.
    """

    kind: str
    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """Return ``{"kind", "path", "message"}``."""
        return {"kind": self.kind, "path": self.path, "message": self.message}


@attrs.frozen
class TreeCheck:
    """Result of :func:`verify_tree`.

    Attributes:
        manifest_id: The manifest's id.
        findings: Every discrepancy, sorted by path; empty when the tree matches.
        files: Files the manifest lists.
        bytes: Bytes the manifest lists.
        tree_read: False when the manifest was refused before the tree was touched.
    """

    manifest_id: str
    findings: tuple[Finding, ...]
    files: int
    bytes: int
    tree_read: bool = True

    @property
    def ok(self) -> bool:
        """True when the directory matches the manifest exactly."""
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary; ``discrepancies`` is the list of findings."""
        return {
            "ok": self.ok,
            "manifest": self.manifest_id,
            "files": self.files,
            "bytes": self.bytes,
            "tree_read": self.tree_read,
            "discrepancies": [f.to_dict() for f in self.findings],
        }


def _show(path: Any) -> str:
    text = path if isinstance(path, str) else repr(path)
    return text if path_problem(text) is None else ascii(text)


@attrs.frozen
class _Expected:
    """What a manifest lists: each path's position, and sizes and hex digests by position.

    One dict (path -> position), the sizes in an ``array`` and the digests as one string (64
    characters each): no per-item tuple, and comparing a task reads these without touching the
    manifest's own objects. (Taking a reference to one writes its reference count: after the
    workers are forked, that write copies the page it lies on, ~3-4 us each, one per item.)
    """

    index: dict[str, int]
    sizes: Sequence[int]
    hexes: str
    total: int


def _expected(body: Mapping[str, Any]) -> tuple[_Expected, list[Finding]]:
    items = body.get("items")
    if not isinstance(items, list):
        raise ManifestError("manifest: items must be a list")
    bulk = _bulk_expected(items)
    if bulk is not None:
        expected = bulk
    else:  # one by one, naming each problem
        index: dict[str, int] = {}
        sizes: list[int] = []
        hexes: list[str] = []
        findings: list[Finding] = []
        collisions = CollisionIndex()
        for i, item in enumerate(items):
            # Exact-type checks first: parsed JSON is plain dicts; ABC checks cost ~1 us each.
            path = item.get("path") if type(item) is dict or isinstance(item, Mapping) else None
            problem = path_problem(path)
            if problem is not None:
                findings.append(Finding("unsafe-path", _show(path), f"items/{i}/path {problem}"))
                continue
            assert isinstance(path, str)
            clash = collisions.add(path)
            if clash is not None:
                findings.append(Finding("duplicate-path", path, f"items/{i}/path {clash}"))
                continue
            digest = item.get("digest")
            hexdigest = digest.get("sha256") if isinstance(digest, dict | Mapping) else None
            size, hexdigest = _check_item(i, item.get("size"), hexdigest)
            index[path] = len(sizes)
            sizes.append(size)
            hexes.append(hexdigest)
        expected = _Expected(index, _packed(sizes), "".join(hexes), sum(sizes))
        if findings:
            return expected, findings
    totals = body.get("totals")
    count = len(expected.index)
    if isinstance(totals, Mapping) and (
        totals.get("files") != count or totals.get("bytes") != expected.total
    ):
        message = (
            f"totals say {totals.get('files')} files / {totals.get('bytes')} bytes; "
            f"items add up to {count} / {expected.total}"
        )
        return expected, [Finding("totals-mismatch", "", message)]
    return expected, []


def check_items(manifest_signed: Any) -> tuple[Finding, ...]:
    """Check a manifest's items without touching any file: paths, duplicates, sizes, digests.

    Args:
        manifest_signed: A signed ``dta.manifest`` document (or its body).

    Returns:
        ``unsafe-path``, ``duplicate-path`` and ``totals-mismatch`` findings (empty when fine).

    Raises:
        ManifestError: Not a manifest, or an item without a valid size or digest.
    """
    return tuple(_expected(_manifest_body(manifest_signed))[1])


def _bulk_expected(items: list[Any]) -> _Expected | None:
    """All items proven well-formed with C-speed whole-list checks, or None (check one by one)."""
    columns = _c_columns(items) if _c_columns is not None and type(items) is list else None
    if columns is not None:  # the same checks in one C pass; None leaves them to Python
        paths, raw_sizes, joined = columns
        if not all_safe_and_distinct(paths):
            return None
        packed = array("q")
        packed.frombytes(raw_sizes)
        index = dict(zip(paths, range(len(paths)), strict=True))
        return _Expected(index, packed, joined, sum(packed))
    try:  # C-level maps; anything but mappings with these members raises here
        paths = list(map(_PATH, items))
        sizes = list(map(_SIZE, items))
        hexes = list(map(_SHA256, map(_DIGEST, items)))
    except (TypeError, KeyError, IndexError):
        return None
    if not items:
        return _Expected({}, [], "", 0)
    if set(map(type, sizes)) != {int} or min(sizes) < 0 or set(map(type, hexes)) != {str}:
        return None
    joined = "".join(hexes)
    if (
        set(map(len, hexes)) != {64}
        or not joined.isascii()
        or joined.encode("ascii").translate(None, _HEX_DIGITS)  # any byte left is not hex
        or set(map(type, paths)) != {str}
        or not all_safe_and_distinct(paths)
    ):
        return None
    index = dict(zip(paths, range(len(paths)), strict=True))
    return _Expected(index, _packed(sizes), joined, sum(sizes))


def _packed(sizes: list[int]) -> Sequence[int]:
    """The sizes as a compact array (values, not references to the manifest's objects)."""
    return array("q", sizes) if not sizes or max(sizes) < 1 << 63 else list(sizes)


def _check_item(i: int, size: Any, hexdigest: Any) -> tuple[int, str]:
    if type(size) is not int or size < 0:
        raise ManifestError(f"manifest: items/{i}/size must be a non-negative integer")
    if type(hexdigest) is not str or not _HEX64.fullmatch(hexdigest):
        raise ManifestError(f"manifest: items/{i}/digest/sha256 must be 64 lowercase hex")
    return size, hexdigest


def _manifest_body(manifest_signed: Any) -> Mapping[str, Any]:
    body = manifest_signed.get("signed") if isinstance(manifest_signed, Mapping) else None
    if body is None and isinstance(manifest_signed, Mapping):
        body = manifest_signed
    if not isinstance(body, Mapping) or body.get("_type") != "dta.manifest":
        raise ManifestError("not a dta.manifest document")
    return body


def verify_tree(
    manifest_signed: Any,
    root: str | os.PathLike[str],
    *,
    workers: int | None = None,
    progress: bool | None = None,
    hash_mode: str = "auto",
) -> TreeCheck:
    """Check that ``root`` holds exactly the files a manifest lists, with their sizes and digests.

    Signatures are not checked here (see :func:`dta.envelope.verify` and
    :func:`dta.agreement.check_manifest`); this compares content only.

    Args:
        manifest_signed: A signed ``dta.manifest`` document (or its body).
        root: The received directory.
        workers: Hashing threads or processes (default: CPU count).
        progress: Show a progress line on stderr (None: only on a terminal).
        hash_mode: ``"auto"`` (default: worker processes for trees of many files, started
            safely, see ADR 0066), ``"threads"`` or ``"processes"``.

    Returns:
        A :class:`TreeCheck`; ``ok`` is True only when nothing is missing, extra, modified,
        of the wrong size or unsafe.

    Raises:
        ManifestError: Not a manifest, or an item without a valid size or digest.
        InputError: The root cannot be opened.
        UsageError: Unknown ``hash_mode``.
    """
    body = _manifest_body(manifest_signed)
    manifest_id = str(body.get("id", ""))
    expected, refused = _expected(body)
    index, want_sizes, want_hexes = expected.index, expected.sizes, expected.hexes
    if refused:
        return TreeCheck(manifest_id, tuple(refused), len(index), expected.total, tree_read=False)

    extra: list[str] = []
    findings: list[Finding] = []

    def select(files: list[tuple[str, str]]) -> list[tuple[str, str]]:
        if (type(files) is KnownFiles and files.known is index) or all(
            map(index.__contains__, map(_REL, files))
        ):
            return files  # the usual case: proven by the walk, or here at C speed
        chosen = [f for f in files if f[1] in index]
        extra.extend(rel for _, rel in files if rel not in index)
        return chosen

    def compare(chunk: Chunk) -> None:
        # Called as each task's result arrives, so the comparison overlaps the hashing.
        # A whole task at once, at C speed; only a chunk that differs is looked at file by file.
        rels, got_sizes, got_hexes = chunk
        if _c_chunk_matches is not None and _c_chunk_matches(
            index, rels, want_sizes, want_hexes, got_sizes, got_hexes
        ):
            return  # the same test in C, without a string or int per file (ADR 0102)
        at = list(map(index.__getitem__, rels))
        gather = operator.itemgetter(*at, at[0])  # the extra item: a tuple even for one file
        if gather(want_sizes)[:-1] == got_sizes and got_hexes == "".join(
            [want_hexes[64 * p : 64 * p + 64] for p in at]
        ):
            return
        for i, path in enumerate(rels):
            size, want_size = got_sizes[i], want_sizes[at[i]]
            if size != want_size:
                message = f"size is {size} bytes, manifest says {want_size}"
                findings.append(Finding("size-mismatch", path, message))
            elif got_hexes[64 * i : 64 * i + 64] != want_hexes[64 * at[i] : 64 * at[i] + 64]:
                findings.append(Finding("modified", path, "sha256 differs from the manifest"))

    with progress_display(progress, "verifying") as update:
        found = hash_tree(
            root,
            workers=workers,
            select=select,
            progress=update,
            known=index,
            mode=hash_mode,
            on_chunk=compare,
        )
    findings.extend(Finding("extra", path, "file is not listed in the manifest") for path in extra)
    for entry in found.unsafe:
        kind = entry.kind if entry.kind in ("changed", "unreadable") else "unsafe"
        findings.append(Finding(kind, _show(entry.path), f"{entry.reason}"))
    # Each listed path was hashed or reported (unsafe) at most once: count before searching.
    reported = {entry.path for entry in found.unsafe if entry.path in index}
    if found.files + len(reported) != len(index):
        seen = reported.union(*(rels for rels, _, _ in found.chunks))
        findings.extend(
            Finding("missing", path, "listed in the manifest but not in the directory")
            for path in index
            if path not in seen
        )
    findings.sort(key=lambda f: (f.path, f.kind))  # code-point order == UTF-8 byte order
    return TreeCheck(manifest_id, tuple(findings), len(index), expected.total)


def iter_items(body: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Yield the items of a manifest body (for display)."""
    items = body.get("items", [])
    yield from (i for i in items if isinstance(i, Mapping)) if isinstance(items, list) else ()
