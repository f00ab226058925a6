"""The C accelerator (dta._speedups) gives the same answers as the pure-Python checks.

The canonical-JSON fast paths trust these checks to prove orjson's bytes equal RFC 8785, so the C
versions are tested against the Python versions (levels, order_safe) and against the full JCS
algorithm and the strict parser (canonical_line), on random values and on random mutations of
canonical lines.
"""

from __future__ import annotations

import enum
import json
import os
import shutil
import sysconfig
import uuid
from typing import Any

import pytest
import rfc8785
from _json_strategies import KEYS, json_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dta
from dta import _json, _json_walk
from dta.errors import Error

speedups = pytest.importorskip("dta._speedups") if _json_walk.SPEEDUPS else None
needs_c = pytest.mark.skipif(speedups is None, reason="C accelerator not built")
MAX = _json.MAX_DEPTH


def test_c_accelerator_built_where_a_compiler_exists() -> None:
    """A build with a C compiler present must not silently fall back to the slow checks."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if os.environ.get("DTA_PURE_PYTHON") or os.environ.get("DTA_NO_SPEEDUPS"):
        pytest.skip("pure-Python checks selected on purpose")
    if shutil.which(cc) is None:
        pytest.skip("no C compiler on this machine")
    assert _json_walk.SPEEDUPS
    assert _json._parse_canonical is not None


class _Str(str):
    __slots__ = ()


class _Int(int):
    pass


class _Colour(enum.Enum):
    RED = "red"


FOREIGN = st.sampled_from(
    [_Str("x"), _Int(3), _Colour.RED, uuid.UUID(int=7), 1.5, float("nan"), b"x", {1, 2}, object()]
)


def _with_foreign(draw_leaf: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        draw_leaf,
        lambda kids: (
            st.lists(kids, max_size=4)
            | st.tuples(kids, kids)
            | st.dictionaries(KEYS | st.builds(_Str, KEYS), kids, max_size=4)
        ),
        max_leaves=25,
    )


def _nest(depth: int, leaf: Any) -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


@needs_c
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(value=_with_foreign(st.none() | st.booleans() | st.integers() | st.text() | FOREIGN))
def test_c_levels_equal_python_levels_on_plain_and_foreign_types(value: Any) -> None:
    """Subclasses, enums, UUIDs, floats and sets are foreign in both versions alike."""
    assert speedups is not None
    for allow_float in (False, True):
        assert speedups.levels(value, MAX, allow_float) == _json_walk.py_levels(
            value, MAX, allow_float
        )


@needs_c
@pytest.mark.parametrize("depth", [0, 1, 62, 63, 64, 65, 66, 200])
@pytest.mark.parametrize("leaf", [1, [], {}, 1.5, _Str("deep")])
def test_c_levels_equal_python_levels_at_the_depth_limit(depth: int, leaf: Any) -> None:
    """The limit is counted the same way, and nothing below it is visited."""
    assert speedups is not None
    value = _nest(depth, leaf)
    for allow_float in (False, True):
        assert speedups.levels(value, MAX, allow_float) == _json_walk.py_levels(
            value, MAX, allow_float
        )


@needs_c
def test_c_levels_terminate_on_a_cyclic_value() -> None:
    """A self-containing list is reported as too deep, not walked forever."""
    assert speedups is not None
    loop: list[Any] = []
    loop.append(loop)
    assert speedups.levels(loop, MAX, False) == MAX + 1


@needs_c
@given(text=st.text(st.characters(codec="utf-8"), max_size=40))
def test_c_order_safe_equals_python(text: str) -> None:
    """Both versions flag exactly the texts mixing U+E000..U+FFFF with astral characters."""
    assert speedups is not None
    data = text.encode("utf-8")
    assert speedups.order_safe(data) == _json_walk.py_order_safe(data)


@needs_c
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values(floats=False))
def test_canonical_lines_of_float_free_values_are_proved(value: Any) -> None:
    """The scanner proves every JCS line without floats or escaped member names."""
    assert speedups is not None
    line = rfc8785.dumps(value)
    escaped_names = b'\\"' in line or any(ord(c) < 0x20 or c in '"\\' for c in _names(value))
    assert speedups.canonical_line(line, MAX) or escaped_names
    assert dta.loads_canonical(line) == value


def _names(value: Any) -> str:
    if isinstance(value, dict):
        return "".join(value) + "".join(_names(v) for v in value.values())
    if isinstance(value, list):
        return "".join(_names(v) for v in value)
    return ""


def _mutations(line: bytes) -> st.SearchStrategy[bytes]:
    position = st.integers(0, max(0, len(line) - 1))
    byte = st.sampled_from([*b' "\\{}[],:-.0123456789eEtfnu\x00\x1f\x7f', 0xC0, 0xED, 0xEF, 0xF0])
    return st.one_of(
        st.tuples(position, byte).map(
            lambda pb: line[: pb[0]] + bytes([pb[1]]) + line[pb[0] + 1 :]
        ),
        st.tuples(position, byte).map(lambda pb: line[: pb[0]] + bytes([pb[1]]) + line[pb[0] :]),
        position.map(lambda p: line[:p] + line[p + 1 :]),
        st.tuples(position, position).map(lambda ab: line[: min(ab)] + line[max(ab) :]),
    )


@needs_c
@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), value=json_values(floats=True, max_leaves=12))
def test_scanner_never_proves_a_mutated_line_that_is_not_canonical(
    data: st.DataObject, value: Any
) -> None:
    """Whatever the scanner accepts is strict JSON whose JCS form is exactly those bytes."""
    assert speedups is not None
    line = data.draw(_mutations(rfc8785.dumps(value)))
    if not speedups.canonical_line(line, MAX):
        return
    parsed = dta.loads(line)  # strict rules: must not raise
    assert rfc8785.dumps(parsed) == line
    assert json.loads(line) == parsed


HOSTILE = [
    b'{"a": 1}',  # whitespace
    b'{"a":1,"a":1}',  # duplicate name
    b'{"b":1,"a":2}',  # order
    b"-0",
    b"01",
    b"9007199254740992",  # 2**53
    b"-9007199254740992",
    b"1.0",
    b"1e2",
    b'"\\u0041"',  # needless escape
    b'"\\/"',
    b'"\\u001F"',  # uppercase hex
    b'"\\u000a"',  # has a short form
    b'"\x01"',  # raw control character
    b'"\xed\xa0\x80"',  # UTF-8 encoded surrogate
    b'"\xc0\xaf"',  # overlong
    b'"\xf4\x90\x80\x80"',  # beyond U+10FFFF
    b"\xef\xbb\xbf{}",  # BOM
    b"{}x",
    b"{} ",
    b"",
    b"tru",
    b'"abc',
    b"[1,]",
    b'{"a":}',
    b"[" * 64 + b"]" * 64,
    b"[" * 65 + b"]" * 65,
    b"[" * 64 + b"1" + b"]" * 64,
    '{"\ue000":1,"\U0001f600":2}'.encode(),  # code-point order, not UTF-16 order
    '{"\U0001f600":1,"\ue000":2}'.encode(),  # UTF-16 order (D83D < E000): accepted
]


PROVED = {b"[" * 64 + b"]" * 64, '{"\U0001f600":1,"\ue000":2}'.encode()}


@needs_c
@pytest.mark.parametrize("line", HOSTILE)
def test_scanner_proves_only_canonical_hostile_lines(line: bytes) -> None:
    """Whitespace, order, -0, big ints, needless escapes, bad UTF-8, depth 65: never proved."""
    assert speedups is not None
    assert speedups.canonical_line(line, MAX) == (line in PROVED)


@pytest.mark.parametrize("line", HOSTILE)
def test_hostile_lines_decided_the_same_with_and_without_the_scanner(
    line: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same value or same typed error (class and message) from both paths of loads_canonical."""

    def outcome() -> tuple[str, Any]:
        try:
            return ("ok", dta.loads_canonical(line))
        except Error as exc:
            return (type(exc).__name__, str(exc))

    fast = outcome()
    monkeypatch.setattr(_json, "_parse_canonical", None)
    monkeypatch.setattr(_json, "_levels", _json_walk.py_levels)
    monkeypatch.setattr(_json, "_order_safe", _json_walk.py_order_safe)
    assert outcome() == fast
