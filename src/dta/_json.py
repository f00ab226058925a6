"""Strict JSON parsing and RFC 8785 canonical bytes.

This is the bottom layer of dta: it imports nothing else from the package except ``errors`` and
its own private helpers (``_json_jcs``: the full JCS algorithm; ``_json_strict``: the locating
parser).

Rules enforced by :func:`loads` (I-JSON, RFC 7493, plus dta limits), each rejection a
:class:`~dta.errors.JSONError` that names the byte offset (character offset for ``str`` input)
and, inside the value, the JSON pointer:

* input is UTF-8 without a byte-order mark; invalid UTF-8 is rejected;
* no duplicate object member names; no lone surrogates (escaped or raw) in any string;
* no ``NaN``/``Infinity``; integers within +-(2**53 - 1) and no ``-0``; no floats unless
  ``allow_floats=True`` (and then only finite ones: ``1e400`` is rejected);
* nesting depth at most :data:`MAX_DEPTH`; nothing but whitespace after the value;
* input at most ``max_size`` bytes.

:func:`loads_canonical` additionally requires the input to be exactly the canonical bytes of the
value it holds (raising :class:`~dta.errors.CanonicalError` with the first differing offset).

Rules enforced by :func:`canonical_bytes` (RFC 8785 JCS; see ``_json_jcs``): members sorted by the
UTF-16 code units of their names, no insignificant whitespace, minimal string escapes, numbers in
ECMAScript form, UTF-8 output; values JCS cannot represent exactly raise ``CanonicalError``.

Fast path of :func:`canonical_bytes` and why it equals JCS. ``orjson.dumps(obj, option=SORT_KEYS |
STRICT_INTEGER | PASSTHROUGH_SUBCLASS | PASSTHROUGH_DATACLASS | PASSTHROUGH_DATETIME)`` is used,
and its output accepted only when afterwards

(a) a walk (``_json_walk.levels``: C when the optional extension is built, else a breadth-first
    ``gc.get_referents`` walk), type-checking each level before descending, finds only exact
    ``dict``, ``list``, ``tuple``, ``str``, ``int``, ``bool`` and ``None`` on at most
    :data:`MAX_DEPTH` levels — so no floats (orjson would write NaN as ``null`` and finite floats
    in a non-ECMAScript layout), no subclasses and none of the types orjson serialises natively
    but JSON does not have (UUID, Enum, Fragment, ...);
(b) the output does not contain both a character >= U+10000 and one in U+E000..U+FFFF.

Given (a) and orjson's success: every member name is an exact ``str`` (orjson raises otherwise),
every integer is within +-(2**53 - 1) (STRICT_INTEGER raises otherwise), for which ECMAScript
``Number.prototype.toString`` is the plain decimal orjson writes; no string holds a lone surrogate
(orjson raises); orjson escapes exactly ``"``, ``\\``, ``\\b \\f \\n \\r \\t`` and the other C0
controls as lowercase ``\\u00xx``, like JCS; it writes no whitespace and UTF-8; the walk stops at
MAX_DEPTH + 1 levels, and orjson rejects cycles first (its recursion limit). Member order: orjson
sorts names by their UTF-8 bytes, i.e. by code points. Code-point order and UTF-16 order of two
names differ only where, at the first differing position, one name has a character >= U+10000 and
the other one in U+E000..U+FFFF (a BMP character below U+D800 sorts first either way, and
surrogates do not occur). Names are part of the output, so (b) excludes that. Hence the bytes are
the JCS bytes. Anything else (floats, subclasses, other Mappings, deep or odd input) takes the full
algorithm, which is also the one that raises the precise error.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

from dta._json_jcs import MAX_DEPTH, MAX_SAFE_INTEGER, encode
from dta._json_strict import parse as _strict_parse
from dta._json_walk import levels as _levels
from dta._json_walk import order_safe as _order_safe
from dta._json_walk import parse_canonical as _parse_canonical
from dta.errors import CanonicalError, JSONError

__all__ = [
    "DEFAULT_MAX_SIZE",
    "MAX_DEPTH",
    "MAX_SAFE_INTEGER",
    "canonical_bytes",
    "dumps",
    "loads",
    "loads_canonical",
]

DEFAULT_MAX_SIZE = 64 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
# Sorted keys, 53-bit integers; subclasses, dataclasses and datetimes are refused (-> full path).
_ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_STRICT_INTEGER
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
)
_orjson_dumps = orjson.dumps
_orjson_loads = orjson.loads
_NOT_PROVED = object()  # parse_canonical's answer for "not proved"


class _Reject(Exception):
    """Internal: raised from json hooks; loads then locates the problem precisely."""


def _no_constant(name: str) -> Any:
    raise _Reject(name)


def _strict_int(text: str) -> int:
    if len(text) > 17 or text == "-0":  # also keeps int() clear of its digit limit
        raise _Reject(text)
    value = int(text)
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    raise _Reject(text)


def _no_float(text: str) -> Any:
    raise _Reject(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # NaN cannot come from a JSON number
        raise _Reject(text)
    return value


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Reject("duplicate")
    return result


_DECODERS = {
    allow: json.JSONDecoder(
        object_pairs_hook=_pairs,
        parse_int=_strict_int,
        parse_float=_finite_float if allow else _no_float,
        parse_constant=_no_constant,
    )
    for allow in (False, True)
}


def _fast(obj: Any) -> bytes | None:
    """Return the fast canonical form of ``obj`` where it provably equals JCS, else None."""
    try:
        out = _orjson_dumps(obj, None, _ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: unsupported type, big int, surrogate, cycle
        return None
    if 0 < _levels(obj, MAX_DEPTH, False) <= MAX_DEPTH and (out.isascii() or _order_safe(out)):
        return out
    return None


def canonical_bytes(obj: Any) -> bytes:
    """Return the RFC 8785 (JCS) canonical UTF-8 bytes of a JSON value.

    Args:
        obj: dict / list / tuple / str / int / float / bool / None, nested.

    Returns:
        The canonical bytes, without a trailing newline.

    Raises:
        CanonicalError: The value cannot be represented exactly in JCS (the message names the
            JSON pointer).
    """
    # _fast inlined: this is the hot path of every hash and signature.
    try:
        out = _orjson_dumps(obj, None, _ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: unsupported type, big int, surrogate, cycle
        return encode(obj)
    if 0 < _levels(obj, MAX_DEPTH, False) <= MAX_DEPTH and (out.isascii() or _order_safe(out)):
        return out
    return encode(obj)


def dumps(obj: Any) -> str:
    """Return indented, key-sorted JSON for humans (not for hashing or signing).

    Raises:
        CanonicalError: The value is not representable in canonical JSON.
    """
    canonical_bytes(obj)  # same value rules as the signed form
    return json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def _decode(data: bytes | bytearray | memoryview | str, max_size: int) -> str:
    if isinstance(data, str):
        if len(data) > max_size:
            raise JSONError(f"input larger than the {max_size}-byte cap", position=max_size)
        if data.startswith("\ufeff"):
            raise JSONError("byte-order mark is not allowed", position=0)
        return data
    raw = data if isinstance(data, bytes) else bytes(data)
    if len(raw) > max_size:
        raise JSONError(f"input larger than the {max_size}-byte cap", position=max_size)
    if raw.startswith(_BOM):
        raise JSONError("byte-order mark is not allowed", position=0)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JSONError("invalid UTF-8", position=exc.start) from exc


def _needs_tree_check(text: str, value: Any) -> bool:
    """True if ``value`` may hold a lone surrogate or nest deeper than MAX_DEPTH."""
    if (
        text.count("[") + text.count("{") > MAX_DEPTH
        and _levels(value, MAX_DEPTH, True) > MAX_DEPTH
    ):
        return True  # levels also counts the scalar level: the strict parser decides
    if text.isascii():
        return "\\u" in text and _SURROGATE_ESCAPE.search(text) is not None
    return _LONE_SURROGATE.search(text) is not None or _SURROGATE_ESCAPE.search(text) is not None


def loads(
    data: bytes | bytearray | memoryview | str,
    *,
    allow_floats: bool = False,
    max_size: int = DEFAULT_MAX_SIZE,
) -> Any:
    """Parse strict JSON.

    Args:
        data: UTF-8 bytes (preferred) or an already-decoded string.
        allow_floats: Accept finite non-integer numbers (returned as ``float``).
        max_size: Largest accepted input, in bytes (characters for ``str``).

    Returns:
        The parsed value (dict, list, str, int, float, bool or None).

    Raises:
        JSONError: The input breaks one of the module's rules; the message gives the byte offset
            (character offset for ``str`` input) and the JSON pointer where known.
    """
    text = _decode(data, max_size)
    is_bytes = not isinstance(data, str)
    try:
        value = _DECODERS[allow_floats].decode(text)
    except (_Reject, json.JSONDecodeError, RecursionError):
        # The C decoder found a problem; the strict parser finds the first one and says where.
        # (RecursionError can also mean the caller's stack is deep: then the strict parser,
        # which does not recurse, returns the value.)
        return _strict_parse(text, allow_floats=allow_floats, byte_offsets=is_bytes)
    if _needs_tree_check(text, value):
        return _strict_parse(text, allow_floats=allow_floats, byte_offsets=is_bytes)
    return value


def _first_difference(a: bytes, b: bytes) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def loads_canonical(
    line: bytes | bytearray | memoryview | str,
    *,
    allow_floats: bool = False,
    max_size: int = DEFAULT_MAX_SIZE,
) -> Any:
    """Parse ``line`` with all :func:`loads` rules and require it to be canonical (RFC 8785).

    This is the audit-log verifier's check ``canonical_bytes(loads(line)) == line`` done fast.
    With the C extension, a one-pass scanner proves most lines canonical from their bytes and
    builds the value in the same pass. Otherwise (or where the scanner cannot decide) orjson parses
    and re-serialises (sorted keys, 53-bit integers); if that gives ``line`` back, and the value
    passes the fast path's walk (no float, at most MAX_DEPTH deep) and is safe for the UTF-16
    member order, then ``line`` is the JCS form of the value (module docstring), and
    being canonical it has no duplicate names, whitespace, BOM, lone surrogates or odd numbers, so
    :func:`loads` would accept it with the same value. Anything else is decided by the precise
    path, which raises the located error.

    Args:
        line: The bytes of one document (for a JSONL record: without the newline); a ``str`` is
            taken as its UTF-8 encoding.
        allow_floats: Accept finite non-integer numbers.
        max_size: Largest accepted input, in bytes.

    Returns:
        The parsed value.

    Raises:
        JSONError: The line is not strict JSON (with offset / pointer).
        CanonicalError: The line is strict JSON but not its canonical form (with the offset of
            the first differing byte).
    """
    if type(line) is bytes and _parse_canonical is not None and len(line) <= max_size:
        # Proved canonical and within every loads rule by the C scanner, which builds the value
        # in the same pass (``_json_walk``); the default means "not proved".
        value = _parse_canonical(line, MAX_DEPTH, _NOT_PROVED)
        if value is not _NOT_PROVED:
            return value
    if isinstance(line, str):
        raw = line.encode("utf-8", "surrogatepass")  # a lone surrogate becomes invalid UTF-8
    else:
        raw = line if isinstance(line, bytes) else bytes(line)
    if len(raw) <= max_size:
        if _parse_canonical is not None and type(line) is not bytes:
            value = _parse_canonical(raw, MAX_DEPTH, _NOT_PROVED)
            if value is not _NOT_PROVED:
                return value
        try:
            value = _orjson_loads(raw)
            out = _orjson_dumps(value, None, _ORJSON_OPTIONS)
        except (orjson.JSONDecodeError, TypeError):
            pass  # the precise path below says what is wrong
        else:
            if (
                out == raw
                and 0 < _levels(value, MAX_DEPTH, False) <= MAX_DEPTH
                and (raw.isascii() or _order_safe(raw))
            ):
                return value
    value = loads(raw, allow_floats=allow_floats, max_size=max_size)
    expected = canonical_bytes(value)
    if expected != raw:
        position = _first_difference(raw, expected)
        raise CanonicalError(
            "not in RFC 8785 canonical form (offset of the first differing byte)",
            position=position,
        )
    return value
