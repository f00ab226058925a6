"""Safe relative paths for manifest items (DESIGN.md §4).

Rules this module enforces, for paths found on disk and for paths named by a received manifest:

* A path is a non-empty ``str`` of at most 4,096 UTF-8 bytes, relative (no leading ``/``),
  ``/``-separated, in Unicode NFC, and valid UTF-8 (no lone surrogates).
* No segment is empty, ``.`` or ``..``; no segment is longer than 255 UTF-8 bytes; no segment
  ends in a space or a dot (Windows strips them, so ``a.`` and ``a`` would collide there).
* No ``\\``, ``:``, NUL, control characters (Unicode Cc), line/paragraph separators, or
  bidirectional formatting characters (which make a path display as something it is not).
* The first segment does not start with ``~`` (home-directory expansion by shells).
* No segment is a Windows reserved device name (CON, PRN, AUX, NUL, COM1-9, LPT1-9, also with
  superscript digits), with or without an extension (``nul.txt``), in any case.
* A set of paths has no collisions: two paths that are equal after NFC normalisation and Unicode
  case folding are rejected, and so is a path that is also used as a directory of another path.
* The bulk check of a manifest's paths may run in C (``_speedups.paths_safe_distinct``, the
  same rules as the Python bulk check, ADR 0102); only its "proven" is taken, anything else is
  decided by the Python check.
"""

from __future__ import annotations

import contextlib
import os
import re
import unicodedata
from collections.abc import Callable

from dta.errors import ManifestError

_c_safe_distinct: Callable[[list[str]], bool] | None = None
if not os.environ.get("DTA_PURE_PYTHON"):
    with contextlib.suppress(ImportError):  # built without a C compiler or this function
        from dta._speedups import paths_safe_distinct as _c_safe_distinct

__all__ = [
    "MAX_PATH_BYTES",
    "MAX_SEGMENT_BYTES",
    "CollisionIndex",
    "all_safe_and_distinct",
    "check_path",
    "child_problem",
    "path_problem",
    "plain_names",
]

MAX_PATH_BYTES = 4096
MAX_SEGMENT_BYTES = 255

# Bidirectional formatting characters: embeddings/overrides, isolates, marks.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_ASCII_BAD = re.compile(r"[\x00-\x1f\x7f\\:]")
# An ASCII path every rule accepts: segments of allowed characters ending in neither space nor
# dot (which also excludes empty, "." and ".." segments), at most 255 bytes, no leading "~".
# Each segment starts with a look-ahead refusing Windows device names.
_NOT_RESERVED = r"(?!(?i:con|prn|aux|nul|com[1-9]|lpt[1-9]) *(?:\.|/|$))"
_SEG = rf"{_NOT_RESERVED}[^/\x00-\x1f\x7f\\:]{{0,254}}[^/\x00-\x1f\x7f\\: .]"
_ASCII_SAFE = re.compile(rf"(?!~){_SEG}(?:/{_SEG})*")
_ASCII_NAME = re.compile(_SEG)
_ASCII_FIRST_NAME = re.compile(rf"(?!~){_SEG}")
_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"{p}{d}" for p in ("COM", "LPT") for d in "123456789\u00b9\u00b2\u00b3"]
)


def _char_problem(ch: str) -> str | None:
    if ch == "\\":
        return "contains a backslash"
    if ch == ":":
        return "contains a colon"
    if ch == "\x00":
        return "contains NUL"
    if ch in _BIDI:
        return f"contains bidirectional control character U+{ord(ch):04X}"
    category = unicodedata.category(ch)
    if category == "Cc":
        return f"contains control character U+{ord(ch):04X}"
    if category in ("Zl", "Zp"):
        return f"contains line separator U+{ord(ch):04X}"
    if category == "Cs":
        return "is not valid UTF-8 (undecodable bytes in the name)"
    return None


def _segment_problem(segment: str, first: bool) -> str | None:
    if segment == "":
        return "has an empty segment"
    if segment in (".", ".."):
        return f"has a {segment!r} segment"
    if first and segment.startswith("~"):
        return "starts with '~'"
    if segment[-1] in " .":
        return f"segment {segment!r} ends in a space or dot"
    if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
        return f"has a segment longer than {MAX_SEGMENT_BYTES} bytes"
    stem = segment.split(".", 1)[0].rstrip(" ").upper()
    if stem in _RESERVED:
        return f"segment {segment!r} is a Windows reserved name"
    return None


