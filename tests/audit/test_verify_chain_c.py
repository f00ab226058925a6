"""The C chain loop (``chain_run``, ADR 0107) accepts exactly what the Python fast path does.

``_verify_fast._chain`` hands runs of lines under one validated head to C. C must never accept a
line the Python fast path (the same split, ``_REST`` and the scanner, with the parsing fallback
switched off) rejects, and must accept the lines it accepts with the same leaf hashes. These
tests compare the two on every single-byte change, insertion and deletion of several record
shapes, on calendar edges, indices near 2**53, long and deeply nested details, non-ASCII text
and wrong links, and compare whole ``_chain`` / ``check_batch`` results with C on and off.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dta._json import MAX_DEPTH
from dta._json_walk import SPEEDUPS
from dta.audit import _verify_fast as vf
from dta.audit._record_bytes import MAX_LINE, head_end

pytestmark = pytest.mark.skipif(not SPEEDUPS or vf._run is None, reason="C chain loop not built")

DEPTH = MAX_DEPTH - 1
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BYTES = b'"\\09afgAZT.-:,{}[] \x00\x1f\x7f\xc3\xa9\xff'
BASE: dict[str, Any] = {
    "_type": "dta.audit-record",
    "action": "transfer.sent",
    "actor": "party:acme",
    "agreement": {"digest": {"sha256": "cd" * 32}, "id": "urn:uuid:agreement"},
    "details": {"n": 1, "pad": "ppp"},
    "spec_version": "1.0",
    "subject": {"_type": "dta.manifest", "digest": {"sha256": "ab" * 32}, "id": "urn:uuid:0"},
    "time": "2026-01-01T00:00:00Z",
}
PREV0 = "0" * 64


def _leaf(line: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + line).digest()


def _line(index: int = 5, prev: str = PREV0, **fields: Any) -> bytes:
    rec = {**BASE, **fields, "index": index, "prev": prev}
    text = json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode()


def _nested(levels: int) -> dict[str, Any]:
    value: Any = 1
    for _ in range(levels - 1):
        value = {"a": value}
    return value  # type: ignore[no-any-return]


SHAPES: list[tuple[bytes, int]] = [
    (_line(), 5),
    (_line(agreement=None), 5),
    (_line(details={}), 5),
    (_line(details={"a": [1, -2, "x", True, None, {"b": []}], "z": "\u00e9\u20ac"}), 5),
    (_line(time="2024-02-29T23:59:59.123456789Z"), 5),
    (_line(index=2**53 - 1), 2**53 - 1),
    (_line(actor="p" * 1024, subject={**BASE["subject"], "id": "i" * 1024}), 5),
]


def _py_fast(lines: list[bytes], index: int, prev: bytes) -> list[bytes] | None:
    """The Python fast path alone (no C loop, no parsing fallback)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vf, "_run", None)
        mp.setattr(vf, "_parsed_line", lambda _line: None)
        return vf._chain(lines, index, prev)


def _c_run(line: bytes, index: int, prev: bytes, head: bytes, tail: int) -> list[bytes] | None:
    """What C alone accepts of ``[line]`` under ``head`` (None: it stopped).

    Over-long lines (which ``check_batch`` never sends to ``_chain``) C leaves to Python.
    """
    assert vf._run is not None
    leaves: list[bytes] = []
    pos, got_prev, _tail = vf._run([line], 0, index, prev, head, tail, leaves, DEPTH)
    assert pos in (0, 1)
    assert len(leaves) == pos
    if pos == 0:
        assert got_prev == prev
        return None
    assert got_prev == leaves[0].hex().encode()
    return leaves


def _agree(line: bytes, index: int, prev: bytes, head: bytes) -> None:
    want = _py_fast([line], index, prev)
    for tail in (0, len(line) - line.rfind(b',"index":'), 7, -3, len(line) + 5):
        got = _c_run(line, index, prev, head, tail)
        if line.startswith(head) and len(line) <= MAX_LINE:
            assert got == want, (line, tail)
        else:
            assert got is None, (line, tail)


