"""dta.loads: each strict-JSON rule rejects with a typed error that says where."""

from __future__ import annotations

from typing import Any

import pytest

import dta
from dta import _json
from dta.errors import JSONError


def _error(data: bytes | str, **kwargs: Any) -> JSONError:
    with pytest.raises(JSONError) as info:
        dta.loads(data, **kwargs)
    return info.value


def test_duplicate_member_name_rejected_with_offset_and_pointer() -> None:
    """A repeated name is reported at its second occurrence with the member's pointer."""
    error = _error(b'{"a": {"x": 1, "b/c": [1, {"k": 1, "k": 2}]}}')
    assert "duplicate member name" in str(error)
    assert error.position == 35
    assert error.pointer == "/a/b~1c/1/k"


def test_duplicate_member_name_rejected_in_canonical_line() -> None:
    """loads_canonical reports duplicates (which re-serialisation would hide) with the offset."""
    with pytest.raises(JSONError, match="duplicate") as info:
        dta.loads_canonical(b'{"a":1,"a":1}')
    assert info.value.position == 7


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_rejected(constant: str) -> None:
    """The non-standard constants are rejected where they stand."""
    error = _error(f'{{"v": [1, {constant}]}}', allow_floats=True)
    assert constant in str(error)
    assert error.position == 10
    assert error.pointer == "/v/1"


@pytest.mark.parametrize(
    "data", [b'["\\ud800"]', b'["\\udfff"]', b'["x\\ud800\\u0041"]', b'{"\\udc00": 1}']
)
def test_escaped_lone_surrogate_rejected(data: bytes) -> None:
    """Escaped lone surrogates in strings or names are rejected with a location."""
    error = _error(data)
    assert "lone surrogate" in str(error)
    assert error.position is not None


def test_escaped_surrogate_pair_accepted() -> None:
    """A correctly paired escape decodes to the supplementary character."""
    assert dta.loads(b'["\\ud83d\\ude00"]') == ["\U0001f600"]


def test_raw_lone_surrogate_rejected_in_str_input() -> None:
    """A str holding a raw lone surrogate is rejected (bytes cannot hold one: invalid UTF-8)."""
    error = _error('{"a": "x\ud800"}')
    assert "lone surrogate" in str(error)
    assert error.pointer == "/a"


@pytest.mark.parametrize(
    ("data", "offset"),
    [(b'["\xff"]', 2), (b'["ok", "\xed\xa0\x80"]', 8), (b'{"a": "\xc3"}', 7), (b"[\x80]", 1)],
)
def test_invalid_utf8_rejected_with_offset(data: bytes, offset: int) -> None:
    """Invalid UTF-8 (including encoded surrogates) is rejected at its byte offset."""
    error = _error(data)
    assert "invalid UTF-8" in str(error)
    assert error.position == offset


@pytest.mark.parametrize("data", [b"\xef\xbb\xbf{}", "\ufeff{}"])
def test_byte_order_mark_rejected(data: bytes | str) -> None:
    """A leading BOM is rejected at offset 0."""
    error = _error(data)
    assert "byte-order mark" in str(error)
    assert error.position == 0


@pytest.mark.parametrize("text", ["9007199254740992", "-9007199254740992", "1" + "0" * 30])
def test_integer_outside_safe_range_rejected(text: str) -> None:
    """Integers beyond +-(2**53 - 1) are rejected with their pointer."""
    error = _error(f'{{"n": {text}}}')
    assert "outside" in str(error)
    assert error.pointer == "/n"
    assert error.position == 6


def test_huge_integer_digit_string_rejected_as_json_error() -> None:
    """A 100,000-digit integer is a JSONError, not Python's int-conversion ValueError."""
    assert "outside" in str(_error(b"[" + b"7" * 100_000 + b"]"))


def test_integer_at_safe_range_boundary_accepted() -> None:
    """+-(2**53 - 1) parse as integers."""
    assert dta.loads(b"[9007199254740991, -9007199254740991]") == [2**53 - 1, -(2**53 - 1)]


def test_negative_zero_integer_rejected() -> None:
    """-0 has no integer meaning and no canonical form of its own."""
    error = _error(b'{"z": -0}')
    assert "-0" in str(error)
    assert error.pointer == "/z"


@pytest.mark.parametrize("text", ["1.5", "1e3", "1E-2", "-0.0", "10.0"])
def test_float_rejected_unless_allowed(text: str) -> None:
    """Non-integer number syntax is rejected by default and accepted with allow_floats."""
    error = _error(f"[0, {text}]")
    assert "floats are not allowed" in str(error)
    assert error.pointer == "/1"
    assert dta.loads(f"[0, {text}]", allow_floats=True) == [0, float(text)]