def path_problem(path: object) -> str | None:
    """Return why ``path`` is not a safe manifest path, or None when it is safe.

    Args:
        path: The candidate path (anything; non-strings are reported).
    """
    if not isinstance(path, str):
        return "is not a string"
    if path.isascii() and len(path) <= MAX_PATH_BYTES and _ASCII_SAFE.fullmatch(path) is not None:
        return None  # fast path: the common case, decided by one regular expression
    return _detailed_problem(path)


def child_problem(path: str, name: str, first: bool) -> str | None:
    """:func:`path_problem` of ``path`` = a safe parent path + ``/`` + ``name`` (or ``name``
    alone when ``first``), checking only the new segment when it is plain ASCII.

    Args:
        path: The full relative path.
        name: Its last segment.
        first: True when ``name`` is the first segment (no parent).
    """
    pattern = _ASCII_FIRST_NAME if first else _ASCII_NAME
    if name.isascii() and len(path) <= MAX_PATH_BYTES and pattern.fullmatch(name) is not None:
        return None
    return path_problem(path)


def _detailed_problem(path: str) -> str | None:
    """Check every rule one by one and name the first one broken (the reference rules)."""
    if path == "":
        return "is empty"
    if path.isascii():
        bad = _ASCII_BAD.search(path)
        if bad is not None:
            return _char_problem(bad.group())
    else:
        for ch in path:
            problem = _char_problem(ch)
            if problem is not None:
                return problem
    if len(path.encode("utf-8")) > MAX_PATH_BYTES:
        return f"is longer than {MAX_PATH_BYTES} bytes"
    if path.startswith("/"):
        return "is absolute"
    if not path.isascii() and not unicodedata.is_normalized("NFC", path):
        return "is not in Unicode NFC"
    for index, segment in enumerate(path.split("/")):
        problem = _segment_problem(segment, index == 0)
        if problem is not None:
            return problem
    return None


def check_path(path: object, *, where: str = "path") -> str:
    """Return ``path`` if it is safe.

    Args:
        path: The candidate path.
        where: Field or location named in the error message.

    Raises:
        ManifestError: The path breaks a rule; the message names ``where`` and the rule.
    """
    problem = path_problem(path)
    if problem is not None:
        raise ManifestError(f"{where}: unsafe path {_show(path)} {problem}")
    assert isinstance(path, str)
    return path


def _show(path: object) -> str:
    """A printable rendering of a path for messages (escapes controls and bidi characters)."""
    if not isinstance(path, str):
        return f"<{type(path).__name__}>"
    return ascii(path) if any(_char_problem(c) for c in path) else repr(path)


def collision_key(path: str) -> str:
    """The key under which two paths collide: NFC of the case-folded NFC form."""
    if path.isascii():
        return path.lower()
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", path).casefold())


class CollisionIndex:
    """Detects NFC/case-fold duplicates and file-versus-directory clashes in a set of paths."""

    def __init__(self) -> None:
        self._files: dict[str, str] = {}
        self._dirs: dict[str, str] = {}
        self._last_dir = ""

    def add(self, path: str) -> str | None:
        """Record a file path; return why it collides with an earlier one, or None.

        Args:
            path: A safe path (see :func:`path_problem`).
        """
        key = collision_key(path)
        earlier = self._files.get(key)
        if earlier is not None:
            how = "same path" if earlier == path else "same name after NFC and case folding"
            return f"collides with {_show(earlier)} ({how})"
        earlier = self._dirs.get(key)
        if earlier is not None:
            return f"is also a directory of {_show(earlier)}"
        self._files[key] = path
        end = key.rfind("/")
        if end <= 0 or key[:end] == self._last_dir:
            return None  # no directory, or the same one as the previous path (sorted input)
        self._last_dir = key[:end]
        end = len(key)
        while True:
            end = key.rfind("/", 0, end)
            if end <= 0:
                break
            prefix = key[:end]
            if prefix in self._files:
                return f"has directory {_show(self._files[prefix])} that is also a file"
            if prefix in self._dirs:
                break
            self._dirs[prefix] = path
        return None