def _mutants(line: bytes) -> Iterator[bytes]:
    for i in range(len(line) + 1):
        if i < len(line):
            yield line[:i] + line[i + 1 :]
            for b in BYTES:
                if b != line[i]:
                    yield line[:i] + bytes([b]) + line[i + 1 :]
        for b in BYTES:
            yield line[:i] + bytes([b]) + line[i:]


@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_every_single_byte_change_insertion_and_deletion_is_judged_alike(shape: int) -> None:
    line, index = SHAPES[shape]
    prev = PREV0.encode()
    head = line[: head_end(line)]
    assert head
    assert _py_fast([line], index, prev) == [_leaf(line)]
    accepted = 0
    for mutant in _mutants(line):
        _agree(mutant, index, prev, head)
        accepted += _py_fast([mutant], index, prev) is not None
    assert accepted > 0  # some changes (a details digit, a text byte) stay valid records


DATES = [
    ("2024-02-29", True),
    ("2023-02-29", False),
    ("1900-02-29", False),
    ("2000-02-29", True),
    ("2100-02-29", False),
    ("2400-02-29", True),
    ("0004-02-29", True),
    ("0000-02-29", False),
    ("0000-01-01", False),
    ("0001-01-01", True),
    ("9999-12-31", True),
    ("2023-04-31", False),
    ("2023-04-30", True),
    ("2023-01-31", True),
    ("2023-06-31", False),
    ("2023-13-01", False),
    ("2023-00-10", False),
    ("2023-12-00", False),
    ("2023-02-28", True),
    ("2023-02-30", False),
    ("2023-11-31", False),
    ("2023-12-32", False),
    ("2023-08-31", True),
    ("2023-09-31", False),
]
CLOCKS = [
    ("00:00:00Z", True),
    ("23:59:59Z", True),
    ("24:00:00Z", False),
    ("23:60:00Z", False),
    ("23:59:60Z", False),
    ("12:00:00.1Z", True),
    ("12:00:00.123456789Z", True),
    ("12:00:00.1234567890Z", False),
    ("12:00:00.Z", False),
    ("12:00:00", False),
    ("12:00:00z", False),
    ("1:00:00Z", False),
    ("12:00:00+00:00", False),
]


@pytest.mark.parametrize(("date", "valid"), DATES)
@pytest.mark.parametrize(("clock", "clock_ok"), CLOCKS)
def test_dates_around_leap_years_and_month_ends_are_judged_alike(
    date: str, valid: bool, clock: str, clock_ok: bool
) -> None:
    line = _line(time=f"{date}T{clock}")
    prev = PREV0.encode()
    head = line[: head_end(line)]
    assert (_py_fast([line], 5, prev) is not None) == (valid and clock_ok)
    _agree(line, 5, prev, head)


@pytest.mark.parametrize("index", [0, 9, 10, 2**31, 2**32, 2**53 - 2, 2**53 - 1, 2**53, 2**63 - 1])
def test_indices_near_two_to_the_53_are_judged_alike(index: int) -> None:
    line = _line(index=index)
    prev = PREV0.encode()
    head = line[: head_end(line)]
    _agree(line, index, prev, head)
    _agree(line, index - 1 if index else 1, prev, head)  # the wrong expected index
    if index >= 2**53:
        assert _c_run(line, index, prev, head, 0) is None


def test_index_past_the_c_range_stops_without_an_error() -> None:
    line = _line()
    head = line[: head_end(line)]
    assert vf._run is not None
    assert vf._run([line], 0, 2**70, PREV0.encode(), head, 0, [], DEPTH)[0] == 0
    assert vf._run([line], 0, -1, PREV0.encode(), head, 0, [], DEPTH)[0] == 0


