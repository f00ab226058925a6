"""Fuzzing the strict parsers: only dta.errors escape, and the fast paths agree with the rules."""

from __future__ import annotations

from typing import Any

import pytest
from _json_strategies import json_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dta
from dta import _json_strict
from dta.errors import CanonicalError, Error, JSONError

_FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _outcome(fn: Any, data: bytes, allow: bool) -> tuple[str, Any]:
    try:
        return "ok", fn(data, allow_floats=allow)
    except CanonicalError as exc:
        return "canonical", exc
    except JSONError as exc:
        return "json", exc


def _strict(data: bytes, *, allow_floats: bool) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JSONError("invalid UTF-8", position=exc.start) from exc
    if text.startswith("\ufeff"):
        raise JSONError("byte-order mark is not allowed", position=0)
    return _json_strict.parse(text, allow_floats=allow_floats, byte_offsets=True)


def _check(data: bytes) -> None:
    """loads, loads_canonical and the strict reference parser agree; only JSONError escapes."""
    for allow in (False, True):
        kind, value = _outcome(dta.loads, data, allow)
        ref_kind, ref_value = _outcome(_strict, data, allow)
        assert kind == ref_kind
        if kind == "ok":
            assert value == ref_value
            assert str(value) == str(ref_value)  # same types, e.g. 1 vs 1.0
        else:
            assert value.position == ref_value.position
        canonical = kind == "ok" and dta.canonical_bytes(value) == data
        line_kind, line_value = _outcome(dta.loads_canonical, data, allow)
        assert (line_kind == "ok") == canonical
        if canonical:
            assert line_value == value
        elif kind == "ok":
            assert line_kind == "canonical"


@_FUZZ
@given(st.binary(max_size=64))
def test_random_bytes_give_only_typed_errors(data: bytes) -> None:
    """Arbitrary bytes parse or raise JSONError, consistently across all three parsers."""
    _check(data)


_JSONISH = st.sampled_from([*b'{}[]",:0123456789-+.eE \\tfnru\n', 0xFF, 0xC3, 0xED])


@st.composite
def _mutated_documents(draw: st.DrawFn) -> bytes:
    value = draw(json_values(floats=True, loadable=True, max_leaves=12))
    data = bytearray(dta.canonical_bytes(value))
    if draw(st.booleans()):
        data = bytearray(dta.dumps(value).encode())
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "duplicate"]))
        if action == "insert":
            data[position:position] = bytes([draw(_JSONISH)])
        elif action == "delete" and data:
            del data[min(position, len(data) - 1)]
        elif action == "replace" and data:
            data[min(position, len(data) - 1)] = draw(_JSONISH)
        else:
            end = draw(st.integers(position, len(data)))
            data[position:position] = data[position:end]
    return bytes(data)


@_FUZZ
@given(_mutated_documents())
def test_mutated_documents_give_only_typed_errors(data: bytes) -> None:
    """Mutations of valid documents parse or raise JSONError, consistently across parsers."""
    _check(data)


@settings(max_examples=200, deadline=None)
@given(json_values(floats=False))
def test_canonical_lines_of_random_values_accepted(value: Any) -> None:
    """The canonical bytes of any float-free value pass loads_canonical unchanged."""
    line = dta.canonical_bytes(value)
    assert dta.loads_canonical(line) == value
    _check(line)


@pytest.mark.parametrize("seed", range(3))
def test_errors_from_public_functions_are_dta_errors(seed: int) -> None:
    """A fixed battery of hostile inputs raises dta.errors.Error subclasses only."""
    hostile = [
        b"[" * 200_000,
        b'{"a":' * 50_000,
        b"[" + b"1" * 5000 + b"]",
        b'"' + b"\\u" * 1000,
        b"\x00" * 10,
        b"1e99999",
        b'{"a":1,"a":' * 1000,
    ]
    for data in hostile[seed::3]:
        for fn in (dta.loads, dta.loads_canonical):
            with pytest.raises(Error):
                fn(data)
