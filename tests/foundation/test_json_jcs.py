"""RFC 8785 canonical bytes: vectors, ES6 numbers, differential and fast-path tests."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import enum
import hashlib
import struct
import types
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import rfc8785
from _json_strategies import json_values
from hypothesis import given, settings

import dta
from dta import _json
from dta.errors import CanonicalError

JCS_CASES = ["arrays", "french", "structures", "unicode", "values", "weird"]


@pytest.mark.parametrize("name", JCS_CASES)
def test_jcs_vector_canonicalises_byte_exact(vectors: Path, name: str) -> None:
    """Each shared RFC 8785 vector canonicalises to exactly its expected bytes."""
    data = (vectors / "jcs" / "input" / f"{name}.json").read_bytes()
    expected = (vectors / "jcs" / "output" / f"{name}.json").read_bytes()
    value = dta.loads(data, allow_floats=True)
    assert dta.canonical_bytes(value) == expected
    assert dta.loads_canonical(expected, allow_floats=True) == value


# --- ES6 number formatting: the JCS number test file, generated here ---------------------------
# The sequence (json-canonicalization testdata/README and numgen.go): a fixed list of edge-case
# IEEE-754 bit patterns, then 2000 consecutive values from the smallest normal upwards, then the
# little-endian doubles of a SHA-256 chain over 32 zero bytes, skipping zeros and non-finite
# values. Each line is "<lowercase hex of the bits, unpadded>,<ES6 string>\n".
_EDGE_BITS = """
0000000000000000 8000000000000000 0000000000000001 8000000000000001 c46696695dbd1cc3
c43211ede4974a35 c3fce97ca0f21056 c3c7213080c1a6ac c39280f39a348556 c35d9b1f5d20d557
c327af4c4a80aaac c2f2f2a36ecd5556 c2be51057e155558 c28840d131aaaaac c253670dc1555557
c21f0b4935555557 c1e8d5d42aaaaaac c1b3de4355555556 c17fca0555555556 c1496e6aaaaaaaab
c114585555555555 c0e046aaaaaaaaab c0aa0aaaaaaaaaaa c074d55555555555 c040aaaaaaaaaaab
c00aaaaaaaaaaaab bfd5555555555555 bfa1111111111111 bf6b4e81b4e81b4f bf35d867c3ece2a5
bf0179ec9cbd821e becbf647612f3696 be965e9f80f29212 be61e54c672874db be2ca213d840baf8
bdf6e80fe033c8c6 bdc2533fe68fd3d2 bd8d51ffd74c861c bd5774ccac3d3817 bd22c3d6f030f9ac
bcee0624b3818f79 bcb804ea293472c7 bc833721ba905bd3 bc4ebe9c5db3c61e bc18987d17c304e5
bbe3ad30dfcf371d bbaf7b816618582f bb792f9ab81379bf bb442615600f9499 bb101e77800c76e1
bad9ca58cce0be35 baa4a1e0a3e6fe90 ba708180831f320d ba3a68cd9e985016 446696695dbd1cc3
443211ede4974a35 43fce97ca0f21056 43c7213080c1a6ac 439280f39a348556 435d9b1f5d20d557
4327af4c4a80aaac 42f2f2a36ecd5556 42be51057e155558 428840d131aaaaac 4253670dc1555557
421f0b4935555557 41e8d5d42aaaaaac 41b3de4355555556 417fca0555555556 41496e6aaaaaaaab
4114585555555555 40e046aaaaaaaaab 40aa0aaaaaaaaaaa 4074d55555555555 4040aaaaaaaaaaab
400aaaaaaaaaaaab 3fd5555555555555 3fa1111111111111 3f6b4e81b4e81b4f 3f35d867c3ece2a5
3f0179ec9cbd821e 3ecbf647612f3696 3e965e9f80f29212 3e61e54c672874db 3e2ca213d840baf8
3df6e80fe033c8c6 3dc2533fe68fd3d2 3d8d51ffd74c861c 3d5774ccac3d3817 3d22c3d6f030f9ac
3cee0624b3818f79 3cb804ea293472c7 3c833721ba905bd3 3c4ebe9c5db3c61e 3c18987d17c304e5
3be3ad30dfcf371d 3baf7b816618582f 3b792f9ab81379bf 3b442615600f9499 3b101e77800c76e1
3ad9ca58cce0be35 3aa4a1e0a3e6fe90 3a708180831f320d 3a3a68cd9e985016 4024000000000000
4014000000000000 3fe0000000000000 3fa999999999999a 3f747ae147ae147b 3f40624dd2f1a9fc
3f0a36e2eb1c432d 3ed4f8b588e368f1 3ea0c6f7a0b5ed8d 3e6ad7f29abcaf48 3e35798ee2308c3a
3ed539223589fa95 3ed4ff26cd5a7781 3ed4f95a762283ff 3ed4f8c60703520c 3ed4f8b72f19cd0d
3ed4f8b5b31c0c8d 3ed4f8b58d1c461a 3ed4f8b5894f7f0e 3ed4f8b588ee37f3 3ed4f8b588e47da4
3ed4f8b588e3849c 3ed4f8b588e36bb5 3ed4f8b588e36937 3ed4f8b588e368f8 3ed4f8b588e368f1
3ff0000000000000 bff0000000000000 bfeffffffffffffa bfeffffffffffffb 3feffffffffffffa
3feffffffffffffb 3feffffffffffffc 3feffffffffffffe bfefffffffffffff bfefffffffffffff
3fefffffffffffff 3fefffffffffffff 3fd3333333333332 3fd3333333333333 3fd3333333333334
0010000000000000 000ffffffffffffd 000fffffffffffff 7fefffffffffffff ffefffffffffffff
4340000000000000 c340000000000000 4430000000000000 44b52d02c7e14af5 44b52d02c7e14af6
44b52d02c7e14af7 444b1ae4d6e2ef4e 444b1ae4d6e2ef4f 444b1ae4d6e2ef50 3eb0c6f7a0b5ed8c
3eb0c6f7a0b5ed8d 41b3de4355555553 41b3de4355555554 41b3de4355555555 41b3de4355555556
41b3de4355555557 becbf647612f3696 43143ff3c1cb0959
"""
_ES6_LINES = 1_000_000
_ES6_SHA256 = "49415fee2c56c77864931bd3624faad425c3c577d6d74e89a83bc725506dad16"
_EXPONENT_MASK = 0x7FF0000000000000


def _es6_test_bits(count: int) -> list[int]:
    bits = [int(word, 16) for word in _EDGE_BITS.split()][:count]
    bits += [0x0010000000000000 + i for i in range(min(2000, count - len(bits)))]
    block = bytes(32)
    while len(bits) < count:
        block = hashlib.sha256(block).digest()
        for word in struct.unpack("<4Q", block):
            if word & 0x7FFFFFFFFFFFFFFF == 0 or word & _EXPONENT_MASK == _EXPONENT_MASK:
                continue  # zero or not finite
            bits.append(word)
            if len(bits) == count:
                break
    return bits


def test_es6_number_file_first_million_lines_hash_matches() -> None:
    """canonical_bytes writes the first 1,000,000 JCS test-file numbers as ECMAScript does."""
    bits = _es6_test_bits(_ES6_LINES)
    floats = struct.unpack(f"<{_ES6_LINES}d", struct.pack(f"<{_ES6_LINES}Q", *bits))
    digest = hashlib.sha256()
    chunk = 50_000
    for start in range(0, _ES6_LINES, chunk):
        texts = dta.canonical_bytes(list(floats[start : start + chunk]))[1:-1].split(b",")
        pairs = zip(bits[start : start + chunk], texts, strict=True)
        digest.update(b"".join(b"%x,%s\n" % pair for pair in pairs))
    assert digest.hexdigest() == _ES6_SHA256


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (-5.0, "-5"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (1.5e-6, "0.0000015"),
        (123.456, "123.456"),
        (9007199254740994.0, "9007199254740994"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
    ],
)
def test_float_written_in_ecmascript_form(value: float, text: str) -> None:
    """Floats use ECMAScript Number.prototype.toString, nested or not."""
    assert dta.canonical_bytes(value) == text.encode()
    assert dta.canonical_bytes({"k": [value]}) == b'{"k":[' + text.encode() + b"]}"


# --- differential: the fast path and the full algorithm against the rfc8785 package -------------


@settings(max_examples=300, deadline=None)
@given(json_values(floats=False))
def test_canonical_bytes_without_floats_equals_rfc8785(value: Any) -> None:
    """Float-free values (the fast path's domain) canonicalise exactly as rfc8785 does."""
    expected = rfc8785.dumps(value)
    fast = _json._fast(value)
    assert fast is None or fast == expected
    assert dta.canonical_bytes(value) == expected


@settings(max_examples=300, deadline=None)
@given(json_values(floats=True))
def test_canonical_bytes_with_floats_equals_rfc8785(value: Any) -> None:
    """Values with finite floats canonicalise exactly as rfc8785 does."""
    assert dta.canonical_bytes(value) == rfc8785.dumps(value)


@settings(max_examples=200, deadline=None)
@given(json_values(floats=True, loadable=True))
def test_canonical_bytes_round_trips_through_strict_parsers(value: Any) -> None:
    """loads(canonical_bytes(x)) == x, and the canonical bytes pass loads_canonical."""
    data = dta.canonical_bytes(value)
    assert dta.loads(data, allow_floats=True) == value
    assert dta.loads_canonical(data, allow_floats=True) == value


def test_integral_float_beyond_safe_range_canonical_but_not_loadable() -> None:
    """2**53 as a float is written as integer digits, which loads rejects as a big integer."""
    assert dta.canonical_bytes(2.0**53) == b"9007199254740992"
    with pytest.raises(dta.errors.JSONError, match="outside"):
        dta.loads(b"9007199254740992", allow_floats=True)


def test_member_order_is_utf16_not_code_point() -> None:
    """A U+E000 name sorts after a supplementary-plane name (UTF-16), not before it."""
    value = {"\ue000": 1, "\U0001f600": 2, "a": 3}
    assert dta.canonical_bytes(value) == '{"a":3,"\U0001f600":2,"\ue000":1}'.encode()
    assert dta.canonical_bytes(value) == rfc8785.dumps(value)


def test_fast_path_taken_for_plain_documents() -> None:
    """Float-free documents of exact built-in types take the orjson fast path."""
    doc = {"b": [1, "x", None, True, {"c": ["\u00e9", "\U0001f600"]}], "a": -(2**53 - 1)}
    assert _json._fast(doc) == rfc8785.dumps(doc)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_float_rejected_even_where_orjson_writes_null(bad: float) -> None:
    """NaN / Infinity inside a document raise CanonicalError naming the pointer."""
    with pytest.raises(CanonicalError, match="/a/1"):
        dta.canonical_bytes({"a": [None, bad], "b": "x"})


@pytest.mark.parametrize("number", [2**53, -(2**53), 2**64, 10**40])
def test_integer_outside_safe_range_rejected(number: int) -> None:
    """Integers beyond +-(2**53 - 1) cannot be canonicalised exactly."""
    with pytest.raises(CanonicalError, match="/n"):
        dta.canonical_bytes({"n": number})


def test_integer_at_safe_range_boundary_accepted() -> None:
    """+-(2**53 - 1) are written as plain integers."""
    assert dta.canonical_bytes([2**53 - 1, -(2**53 - 1)]) == b"[9007199254740991,-9007199254740991]"


@pytest.mark.parametrize("key", [1, 1.5, None, True, (1, 2)])
def test_non_string_member_name_rejected(key: Any) -> None:
    """Member names must be str; nothing is converted silently."""
    with pytest.raises(CanonicalError, match="not a string"):
        dta.canonical_bytes({"x": {key: 1}})


@pytest.mark.parametrize("text", ["\ud800", "a\udfff", "\udc00\ud800"])
def test_lone_surrogate_rejected(text: str) -> None:
    """Strings and names with lone surrogates have no UTF-8 form."""
    with pytest.raises(CanonicalError, match="surrogate"):
        dta.canonical_bytes({"s": text})
    with pytest.raises(CanonicalError, match="surrogate"):
        dta.canonical_bytes({text: 1})


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def test_nesting_of_64_accepted_and_65_rejected() -> None:
    """At most 64 nested containers, with or without a scalar at the bottom."""
    assert dta.canonical_bytes(_nested(64, 1)) == b"[" * 64 + b"1" + b"]" * 64
    assert dta.canonical_bytes(_nested(63, {})) == b"[" * 63 + b"{}" + b"]" * 63
    with pytest.raises(CanonicalError, match="nesting"):
        dta.canonical_bytes(_nested(65, 1))
    with pytest.raises(CanonicalError, match="nesting"):
        dta.canonical_bytes(_nested(100_000, 1))


def test_cycle_rejected_without_recursion_error() -> None:
    """A self-referencing structure raises CanonicalError, not RecursionError."""
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(CanonicalError):
        dta.canonical_bytes(loop)


class _Colour(enum.Enum):
    RED = "red"


class _Level(enum.IntEnum):
    HIGH = 3


@dataclasses.dataclass
class _Point:
    x: int


@pytest.mark.parametrize(
    "value",
    [
        uuid.UUID(int=1),
        _Colour.RED,
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        _Point(1),
        orjson.Fragment(b"1.5"),
        b"bytes",
        {1, 2},
        object(),
    ],
    ids=lambda v: type(v).__name__,
)
def test_non_json_types_rejected(value: Any) -> None:
    """Types orjson would serialise natively (UUID, Enum, Fragment, ...) are not JSON values."""
    with pytest.raises(CanonicalError, match="/v"):
        dta.canonical_bytes({"v": value})


def test_subclasses_and_mappings_canonicalise_like_their_base_types() -> None:
    """str/int/dict subclasses, tuples and other Mappings give the plain value's bytes."""

    class Text(str):
        pass

    plain = {"a": ["x", 3, [1, 2]], "b": {"c": 1}}
    odd = collections.OrderedDict(
        b=types.MappingProxyType({"c": 1}), a=(Text("x"), _Level.HIGH, (1, 2))
    )
    assert dta.canonical_bytes(odd) == dta.canonical_bytes(plain) == rfc8785.dumps(plain)


def test_dumps_is_pretty_and_parses_back() -> None:
    """dumps is indented JSON with sorted keys that loads back to the same value."""
    value = {"b": [1, {"c": "\u00e9"}], "a": None}
    text = dta.dumps(value)
    assert text.startswith("{\n  ")
    assert text.endswith("\n")
    assert dta.loads(text) == value