@pytest.mark.parametrize("levels", [DEPTH - 1, DEPTH, DEPTH + 1])
def test_nested_details_at_the_depth_limit_are_judged_alike(levels: int) -> None:
    line = _line(details={"d": _nested(levels - 1)})
    prev = PREV0.encode()
    head = line[: head_end(line)]
    assert (_py_fast([line], 5, prev) is not None) == (levels <= DEPTH)
    _agree(line, 5, prev, head)


@pytest.mark.parametrize("size", [1000, 30_000, 65_000, 70_000])
def test_long_details_are_judged_alike(size: int) -> None:
    line = _line(details={"pad": "p" * size})
    prev = PREV0.encode()
    head = line[: head_end(line)]
    _agree(line, 5, prev, head)
    if len(line) > 65_535:
        assert _c_run(line, 5, prev, head, 0) is None


@pytest.mark.parametrize(
    "fields",
    [
        {"actor": "party:\u00e9"},
        {"subject": {**BASE["subject"], "id": "urn:\u20ac"}},
        {"subject": {**BASE["subject"], "_type": 'a"b'}},
        {"subject": {**BASE["subject"], "id": ""}},
        {"subject": {**BASE["subject"], "id": "i" * 1025}},
        {"subject": {**BASE["subject"], "digest": {"sha256": "AB" * 32}}},
        {"subject": {**BASE["subject"], "extra": 1}},
        {"details": {"n": 1.5}},
        {"spec_version": "1.1"},
    ],
)
def test_non_ascii_and_off_pattern_text_is_judged_alike(fields: dict[str, Any]) -> None:
    line = _line(**fields)
    prev = PREV0.encode()
    head = line[: head_end(line)] if head_end(line) else _line()[: head_end(_line())]
    _agree(line, 5, prev, head)
    if "\u00e9" not in json.dumps(fields):
        assert _c_run(line, 5, prev, head, 0) is None


def test_details_out_of_jcs_order_are_not_accepted() -> None:
    line = _line(details={"a": 1, "b": 2}).replace(b'{"a":1,"b":2}', b'{"b":2,"a":1}')
    head = line[: head_end(line)]
    _agree(line, 5, PREV0.encode(), head)
    assert _c_run(line, 5, PREV0.encode(), head, 0) is None


def test_a_wrong_prev_or_a_bad_prev_argument_is_not_accepted() -> None:
    line = _line()
    head = line[: head_end(line)]
    for prev in ("1" * 64, "0" * 63 + "A"):
        _agree(line, 5, prev.encode(), head)
        assert _c_run(line, 5, prev.encode(), head, 0) is None
    assert _c_run(line, 5, PREV0.encode()[:63], head, 0) is None
    assert _c_run(line, 5, PREV0.encode() + b"0", head, 0) is None


def test_a_head_not_ending_the_details_opening_is_refused() -> None:
    line = _line()
    k = head_end(line)
    assert _c_run(line, 5, PREV0.encode(), line[:k], 0) == [_leaf(line)]
    assert _c_run(line, 5, PREV0.encode(), line[: k - 1], 0) is None
    assert _c_run(line, 5, PREV0.encode(), b"", 0) is None


def _chain_lines(n: int, start: int = 3, heads: int = 1, **fields: Any) -> list[bytes]:
    """A valid chain of ``n`` lines from index ``start``; the actor changes every 7 lines
    among ``heads`` values (each change sends a new head through the Python path)."""
    lines = []
    prev = PREV0
    for i in range(n):
        actor = f"party:{(i // 7) % heads}" if heads > 1 else fields.pop("actor", "party:acme")
        fields.setdefault("actor", actor)
        rec = {**fields, "actor": actor}
        line = _line(index=start + i, prev=prev, details={"n": i, "p": "x" * (i % 5)}, **rec)
        lines.append(line)
        prev = _leaf(line).hex()
    return lines


def _both(lines: Any, index: int, prev: bytes) -> tuple[Any, Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vf, "_run", None)
        py = vf._chain(lines, index, prev), vf.check_batch(lines)
    return py, (vf._chain(lines, index, prev), vf.check_batch(lines))


