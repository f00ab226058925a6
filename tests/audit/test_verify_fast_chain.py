"""The verifier's expectation-based line check never accepts what parsing rejects (ADR 0095).

``_verify_fast._chain`` accepts a stored line without parsing it only when it is, byte for byte,
a valid record at the expected index after the expected leaf (scanner proof of ``details`` plus
the head, ``PRE`` and ``REST`` patterns). These tests try what a byte-level check could miss and
check that a tampered record is reported at the same index with the same fault kind with and
without the fast path, and as the record-by-record replay reports it.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_kinds import EVENT, event

from dta import canonical_bytes, loads_canonical
from dta._json_walk import SPEEDUPS
from dta.audit import MemoryTree, _verify, verify_lines
from dta.audit import _verify_fast as vf
from dta.audit._record import build_line, check_record
from dta.errors import Error

pytestmark = pytest.mark.skipif(not SPEEDUPS, reason="C accelerator not built")

N = 24
BAD = 9  # the record the tamper tests change
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _leaf(line: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + line).digest()


def _dump(rec: dict[str, Any]) -> bytes:
    """The canonical bytes of ``rec``; JCS order and escapes also for out-of-range integers."""
    try:
        return canonical_bytes(rec)
    except Error:  # an integer past 2**53 - 1: written as its digits, as a tamperer would
        return json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _chained(records: list[dict[str, Any]]) -> list[bytes]:
    """Canonical lines of ``records`` with index and prev set to a valid chain."""
    lines: list[bytes] = []
    prev = bytes(32)
    for i, rec in enumerate(records):
        line = _dump({**rec, "index": i, "prev": prev.hex()})
        prev = _leaf(line)
        lines.append(line)
    return lines


SUBJECT: dict[str, Any] = dict(EVENT["subject"])
RECORDS: list[dict[str, Any]] = [json.loads(build_line(event(i), 0, bytes(32))) for i in range(N)]
LINES = _chained(RECORDS)


def _parsing_path(line: bytes) -> tuple[int, str] | None:
    try:
        rec = check_record(loads_canonical(line, max_size=65_535))
    except Error:
        return None
    return rec["index"], rec["prev"]


def _fast_accepts(line: bytes, index: int, prev: bytes) -> bool:
    """True if the byte check alone accepts ``line`` at ``index`` after leaf ``prev``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vf, "_parsed_line", lambda _line: None)  # no parsing fallback
        return vf._chain([line], index, prev.hex().encode()) is not None


def _fast_accepts_after(before: bytes, line: bytes, index: int) -> bool:
    """Like :func:`_fast_accepts` for ``line`` at ``index`` after the valid line ``before``.

    The line before sets where ``_chain`` first looks for the expected tail (the guess path).
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vf, "_parsed_line", lambda _line: None)
        first = vf._chain([before], index - 1, json.loads(before)["prev"].encode())
        assert first is not None
        return vf._chain([before, line], index - 1, json.loads(before)["prev"].encode()) is not None


def _reports(lines: list[bytes]) -> tuple[Any, Any, Any]:
    """(fast path on, fast path off, record-by-record replay) reports of ``lines``."""
    fast = verify_lines(lines)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vf, "_scan", None)
        slow = verify_lines(lines)
    replay = _verify._replay(iter(lines), [], _verify._State())
    return fast, slow, replay


def test_clean_log_is_accepted_by_the_byte_check_with_the_tree_root() -> None:
    """The clean path: every line is accepted without parsing; the root is RFC 9162's."""
    prev = bytes(32)
    for i, line in enumerate(LINES):
        assert _fast_accepts(line, i, prev)
        prev = _leaf(line)
    report = verify_lines(LINES)
    assert report.ok
    assert report.root == MemoryTree([_leaf(line) for line in LINES]).root(N)


def test_tail_lengths_that_change_between_records_are_still_checked_without_parsing() -> None:
    """Subject ids of varying length and an index gaining a digit: the guess misses, rfind finds."""
    records = [dict(rec) for rec in RECORDS]
    for i, rec in enumerate(records):
        rec["subject"] = {**SUBJECT, "id": "urn:" + "x" * (1 + (i * 7) % 13)}
    lines = _chained(records)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vf, "_parsed_line", lambda _line: None)
        assert vf._chain(lines, 0, b"0" * 64) == [_leaf(line) for line in lines]
    assert _fast_accepts_after(lines[BAD - 1], lines[BAD], BAD)
    assert not _fast_accepts_after(lines[BAD - 1], lines[BAD + 1], BAD)


