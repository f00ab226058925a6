"""A precise, iterative strict-JSON parser that says where input breaks the rules.

``dta.loads`` parses with the C decoder of the standard library and hooks; when that decoder or a
hook rejects the input (or a post-check fails) it calls :func:`parse` here to find the *first*
violation in document order and report it with its offset and JSON pointer. It is slower than the
C decoder but never recurses, so a 100,000-deep input is reported at the 65th bracket instead of
exhausting the stack.

Rules (the same as ``dta.loads``): RFC 8259 grammar; no duplicate member names; no
``NaN``/``Infinity``; no lone surrogates (escaped; raw ones cannot survive strict UTF-8 decoding
and are checked for ``str`` input); integers within +-(2**53 - 1) and no ``-0``; numbers with a
fraction or exponent only when floats are allowed, and then finite; at most ``MAX_DEPTH`` nested
containers; nothing but whitespace after the value.

Messages never quote string or number values from the document (they may be sensitive); member
names are quoted, truncated, for duplicates.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from dta._json_jcs import MAX_DEPTH, MAX_SAFE_INTEGER, escape_pointer
from dta.errors import JSONError

__all__ = ["parse"]

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_CONSTANTS = (("NaN", None), ("Infinity", None), ("-Infinity", None))
_LITERALS: tuple[tuple[str, Any], ...] = (("true", True), ("false", False), ("null", None))


class _Fail(Exception):
    def __init__(self, message: str, pos: int, pointer: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.pointer = pointer


class _Frame:
    """One open container: the value being built and where the parser stands in it."""

    __slots__ = ("container", "key", "keys", "pointer")

    def __init__(self, container: dict[str, Any] | list[Any], pointer: str) -> None:
        self.container = container
        self.pointer = pointer
        self.key: str | None = None
        self.keys: set[str] = set()


def _string(text: str, pos: int, pointer: str | None, what: str) -> tuple[str, int]:
    try:
        value, end = json.decoder.scanstring(text, pos + 1, True)  # type: ignore[attr-defined]
    except json.JSONDecodeError as exc:
        raise _Fail(exc.msg, exc.pos, pointer) from None
    if _LONE_SURROGATE.search(value):
        raise _Fail(f"lone surrogate in {what}", pos, pointer)
    return value, end


def _number(text: str, pos: int, pointer: str, allow_floats: bool) -> tuple[Any, int]:
    match = _NUMBER.match(text, pos)
    if match is None or match.end() == pos:
        raise _Fail("expected a JSON value", pos, pointer)
    whole, frac, exp = match.groups()
    end = match.end()
    if frac is None and exp is None:
        if len(whole) > 17 or abs(value := int(whole)) > MAX_SAFE_INTEGER:
            raise _Fail("integer outside +-(2**53 - 1)", pos, pointer)
        if whole == "-0":
            raise _Fail("integer -0 is not allowed", pos, pointer)
        return value, end
    if not allow_floats:
        raise _Fail("number is not an integer; floats are not allowed here", pos, pointer)
    number = float(match.group())
    if math.isinf(number):
        raise _Fail("number overflows a double", pos, pointer)
    return number, end


def _value(text: str, pos: int, pointer: str, allow_floats: bool) -> tuple[Any, int, bool]:
    """Parse a scalar or open a container; the bool says a container was opened."""
    char = text[pos : pos + 1]
    if char == '"':
        value, end = _string(text, pos, pointer, "string")
        return value, end, False
    if char in ("{", "["):
        return ({} if char == "{" else []), pos + 1, True
    for name, _ in _CONSTANTS:
        if text.startswith(name, pos):
            raise _Fail(f"{name} is not allowed in JSON", pos, pointer)
    for name, literal in _LITERALS:
        if text.startswith(name, pos):
            return literal, pos + len(name), False
    if char == "-" or "0" <= char <= "9":
        value, end = _number(text, pos, pointer, allow_floats)
        return value, end, False
    if not char:
        raise _Fail("unexpected end of input; expected a JSON value", pos, pointer)
    raise _Fail("expected a JSON value", pos, pointer)


def _parse(text: str, allow_floats: bool) -> Any:
    stack: list[_Frame] = []
    pos = _WS.match(text, 0).end()  # type: ignore[union-attr]
    pointer = ""
    while True:
        # ---- parse one value at ``pos`` (its pointer is ``pointer``) --------------------------
        value, pos, opened = _value(text, pos, pointer, allow_floats)
        if opened:
            if len(stack) >= MAX_DEPTH:
                raise _Fail(f"nesting deeper than {MAX_DEPTH}", pos - 1, pointer)
            frame = _Frame(value, pointer)
            if stack:
                _attach(stack[-1], value)
            stack.append(frame)
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            closer = "}" if isinstance(value, dict) else "]"
            if text.startswith(closer, pos):
                pos += 1
                stack.pop()
                if not stack:
                    return _finish(text, pos, value)
            else:
                pos, pointer = _member_start(text, pos, frame)
                continue
        elif stack:
            _attach(stack[-1], value)
        else:
            return _finish(text, pos, value)
        # ---- after a value inside a container: ',' or the closing bracket ---------------------
        while True:
            frame = stack[-1]
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            closer = "}" if isinstance(frame.container, dict) else "]"
            char = text[pos : pos + 1]
            if char == ",":
                pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
                pos, pointer = _member_start(text, pos, frame)
                break
            if char != closer:
                raise _Fail(f"expected ',' or '{closer}'", pos, frame.pointer)
            pos += 1
            done = stack.pop()
            if not stack:
                return _finish(text, pos, done.container)


def _attach(frame: _Frame, value: Any) -> None:
    if isinstance(frame.container, dict):
        assert frame.key is not None
        frame.container[frame.key] = value
    else:
        frame.container.append(value)


def _member_start(text: str, pos: int, frame: _Frame) -> tuple[int, str]:
    """Position at the next member's value; return it and the value's pointer."""
    if isinstance(frame.container, list):
        return pos, f"{frame.pointer}/{len(frame.container)}"
    if text[pos : pos + 1] != '"':
        raise _Fail("expected a member name in double quotes", pos, frame.pointer)
    key, end = _string(text, pos, frame.pointer, "member name")
    pointer = f"{frame.pointer}/{escape_pointer(key)}"
    if key in frame.keys:
        raise _Fail(f"duplicate member name {json.dumps(key)[:80]}", pos, pointer)
    frame.keys.add(key)
    frame.key = key
    end = _WS.match(text, end).end()  # type: ignore[union-attr]
    if text[end : end + 1] != ":":
        raise _Fail("expected ':' after the member name", end, pointer)
    end = _WS.match(text, end + 1).end()  # type: ignore[union-attr]
    return end, pointer


def _finish(text: str, pos: int, value: Any) -> Any:
    pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
    if pos != len(text):
        raise _Fail("trailing data after the JSON value", pos, None)
    return value


def parse(text: str, *, allow_floats: bool, byte_offsets: bool) -> Any:
    """Parse ``text`` strictly; on the first violation raise a located :class:`JSONError`.

    Args:
        text: The decoded document.
        allow_floats: Accept finite non-integer numbers.
        byte_offsets: Report offsets in UTF-8 bytes (the input was bytes) instead of characters.

    Returns:
        The parsed value.

    Raises:
        JSONError: The first violation, with ``position`` and (inside the value) ``pointer``.
    """
    try:
        return _parse(text, allow_floats)
    except _Fail as fail:
        pos = fail.pos
        if byte_offsets:
            pos = len(text[:pos].encode("utf-8", "surrogatepass"))
        raise JSONError(fail.message, position=pos, pointer=fail.pointer) from None
