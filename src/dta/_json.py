"""Strict JSON parsing and RFC 8785 canonical bytes.

This is the bottom layer of dta: it imports nothing else from the package except ``errors``.

Rules enforced by :func:`loads` (I-JSON, RFC 7493, plus dta limits):

* input is UTF-8 without a byte-order mark; invalid UTF-8 is rejected;
* no duplicate object member names; no lone surrogates (escaped or raw) in any string;
* no ``NaN``/``Infinity``; integers within +-(2**53 - 1); no floats unless ``allow_floats=True``
  (and then only finite ones);
* nesting depth at most :data:`MAX_DEPTH`; nothing but whitespace after the value;
* input at most ``max_size`` bytes.

Rules enforced by :func:`canonical_bytes` (RFC 8785 JCS): object members sorted by the UTF-16 code
units of their names, no insignificant whitespace, strings escaped minimally, numbers in ECMAScript
``Number.prototype.toString`` form, output encoded as UTF-8. Values JCS cannot represent exactly
(integers outside +-(2**53 - 1), non-finite floats, lone surrogates, non-string keys, other Python
types) raise :class:`~dta.errors.CanonicalError`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from dta.errors import CanonicalError, JSONError

__all__ = [
    "DEFAULT_MAX_SIZE",
    "MAX_DEPTH",
    "MAX_SAFE_INTEGER",
    "canonical_bytes",
    "dumps",
    "loads",
]

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 64
DEFAULT_MAX_SIZE = 64 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class _Reject(Exception):
    """Internal: raised from json hooks; converted to JSONError by loads."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _no_constant(name: str) -> Any:
    raise _Reject(f"{name} is not allowed in JSON")


def _strict_int(text: str) -> int:
    value = int(text)
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    raise _Reject(f"integer {text[:24]} is outside +-(2**53 - 1)")


def _no_float(text: str) -> Any:
    raise _Reject(f"number {text[:24]} is not an integer; floats are not allowed here")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Reject(f"number {text[:24]} overflows a double")
    return value


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Reject(f"duplicate member name {json.dumps(key)[:80]}")
            seen.add(key)
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


def _escape_pointer(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def _check_tree(value: Any) -> None:
    """Check nesting depth and lone surrogates; raise JSONError with the JSON pointer."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        node, pointer, depth = stack.pop()
        if isinstance(node, str):
            if _LONE_SURROGATE.search(node):
                raise JSONError("lone surrogate in string", pointer=pointer)
        elif isinstance(node, dict):
            if depth >= MAX_DEPTH:
                raise JSONError(f"nesting deeper than {MAX_DEPTH}", pointer=pointer)
            for key, child in node.items():
                child_pointer = f"{pointer}/{_escape_pointer(key)}"
                if _LONE_SURROGATE.search(key):
                    raise JSONError("lone surrogate in member name", pointer=child_pointer)
                stack.append((child, child_pointer, depth + 1))
        elif isinstance(node, list):
            if depth >= MAX_DEPTH:
                raise JSONError(f"nesting deeper than {MAX_DEPTH}", pointer=pointer)
            for i, child in enumerate(node):
                stack.append((child, f"{pointer}/{i}", depth + 1))


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
        JSONError: The input breaks one of the module's rules; the message says where.
    """
    if isinstance(data, str):
        if len(data) > max_size:
            raise JSONError(f"input larger than the {max_size}-byte cap", position=max_size)
        if data.startswith("\ufeff"):
            raise JSONError("byte-order mark is not allowed", position=0)
        text = data
    else:
        raw = bytes(data)
        if len(raw) > max_size:
            raise JSONError(f"input larger than the {max_size}-byte cap", position=max_size)
        if raw.startswith(_BOM):
            raise JSONError("byte-order mark is not allowed", position=0)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONError("invalid UTF-8", position=exc.start) from exc
    try:
        value = _DECODERS[allow_floats].decode(text)
    except _Reject as exc:
        raise JSONError(exc.message) from exc
    except json.JSONDecodeError as exc:
        message = "trailing data after the JSON value" if exc.msg == "Extra data" else exc.msg
        raise JSONError(message, position=exc.pos) from exc
    except RecursionError as exc:
        raise JSONError(f"nesting deeper than {MAX_DEPTH}") from exc
    _check_tree(value)
    return value


# --- canonical bytes ---------------------------------------------------------------------------

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
for _code in range(0x20):
    _ESCAPES.setdefault(chr(_code), f"\\u{_code:04x}")
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f]')


def _encode_string(value: str, pointer: str) -> str:
    if _LONE_SURROGATE.search(value):
        raise CanonicalError("lone surrogate cannot be encoded", pointer=pointer)
    return '"' + _NEEDS_ESCAPE.sub(lambda m: _ESCAPES[m.group()], value) + '"'


def _format_float(value: float, pointer: str) -> str:
    """Format a float as ECMAScript ``Number.prototype.toString`` does."""
    if not math.isfinite(value):
        raise CanonicalError("NaN and Infinity cannot be canonicalised", pointer=pointer)
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    text = repr(abs(value))  # shortest round-trip digits, as ECMAScript requires
    mantissa, _, exp_text = text.partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    digits = int_part + frac_part
    point = len(int_part) + (int(exp_text) if exp_text else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k, n = len(digits), point
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        exponent = n - 1
        exp_sign = "+" if exponent >= 0 else "-"
        head = digits[0] if k == 1 else digits[0] + "." + digits[1:]
        body = f"{head}e{exp_sign}{abs(exponent)}"
    return sign + body


def _utf16_key(name: str) -> bytes:
    return name.encode("utf-16-be", "surrogatepass")


def _encode(value: Any, out: list[str], pointer: str, depth: int) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_encode_string(value, pointer))
    elif isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise CanonicalError("integer outside +-(2**53 - 1)", pointer=pointer)
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(_format_float(value, pointer))
    elif isinstance(value, Mapping):
        if depth >= MAX_DEPTH:
            raise CanonicalError(f"nesting deeper than {MAX_DEPTH}", pointer=pointer)
        for key in value:
            if not isinstance(key, str):
                raise CanonicalError(f"object member name {key!r} is not a string", pointer=pointer)
        out.append("{")
        first = True
        for key in sorted(value, key=_utf16_key):
            if not first:
                out.append(",")
            first = False
            child = f"{pointer}/{_escape_pointer(key)}"
            out.append(_encode_string(key, child))
            out.append(":")
            _encode(value[key], out, child, depth + 1)
        out.append("}")
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        if depth >= MAX_DEPTH:
            raise CanonicalError(f"nesting deeper than {MAX_DEPTH}", pointer=pointer)
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out, f"{pointer}/{i}", depth + 1)
        out.append("]")
    else:
        raise CanonicalError(f"{type(value).__name__} is not a JSON value", pointer=pointer)


def canonical_bytes(obj: Any) -> bytes:
    """Return the RFC 8785 (JCS) canonical UTF-8 bytes of a JSON value.

    Args:
        obj: dict / list / tuple / str / int / float / bool / None, nested.

    Returns:
        The canonical bytes, without a trailing newline.

    Raises:
        CanonicalError: The value cannot be represented exactly in JCS.
    """
    out: list[str] = []
    _encode(obj, out, "", 0)
    return "".join(out).encode("utf-8")


def dumps(obj: Any) -> str:
    """Return indented, key-sorted JSON for humans (not for hashing or signing).

    Raises:
        CanonicalError: The value is not representable in canonical JSON.
    """
    canonical_bytes(obj)  # same value rules as the signed form
    return json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