def test_byte_check_requires_the_expected_index_and_prev() -> None:
    """A valid record is not accepted at another position or after another leaf."""
    line, prev = LINES[BAD], _leaf(LINES[BAD - 1])
    assert _fast_accepts(line, BAD, prev)
    assert not _fast_accepts(line, BAD + 1, prev)
    assert not _fast_accepts(line, BAD - 1, prev)
    assert not _fast_accepts(line, BAD, bytes(32))


TAMPERS: list[tuple[str, dict[str, Any]]] = [
    ("extra member between details and index", {"evil": 1}),
    ("extra member before action", {"a": 1}),
    ("extra member after time", {"zzz": "x"}),
    ("index as a string", {"index": "9"}),
    ("negative index", {"index": -1}),
    ("index beyond 2**53 - 1", {"index": 2**53}),
    ("bad time: 30 February", {"time": "2027-02-30T09:00:00Z"}),
    ("bad time: 29 February of a common year", {"time": "2100-02-29T09:00:00Z"}),
    ("bad time: hour 24", {"time": "2027-04-20T24:00:00Z"}),
    ("bad time: second 60", {"time": "2027-04-20T23:59:60Z"}),
    ("bad time: year 0", {"time": "0000-01-01T00:00:00Z"}),
    ("bad time: no Z", {"time": "2027-04-20T09:00:00"}),
    ("unknown action", {"action": "no.such.action"}),
    ("upper-case action", {"action": "transfer.Sent"}),
    ("empty actor", {"actor": ""}),
    ("actor with a control character", {"actor": "tab\there"}),
    ("details is a list", {"details": []}),
    ("details is null", {"details": None}),
    ("details integer beyond 2**53 - 1", {"details": {"x": 2**53}}),
    ("spec_version 2.0", {"spec_version": "2.0"}),
    ("subject with an extra member", {"subject": {**SUBJECT, "x": 1}}),
    (
        "agreement digest with an extra member",
        {"agreement": {"id": "a", "digest": {"sha256": "ab" * 32, "x": "1"}}},
    ),
    ("upper-case subject digest", {"subject": {**SUBJECT, "digest": {"sha256": "AB" * 32}}}),
]


def _set_index(line: bytes, index: object) -> bytes:
    """``line`` with its index member's value replaced by the JSON text of ``index``."""
    old = json.loads(line)["index"]
    return line.replace(b',"index":%d,' % old, b',"index":%s,' % json.dumps(index).encode(), 1)


def _tampered(changes: dict[str, Any], rechain: bool) -> list[bytes]:
    """LINES with record BAD changed (and, with ``rechain``, every later prev fixed up)."""
    changes = dict(changes)
    index = changes.pop("index", None)
    records = [dict(rec) for rec in RECORDS]
    records[BAD] = {**records[BAD], **changes}
    lines = _chained(records) if rechain else list(LINES)
    if not rechain:
        lines[BAD] = _dump({**json.loads(LINES[BAD]), **changes})
    if index is not None:
        lines[BAD] = _set_index(lines[BAD], index)
        if rechain:
            lines[BAD + 1 :] = _rechain_from(lines, BAD + 1)
    return lines


def _rechain_from(lines: list[bytes], start: int) -> list[bytes]:
    out: list[bytes] = []
    prev = _leaf(lines[start - 1])
    for line in lines[start:]:
        new = _dump({**json.loads(line), "prev": prev.hex()})
        out.append(new)
        prev = _leaf(new)
    return out


@pytest.mark.parametrize("rechain", [True, False], ids=["rechained", "in-place"])
@pytest.mark.parametrize(("what", "changes"), TAMPERS, ids=[t[0] for t in TAMPERS])
def test_tampered_record_is_reported_at_its_index_with_the_parsing_paths_fault(
    what: str, changes: dict[str, Any], rechain: bool
) -> None:
    """Each broken rule: same first bad index and fault kind with and without the byte check."""
    lines = _tampered(changes, rechain)
    assert _parsing_path(lines[BAD]) is None, what
    assert not _fast_accepts(lines[BAD], BAD, _leaf(lines[BAD - 1]))
    assert not _fast_accepts_after(lines[BAD - 1], lines[BAD], BAD)
    fast, slow, replay = _reports(lines)
    assert fast == slow == replay
    assert fast.fault is not None
    assert fast.fault.index == BAD
    assert fast.fault.kind in {"malformed", "non-canonical", "content-modified", "chain-broken"}