# Bulk check over "\n" + "\n".join(paths) + "\n" (newline cannot occur in a safe path) as
# ASCII bytes, with byte translations and substring tests, all at C speed. Any hit means "look
# at the paths one by one". Each test is a rule of path_problem restricted to ASCII:
# - a byte other than printable ASCII (newline aside), or a backslash or colon;
# - "\n~": a leading "~";
# - after folding newline and "/" to "/" and space and "." to ".": "//" is an empty segment or
#   an absolute path ("\n/", "//", "/\n", "\n\n"), "./" a segment ending in a space or dot
#   (" /", "./", " \n", ".\n", which also covers "." and ".." segments);
# - a Windows reserved name as a whole segment or before an extension.
_ALLOWED = bytes(c for c in range(0x20, 0x7F) if c not in b"\\:") + b"\n"
_FOLD = bytes.maketrans(b"\n ", b"/.")
_RESERVED_AT = re.compile(rb"(?:con|prn|aux|nul|com[1-9]|lpt[1-9]) *[./\n]")


def _bulk_ascii_ok(text: str) -> bool:
    data = b"\n" + text.encode("ascii") + b"\n"  # callers checked text.isascii()
    if data.translate(None, _ALLOWED) or b"\n~" in data:
        return False
    folded = data.translate(_FOLD)
    if b"//" in folded or b"./" in folded:
        return False
    lowered = data.lower()
    for word in (b"con", b"prn", b"aux", b"nul", b"com", b"lpt"):
        at = lowered.find(word)
        while at != -1:
            if lowered[at - 1] in b"/\n" and _RESERVED_AT.match(lowered, at):
                return False
            at = lowered.find(word, at + 1)
    return True


def plain_names(prefix: str, names: list[str]) -> bool:
    """Fast bulk check of one directory's entries: True only if ``prefix + name`` is a safe path
    for every name, proven for plain ASCII names at C speed.

    False means "not proven here": check each with :func:`child_problem`.

    Args:
        prefix: The directory's safe relative path with a trailing ``/`` (``""`` at the root).
        names: Entry names as read from the directory (no ``/`` in them).
    """
    if not names:
        return True
    longest = max(map(len, names))
    if longest > MAX_SEGMENT_BYTES or len(prefix.encode("utf-8")) + longest > MAX_PATH_BYTES:
        return False
    text = "\n".join(names)
    # _bulk_ascii_ok refuses a leading "~" on every name (only the first segment needs it):
    # stricter than the rules, so such names just take the one-by-one path.
    return text.isascii() and text.count("\n") == len(names) - 1 and _bulk_ascii_ok(text)


def all_safe_and_distinct(paths: list[str]) -> bool:
    """Fast bulk check: True only if every path is safe ASCII and no two collide.

    False means "not proven here": check the paths one by one (:func:`path_problem`,
    :class:`CollisionIndex`) to find the problems and their reasons.

    Args:
        paths: Candidate paths (strings).
    """
    # The C version (ADR 0102) tests the same rules; only its True is taken, so a False
    # (a path it does not prove, or no C) is always decided by the Python check below.
    if _c_safe_distinct is not None and type(paths) is list and _c_safe_distinct(paths):
        return True
    return _py_all_safe_and_distinct(paths)


def _py_all_safe_and_distinct(paths: list[str]) -> bool:
    """:func:`all_safe_and_distinct` in Python (the reference for the C version)."""
    if not paths:
        return True
    if max(map(len, paths)) > MAX_SEGMENT_BYTES:
        return False  # long names: leave the length rules to the one-by-one check
    text = "\n".join(paths)
    if text.count("\n") != len(paths) - 1:
        return False  # a path itself holds a newline
    if not text.isascii() or not _bulk_ascii_ok(text):
        return False
    keys = text.lower().split("\n")
    unique = set(keys)
    if len(unique) != len(keys):
        return False
    dirs: set[str] = set()
    for start in {key.rpartition("/")[0] for key in keys}:
        parent = start
        while parent and parent not in dirs:
            dirs.add(parent)
            parent = parent.rpartition("/")[0]
    return unique.isdisjoint(dirs)