def test_whole_chains_give_the_same_leaves_with_and_without_c() -> None:
    good = _chain_lines(40)
    heads = _chain_lines(40, heads=3)
    non_ascii = _chain_lines(20, actor="party:\u00e9")  # every line parsed, none by C
    broken = [*good[:10], *_chain_lines(30, agreement=None)[10:20], *good[20:]]
    for case in (good, heads, non_ascii, broken, tuple(good), tuple(heads)):
        py, c = _both(case, 3, PREV0.encode())
        assert py == c
    for case in (good, heads, non_ascii):
        assert _both(case, 3, PREV0.encode())[1][0] == [_leaf(x) for x in case]
    assert _both(broken, 3, PREV0.encode())[1] == (None, None)


def test_check_batch_without_any_c_gives_the_same_result() -> None:
    cases = [_chain_lines(40, heads=3), _chain_lines(20, actor="party:\u00e9")]
    cases.append([*cases[0][:10], cases[0][11], cases[0][10], *cases[0][12:]])  # reordered
    for lines in cases:
        with_c = vf.check_batch(lines)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(vf, "_scan", None)
            mp.setattr(vf, "_run", None)
            assert vf.check_batch(lines) == with_c


@pytest.mark.parametrize("backend", ["hashlib", "auto"])
def test_both_sha256_backends_give_the_same_leaves(backend: str) -> None:
    from dta import _speedups

    lines = _chain_lines(30, heads=2)
    try:
        _speedups.hash_sha256_backend(backend)
        assert vf._chain(lines, 3, PREV0.encode()) == [_leaf(x) for x in lines]
    finally:
        _speedups.hash_sha256_backend("auto")


def test_the_c_loop_leaks_no_references_or_memory() -> None:
    import gc
    import sys
    import tracemalloc

    assert vf._run is not None
    lines = _chain_lines(50)
    head = lines[0][: head_end(lines[0])]
    prev = PREV0.encode()
    counts = [sys.getrefcount(x) for x in (*lines, head, prev)]

    def run() -> None:
        assert vf._run is not None
        leaves: list[bytes] = []
        vf._run(lines, 0, 3, prev, head, 0, leaves, DEPTH)
        vf._run(lines, 0, 4, prev, head, 0, leaves, DEPTH)  # stops at once
        vf._run([*lines[:5], b"x", 1], 0, 3, prev, head, 0, leaves, DEPTH)
        with pytest.raises(TypeError):
            vf._run(lines, 0, 3, "str", head, 0, leaves, DEPTH)

    for _ in range(50):
        run()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(2000):
        run()
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown < 64_000, grown
    assert [sys.getrefcount(x) for x in (*lines, head, prev)] == counts


@st.composite
def _mutated_chain(draw: st.DrawFn) -> tuple[list[bytes], int]:
    lines = _chain_lines(6, actor=draw(st.sampled_from(["party:acme", "party:b\u00e9", "x"])))
    i = draw(st.integers(0, len(lines) - 1))
    line = lines[i]
    for _ in range(draw(st.integers(1, 3))):
        j = draw(st.integers(0, len(line)))
        op = draw(st.sampled_from(["set", "ins", "del"]))
        b = bytes([draw(st.sampled_from(list(BYTES)))])
        if op == "set" and j < len(line):
            line = line[:j] + b + line[j + 1 :]
        elif op == "ins":
            line = line[:j] + b + line[j:]
        elif j < len(line):
            line = line[:j] + line[j + 1 :]
    lines[i] = line
    return lines, i


@SETTINGS
@given(_mutated_chain())
def test_mutated_chains_get_the_same_verdict_with_and_without_c(
    case: tuple[list[bytes], int],
) -> None:
    lines, i = case
    py, c = _both(lines, 3, PREV0.encode())
    assert py == c
    head = lines[0][: head_end(lines[0])] or _line()[: head_end(_line())]
    prev = _leaf(lines[i - 1]).hex().encode() if i else PREV0.encode()
    _agree(lines[i], 3 + i, prev, head)