@pytest.mark.parametrize(
    ("what", "old", "new"),
    [
        ("number with a leading zero", b'"n":9,', b'"n":09,'),
        ("float in details", b'"n":9,', b'"n":9.5,'),
        ("float written as an integer", b'"n":9,', b'"n":9.0,'),
        ("exponent", b'"n":9,', b'"n":9e0,'),
        ("space after a colon", b'"n":9,', b'"n": 9,'),
        ("members out of order", b'"n":9,"pad":""', b'"pad":"","n":9'),
        ("index with a leading zero", b',"index":9,', b',"index":09,'),
        ("duplicate member", b'"n":9,', b'"n":9,"n":9,'),
        ("escaped solidus", b'"pad":""', b'"pad":"\\/"'),
    ],
)
def test_non_canonical_bytes_are_reported_like_the_parsing_path(
    what: str, old: bytes, new: bytes
) -> None:
    """Byte edits that break canonical form or strict JSON: the fault the parsing path names."""
    lines = list(LINES)
    assert old in lines[BAD], what
    lines[BAD] = lines[BAD].replace(old, new, 1)
    assert not _fast_accepts(lines[BAD], BAD, _leaf(lines[BAD - 1]))
    fast, slow, replay = _reports(lines)
    assert fast == slow == replay
    assert fast.fault is not None
    assert fast.fault.index == BAD
    assert fast.fault.kind in {"non-canonical", "malformed", "content-modified"}


def _with_lookalike_details(prev: bytes | None = None) -> list[bytes]:
    """LINES where record BAD's details hold an object spelling out BAD's expected tail."""
    real = json.loads(LINES[BAD])
    nested = {"h": 0, **{k: real[k] for k in ("index", "prev", "spec_version", "subject", "time")}}
    records = [dict(rec) for rec in RECORDS]
    records[BAD] = {**records[BAD], "details": {"z": nested}}
    lines = _chained(records)
    if prev is not None:  # the record's own prev made wrong; its details still spell the right one
        lines[BAD] = canonical_bytes({**json.loads(lines[BAD]), "prev": prev.hex()})
    return lines


def test_lookalike_tail_nested_in_details_does_not_split_the_record() -> None:
    """details holding the expected tail text: the real tail (the last one) is the one checked."""
    lines = _with_lookalike_details()
    expected = vf._PRE % (BAD, _leaf(lines[BAD - 1]).hex().encode())
    assert lines[BAD].count(expected) == 2
    assert _fast_accepts(lines[BAD], BAD, _leaf(lines[BAD - 1]))
    fast, slow, replay = _reports(lines)
    assert fast == slow == replay
    assert fast.ok


def test_lookalike_tail_in_details_cannot_stand_in_for_a_wrong_prev() -> None:
    """Only the nested copy carries the expected prev: details cut there is no JSON value."""
    lines = _with_lookalike_details(prev=bytes(range(32)))
    expected = vf._PRE % (BAD, _leaf(lines[BAD - 1]).hex().encode())
    assert lines[BAD].count(expected) == 1
    assert not _fast_accepts(lines[BAD], BAD, _leaf(lines[BAD - 1]))
    fast, slow, replay = _reports(lines)
    assert fast == slow == replay
    assert fast.fault is not None
    assert fast.fault.index == BAD


def test_index_past_2_to_the_53_is_never_accepted_without_parsing() -> None:
    """A chain running past the largest index: the record at 2**53 is left to the full check."""
    top = 2**53 - 1
    first = canonical_bytes({**RECORDS[0], "index": top, "prev": "ab" * 32})
    beyond = _set_index(canonical_bytes({**RECORDS[1], "prev": _leaf(first).hex()}), top + 1)
    assert _parsing_path(first) == (top, "ab" * 32)
    assert _parsing_path(beyond) is None
    assert vf.check_batch([first]) == ([_leaf(first)], top, "ab" * 32)
    assert vf.check_batch([first, beyond]) is None
    assert not _fast_accepts(beyond, top + 1, _leaf(first))