@pytest.mark.parametrize("text", ["1e400", "-1e400", "1.5e309"])
def test_overflowing_float_rejected_even_when_allowed(text: str) -> None:
    """Numbers that overflow a double are rejected, floats allowed or not."""
    error = _error(f'{{"x": {text}}}', allow_floats=True)
    assert "overflows" in str(error)
    assert error.pointer == "/x"


def _nested_arrays(depth: int) -> bytes:
    return b"[" * depth + b"1" + b"]" * depth


def _nested_objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize(("nested", "opener"), [(_nested_arrays, 1), (_nested_objects, 5)])
def test_nesting_of_64_accepted_and_65_rejected(nested: Any, opener: int) -> None:
    """At most 64 nested containers; the 65th is reported where it opens."""
    assert dta.loads(nested(64)) is not None
    error = _error(nested(65))
    assert "nesting deeper than 64" in str(error)
    assert error.position == 64 * opener


@pytest.mark.parametrize("opener", [b"[", b'{"a":', b'[{"a":'])
def test_pathological_deep_input_rejected_without_recursion_error(opener: bytes) -> None:
    """100,000 unclosed brackets give a JSONError at the 65th, never RecursionError."""
    error = _error(opener * 100_000)
    assert "nesting deeper than 64" in str(error)
    assert error.position is not None
    assert error.position < 64 * len(opener) + 8


def test_loads_succeeds_when_caller_stack_is_deep() -> None:
    """Near the recursion limit loads still parses (the strict parser does not recurse)."""
    document = _nested_arrays(50)
    expected = dta.loads(document)

    def at_the_limit() -> Any:
        # Recurse until the next call fails, then parse there; if even loads' own frames do
        # not fit, the caller one frame up tries again with one more frame of headroom.
        try:
            return at_the_limit()
        except RecursionError:
            return dta.loads(document)

    assert at_the_limit() == expected


@pytest.mark.parametrize(
    ("data", "offset"), [(b"[1] x", 4), (b'{"a": 1}{}', 8), (b"1 2", 2), (b'"a" "b"', 4)]
)
def test_trailing_data_rejected(data: bytes, offset: int) -> None:
    """Nothing but whitespace may follow the value."""
    error = _error(data)
    assert "trailing data" in str(error)
    assert error.position == offset


def test_input_over_size_cap_rejected() -> None:
    """Inputs larger than max_size are refused before parsing."""
    error = _error(b"[" + b"1," * 600 + b"1]", max_size=1000)
    assert "cap" in str(error)
    assert dta.loads(b"[1]", max_size=3) == [1]


def test_default_size_cap_is_64_mib() -> None:
    """The default cap is 64 MiB."""
    assert _json.DEFAULT_MAX_SIZE == 64 * 1024 * 1024


def test_bytes_offsets_are_byte_offsets_and_str_offsets_are_characters() -> None:
    """Offsets count bytes for bytes input and characters for str input."""
    text = '["\u00e9\u00e9\u00e9", NaN]'
    assert _error(text.encode()).position == 11
    assert _error(text).position == 8


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "expected a JSON value"),
        (b"[1,]", "expected a JSON value"),
        (b'{"a" 1}', "expected ':'"),
        (b"{a: 1}", "member name"),
        (b"[1 2]", "expected ','"),
        (b'["a\x01"]', "control character"),
        (b'["\\x"]', "escape"),
        (b"[01]", "expected ','"),
        (b"[.5]", "expected a JSON value"),
        (b"[tru]", "expected a JSON value"),
    ],
)
def test_syntax_errors_rejected_with_offset(data: bytes, message: str) -> None:
    """Grammar errors are JSONError with an offset, never json.JSONDecodeError."""
    error = _error(data)
    assert message in str(error)
    assert error.position is not None


@pytest.mark.parametrize("data", [b"[1, 2]", bytearray(b"[1, 2]"), memoryview(b"[1, 2]"), "[1, 2]"])
def test_bytes_like_and_str_inputs_accepted(data: Any) -> None:
    """bytes, bytearray, memoryview and str all parse."""
    assert dta.loads(data) == [1, 2]


def test_whitespace_and_all_value_kinds_parse() -> None:
    """Insignificant whitespace is allowed around every token."""
    data = b' \t\n\r{ "a" : [ true , false , null , "s" , -12 , { } , [ ] ] } \n'
    assert dta.loads(data) == {"a": [True, False, None, "s", -12, {}, []]}
