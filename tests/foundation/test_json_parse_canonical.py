"""The C one-pass parser (``dta._speedups.parse_canonical``) agrees with the scanner and orjson.

``loads_canonical`` returns what ``parse_canonical`` builds without any other parser looking at
the line, so it must (a) answer "not proved" exactly where ``canonical_line`` does, and (b) where
it proves a line, return the same value as a full parser — same types, same member order, same
strings (escapes, non-ASCII, astral characters), same integers. Its member-name cache must never
hand back a wrong name, and repeated calls must not leak.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from typing import Any

import orjson
import pytest
import rfc8785
from _json_strategies import json_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_json_speedups import HOSTILE, _mutations

from dta import _json, _json_walk

speedups = pytest.importorskip("dta._speedups") if _json_walk.SPEEDUPS else None
pytestmark = pytest.mark.skipif(speedups is None, reason="C accelerator not built")
MAX = _json.MAX_DEPTH
NOT_PROVED = object()


def _parse(line: bytes) -> Any:
    assert speedups is not None
    return speedups.parse_canonical(line, MAX, NOT_PROVED)


def _same(a: Any, b: Any) -> bool:
    """Equal values with equal types all the way down, and dict members in the same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values(floats=False))
def test_parsed_value_of_a_canonical_line_equals_orjson(value: Any) -> None:
    """Random float-free values: proved exactly when the scanner proves, and the same value."""
    assert speedups is not None
    line = rfc8785.dumps(value)
    parsed = _parse(line)
    if not speedups.canonical_line(line, MAX):
        assert parsed is NOT_PROVED
        return
    assert _same(parsed, orjson.loads(line))
    assert parsed == value


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), value=json_values(floats=True, max_leaves=12))
def test_mutated_line_is_parsed_only_where_the_scanner_proves_it(
    data: st.DataObject, value: Any
) -> None:
    """Byte mutations (whitespace, bad escapes, bad UTF-8, order): same verdict as the scanner."""
    assert speedups is not None
    line = data.draw(_mutations(rfc8785.dumps(value)))
    parsed = _parse(line)
    if speedups.canonical_line(line, MAX):
        assert _same(parsed, json.loads(line))
    else:
        assert parsed is NOT_PROVED


@pytest.mark.parametrize("line", HOSTILE)
def test_hostile_line_is_never_parsed_unless_canonical(line: bytes) -> None:
    """Whitespace, duplicates, -0, 2**53, needless escapes, surrogates, BOM, depth 65, ..."""
    assert speedups is not None
    parsed = _parse(line)
    if speedups.canonical_line(line, MAX):
        assert _same(parsed, json.loads(line))
    else:
        assert parsed is NOT_PROVED


@pytest.mark.parametrize(
    "value",
    [
        'quote " backslash \\ controls \b\f\n\r\t \x00 \x01 \x1f end',
        "x" * 300 + "\n" + "y" * 300,  # an escaped string longer than the stack buffer
        "é" * 200 + "\t" + "中" * 200,  # non-ASCII with an escape, heap buffer
        "😀 astral, \ue000 private use, \u007f DEL",
        "",
        {"": 0, "a": [], "b": {}, "c": [[[]]]},
        [-9007199254740991, 9007199254740991, 0, -1, 10, True, False, None],
        {"名前": "值", "k" * 65: "a name longer than the cache's limit", "é": 1},
    ],
)
def test_strings_escapes_and_integers_are_built_exactly(value: Any) -> None:
    """Every escape JCS writes, long and non-ASCII strings, limits of the safe integers."""
    line = rfc8785.dumps(value)
    parsed = _parse(line)
    assert _same(parsed, orjson.loads(line))
    assert parsed == value


def test_member_name_cache_never_returns_another_name() -> None:
    """Thousands of distinct names (colliding in the 1024-slot cache) come back as written."""
    for round_ in range(3):
        names = [f"n{i:05d}_{round_}" for i in range(5000)]
        doc = {name: i for i, name in enumerate(names)}
        line = rfc8785.dumps(doc)
        parsed = _parse(line)
        assert list(parsed) == sorted(names)
        assert all(parsed[name] == i for i, name in enumerate(names))
        # Same-length names differing in one byte, parsed one document at a time.
        for a, b in (("ab", "ba"), ("key1", "key2"), ("x" * 64, "x" * 63 + "y")):
            assert list(_parse(rfc8785.dumps({a: 1}))) == [a]
            assert list(_parse(rfc8785.dumps({b: 1}))) == [b]


def test_repeated_parsing_does_not_leak() -> None:
    """Proved and not-proved lines, parsed 20,000 times, leave Python's allocations flat."""
    lines = [
        rfc8785.dumps({"a": ["x" * 300 + "\n", {"é": [1, 2, None]}], "b": "😀"}),
        b'{"a":[1,2,{"b":"c"}],"b":1 }',  # fails after building most of the value
        b'{"a":[1,2,{"b":"c","a":1}]}',  # fails deep inside
    ]

    def run() -> None:
        for _ in range(20_000):
            for line in lines:
                _parse(line)

    run()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    run()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert after - before < 64 * 1024


def test_wrong_argument_types_raise_type_error() -> None:
    """Only bytes are parsed; a str or bytearray is a caller bug, not "not proved"."""
    assert speedups is not None
    with pytest.raises(TypeError):
        speedups.parse_canonical("{}", MAX, NOT_PROVED)
    with pytest.raises(TypeError):
        speedups.parse_canonical(bytearray(b"{}"), MAX, NOT_PROVED)
    with pytest.raises(ValueError, match="max_depth"):
        speedups.parse_canonical(b"{}", -1, NOT_PROVED)


def test_loads_canonical_uses_the_one_pass_parser() -> None:
    """The audit verifier's entry point takes the C path where the extension is built."""
    assert _json._parse_canonical is not None
    line = rfc8785.dumps({"action": "transfer.sent", "index": 7})
    assert _same(_json.loads_canonical(line), {"action": "transfer.sent", "index": 7})


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), value=json_values(floats=True, max_leaves=12))
def test_member_count_is_the_outermost_objects_and_minus_one_unless_proved(
    data: st.DataObject, value: Any
) -> None:
    """canonical_members: -1 exactly where the scanner does not prove; else top-level members."""
    assert speedups is not None
    line = data.draw(st.one_of(st.just(rfc8785.dumps(value)), _mutations(rfc8785.dumps(value))))
    count = speedups.canonical_members(line, MAX)
    if not speedups.canonical_line(line, MAX):
        assert count == -1
        return
    parsed = json.loads(line)
    assert count == (len(parsed) if isinstance(parsed, dict) else 0)
