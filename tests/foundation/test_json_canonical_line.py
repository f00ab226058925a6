"""dta.loads_canonical: the audit verifier's strict parse + canonical-bytes check."""

from __future__ import annotations

import pytest

import dta
from dta.errors import CanonicalError, JSONError

RECORD = {
    "_type": "dta.audit-record",
    "index": 3,
    "time": "2026-11-28T12:00:00Z",
    "actor": "org:a",
    "action": "transfer.sent",
    "details": {"files": 2, "note": "\u00fcber \U0001f600", "ok": True, "prev": None},
    "prev": "0" * 64,
}
LINE = dta.canonical_bytes(RECORD)


def test_canonical_line_accepted_and_parsed() -> None:
    """The canonical bytes of a record parse back to the record."""
    assert dta.loads_canonical(LINE) == RECORD
    assert dta.loads_canonical(bytearray(LINE)) == RECORD
    assert dta.loads_canonical(memoryview(LINE)) == RECORD
    assert dta.loads_canonical(LINE.decode()) == RECORD
    with pytest.raises(JSONError, match="UTF-8"):
        dta.loads_canonical('["\ud800"]')


@pytest.mark.parametrize(
    ("line", "offset"),
    [
        (b'{"b":1,"a":2}', 2),  # member order
        (b'{"a": 1}', 5),  # whitespace
        (b'{"a":1}\n', 7),  # trailing newline belongs to the store, not the line
        (b'["\\u0041"]', 2),  # needless escape
        (b'["\\/"]', 2),  # escaped solidus
        (b'["\\u001F"]', 7),  # uppercase hex escape
        (b'["\xc3\xa9\\u00e9"]', 4),  # escaped non-ASCII
    ],
)
def test_non_canonical_line_rejected_with_first_difference(line: bytes, offset: int) -> None:
    """Strict but non-canonical bytes raise CanonicalError at the first differing byte."""
    with pytest.raises(CanonicalError) as info:
        dta.loads_canonical(line)
    assert info.value.position == offset


@pytest.mark.parametrize("line", [b"1.0", b"1e2", b"0.10", b"[1E2]", b"[1.50]", b"[-0.0]"])
def test_non_canonical_number_forms_rejected(line: bytes) -> None:
    """Numbers must be written in their ECMAScript form."""
    with pytest.raises(JSONError):
        dta.loads_canonical(line, allow_floats=True)


def test_negative_zero_integer_rejected() -> None:
    """-0 is rejected as an integer before the canonical comparison."""
    with pytest.raises(JSONError, match="-0"):
        dta.loads_canonical(b"[-0]")


def test_float_line_rejected_unless_allowed() -> None:
    """A canonical float is refused by default and accepted with allow_floats."""
    with pytest.raises(JSONError, match="floats are not allowed") as info:
        dta.loads_canonical(b'{"x":1.5}')
    assert info.value.pointer == "/x"
    assert dta.loads_canonical(b'{"x":1.5}', allow_floats=True) == {"x": 1.5}
    assert dta.loads_canonical(b"[1e+21,1e-7]", allow_floats=True) == [1e21, 1e-7]


@pytest.mark.parametrize(
    "line", [b"[9007199254740992]", b"[18446744073709551615]", b"[1" + b"0" * 40 + b"]"]
)
def test_integer_outside_safe_range_rejected(line: bytes) -> None:
    """Big integers are rejected even though orjson would parse them."""
    with pytest.raises(JSONError, match="outside"):
        dta.loads_canonical(line)


def test_duplicate_member_name_rejected_even_when_value_repeats() -> None:
    """Re-serialisation would drop the duplicate; the precise path reports it."""
    with pytest.raises(JSONError, match="duplicate") as info:
        dta.loads_canonical(b'{"a":{"k":1,"k":1}}')
    assert info.value.pointer == "/a/k"


@pytest.mark.parametrize("line", [b'["\\ud800"]', b'{"\\udfff":1}', b'["\xed\xa0\x80"]'])
def test_lone_surrogate_rejected(line: bytes) -> None:
    """Escaped or UTF-8-encoded lone surrogates are rejected."""
    with pytest.raises(JSONError):
        dta.loads_canonical(line)


def test_nesting_of_64_accepted_and_65_rejected() -> None:
    """Depth rules are the same as for loads."""
    assert dta.loads_canonical(b"[" * 64 + b"]" * 64) is not None
    with pytest.raises(JSONError, match="nesting"):
        dta.loads_canonical(b"[" * 65 + b"]" * 65)


@pytest.mark.parametrize("line", [b"\xef\xbb\xbf{}", b"NaN", b"[Infinity]", b"", b"{} {}"])
def test_malformed_line_rejected(line: bytes) -> None:
    """BOMs, constants, empty lines and trailing data are JSONError."""
    with pytest.raises(JSONError):
        dta.loads_canonical(line)


def test_line_over_size_cap_rejected() -> None:
    """max_size applies before any parsing."""
    with pytest.raises(JSONError, match="cap"):
        dta.loads_canonical(LINE, max_size=len(LINE) - 1)
    assert dta.loads_canonical(LINE, max_size=len(LINE)) == RECORD


def test_utf16_member_order_required() -> None:
    """A line sorted by code points instead of UTF-16 code units is not canonical."""
    code_point_order = '{"\ue000":1,"\U0001f600":2}'.encode()
    with pytest.raises(CanonicalError):
        dta.loads_canonical(code_point_order)
    assert dta.loads_canonical('{"\U0001f600":2,"\ue000":1}'.encode()) == {
        "\ue000": 1,
        "\U0001f600": 2,
    }
