"""The full RFC 8785 (JCS) algorithm and ECMAScript number formatting, in plain Python.

This is the reference path behind :func:`dta.canonical_bytes`: the fast path in ``_json.py`` is
only taken where it provably produces the same bytes, and everything else comes here.

Rules this module enforces (RFC 8785 section 3.2):

* object members sorted by the UTF-16 code units of their names; member names must be ``str``;
* no insignificant whitespace; output encoded as UTF-8;
* strings escaped minimally: ``\\"``, ``\\\\``, ``\\b \\f \\n \\r \\t``, other C0 controls as
  ``\\u00xx`` (lowercase hex), everything else literal; lone surrogates are rejected;
* numbers in ECMAScript ``Number.prototype.toString`` form (:func:`format_es6`); integers outside
  +-(2**53 - 1) and non-finite floats are rejected;
* nesting depth at most :data:`MAX_DEPTH` containers;
* only dict/Mapping, list/tuple/Sequence, str, int, float, bool and None are JSON values.

Every rejection is a :class:`~dta.errors.CanonicalError` naming the JSON pointer of the value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from dta.errors import CanonicalError

__all__ = ["MAX_DEPTH", "MAX_SAFE_INTEGER", "encode", "escape_pointer", "format_es6"]

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 64

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
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


def escape_pointer(token: str | int) -> str:
    """Escape one JSON pointer reference token (RFC 6901)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def format_es6(value: float) -> str:
    """Format a finite float as ECMAScript ``Number.prototype.toString`` does.

    Python's ``repr`` already yields the shortest round-tripping digits (closest to the value among
    the shortest), which is what ECMAScript requires; only the layout differs. ``repr`` writes
    positional notation exactly for 1e-4 <= |x| < 1e16, a sub-range of ECMAScript's positional
    range 1e-7 <= |x| < 1e21, so there only a trailing ``.0`` must go. Outside 1e-7 <= |x| < 1e21
    both write ``d[.ddd]e<exponent>`` and only the exponent's sign and zero padding differ. In
    between, the digits and the decimal exponent are re-laid out by the ECMAScript rules.

    Args:
        value: A finite float.

    Returns:
        The ECMAScript string form.

    Raises:
        CanonicalError: The value is NaN or infinite.
    """
    text = float.__repr__(value)
    if "e" not in text and "n" not in text:  # positional, finite
        if value == 0:
            return "0"
        return text[:-2] if text.endswith(".0") else text
    if not math.isfinite(value):
        raise CanonicalError("NaN and Infinity cannot be canonicalised")
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text)
    if exponent >= 21 or exponent <= -7:  # exponent form in both: drop the exponent's zero pad
        return f"{mantissa}e{'+' if exponent > 0 else '-'}{abs(exponent)}"
    sign = "-" if value < 0 else ""
    mantissa, _, exp_text = text.lstrip("-").partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    digits = int_part + frac_part
    point = len(int_part) + int(exp_text)
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


# A location is a linked tuple (parent location, key or index), or () for the root; the JSON
# pointer string is only built when an error is raised.
_Location = tuple[Any, ...]


def _pointer(location: _Location) -> str:
    tokens: list[str] = []
    while location:
        location, token = location
        tokens.append(escape_pointer(token))
    return "".join(f"/{t}" for t in reversed(tokens))


def _fail(message: str, location: _Location) -> CanonicalError:
    return CanonicalError(message, pointer=_pointer(location))


def _encode(value: Any, out: list[str], location: _Location, depth: int) -> None:
    kind = type(value)
    if kind is str:
        if _LONE_SURROGATE.search(value):
            raise _fail("lone surrogate cannot be encoded", location)
        out.append('"' + _NEEDS_ESCAPE.sub(_escape, value) + '"')
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif kind is float or (kind is not int and isinstance(value, float)):
        if not math.isfinite(value):
            raise _fail("NaN and Infinity cannot be canonicalised", location)
        out.append(format_es6(value))
    elif isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise _fail("integer outside +-(2**53 - 1)", location)
        out.append(str(int(value)))
    elif isinstance(value, str):
        _encode(str(value), out, location, depth)
    elif isinstance(value, Mapping):
        if depth >= MAX_DEPTH:
            raise _fail(f"nesting deeper than {MAX_DEPTH}", location)
        for key in value:
            if not isinstance(key, str):
                raise _fail(f"object member name {key!r} is not a string", location)
        out.append("{")
        first = True
        for key in sorted(value, key=_utf16_key):
            if not first:
                out.append(",")
            first = False
            _encode(str(key), out, (location, key), depth + 1)
            out.append(":")
            _encode(value[key], out, (location, key), depth + 1)
        out.append("}")
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        if depth >= MAX_DEPTH:
            raise _fail(f"nesting deeper than {MAX_DEPTH}", location)
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out, (location, i), depth + 1)
        out.append("]")
    else:
        raise _fail(f"{type(value).__name__} is not a JSON value", location)


def _escape(match: re.Match[str]) -> str:
    return _ESCAPES[match.group()]


def encode(obj: Any) -> bytes:
    """Return the RFC 8785 canonical bytes of ``obj`` by the full algorithm.

    Args:
        obj: A JSON value built from Mapping / Sequence / str / int / float / bool / None.

    Returns:
        The canonical UTF-8 bytes.

    Raises:
        CanonicalError: The value cannot be represented exactly in JCS (see the module rules).
    """
    out: list[str] = []
    _encode(obj, out, (), 0)
    return "".join(out).encode("utf-8")