def test_records_the_byte_check_cannot_prove_are_parsed_one_by_one() -> None:
    """Non-ASCII text (valid, outside the byte patterns) mid-batch: the log still verifies."""
    records = [dict(rec) for rec in RECORDS]
    records[BAD] = {**records[BAD], "actor": "party:zürich"}
    records[BAD + 2] = {**records[BAD + 2], "subject": {**SUBJECT, "id": "urn:安全"}}
    lines = _chained(records)
    assert _parsing_path(lines[BAD]) == (BAD, _leaf(lines[BAD - 1]).hex())
    assert not _fast_accepts(lines[BAD], BAD, _leaf(lines[BAD - 1]))
    fast, slow, replay = _reports(lines)
    assert fast == slow == replay
    assert fast.ok
    assert fast.root == MemoryTree([_leaf(line) for line in lines]).root(N)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=20)


@SETTINGS
@given(
    details=st.dictionaries(st.text(max_size=10), _JSON, max_size=5),
    extra=st.dictionaries(st.sampled_from(["a", "details0", "e", "h", "j", "q", "u", "~"]), _JSON),
    actor=_TEXT,
    subject_id=_TEXT,
    index=st.integers(0, 2**53 - 1),
)
def test_byte_check_agrees_with_parsing_on_random_records(
    details: dict[str, Any], extra: dict[str, Any], actor: str, subject_id: str, index: int
) -> None:
    """Accepted only where parsing accepts with the expected index and prev."""
    prev = hashlib.sha256(subject_id.encode()).digest()
    rec = {
        **RECORDS[0],
        "actor": actor,
        "subject": {**SUBJECT, "id": subject_id},
        "details": details,
        "index": index,
        "prev": prev.hex(),
        **extra,
    }
    line = canonical_bytes(rec)
    if _fast_accepts(line, index, prev):
        assert _parsing_path(line) == (index, prev.hex())
        assert not extra
    if not extra:
        assert _parsing_path(line) == (index, prev.hex())


@SETTINGS
@given(data=st.data())
def test_byte_check_agrees_with_parsing_on_mutated_lines(data: st.DataObject) -> None:
    """Any single-byte change, insertion or deletion: accepted only where parsing agrees."""
    line = LINES[BAD]
    pos = data.draw(st.integers(0, len(line) - 1))
    byte = data.draw(st.integers(0, 255))
    kind = data.draw(st.sampled_from(["replace", "insert", "delete"]))
    if kind == "replace":
        line = line[:pos] + bytes([byte]) + line[pos + 1 :]
    elif kind == "insert":
        line = line[:pos] + bytes([byte]) + line[pos:]
    else:
        line = line[:pos] + line[pos + 1 :]
    prev = _leaf(LINES[BAD - 1])
    if _fast_accepts(line, BAD, prev) or _fast_accepts_after(LINES[BAD - 1], line, BAD):
        assert _parsing_path(line) == (BAD, prev.hex())


def _real(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


YEARS = ["0000", "0001", "0004", "1600", "1700", "1900", "2000", "2024", "2027", "2100", "9999"]


@pytest.mark.parametrize("year", YEARS)
def test_date_pattern_is_exactly_the_calendar(year: str) -> None:
    """Every month 00-13 and day 00-32 of years around the leap rules: pattern == calendar."""
    pattern = re.compile(vf._DATE)
    for month in range(14):
        for day in range(33):
            text = f"{year}-{month:02d}-{day:02d}"
            assert bool(pattern.fullmatch(text.encode())) == _real(text + "T00:00:00"), text


def test_clock_pattern_accepts_only_real_times() -> None:
    """Hours 00-23, minutes and seconds 00-59, an optional 1-9 digit fraction, then Z."""
    pattern = re.compile(vf._CLOCK)
    for hour in range(26):
        for minute in (0, 30, 59, 60, 99):
            for second in (0, 59, 60, 61):
                text = f"{hour:02d}:{minute:02d}:{second:02d}"
                expected = _real("2027-01-01T" + text)
                assert bool(pattern.fullmatch(text.encode() + b"Z")) == expected, text
                assert bool(pattern.fullmatch(text.encode() + b".123456789Z")) == expected
    assert not pattern.fullmatch(b"09:00:00.Z")
    assert not pattern.fullmatch(b"09:00:00.1234567890Z")
    assert not pattern.fullmatch(b"09:00:00")
