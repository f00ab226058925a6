"""Batch fast path of audit-log verification (shared by the sequential and parallel verifiers).

Rules this module enforces (docs/adr/0059, 0095):

* :func:`check_batch` recomputes, for a batch of stored lines, exactly what the record-by-record
  verifier checks on its clean path: strict canonical JSON, every record rule, consecutive
  ``index`` values and each ``prev`` equal to the leaf hash of the line before. It never reads a
  sidecar or stored hash. It only ever says "clean" (leaves, first index, first ``prev``); on
  any anomaly it returns None and the caller replays the batch record by record to name the
  first bad index and the kind of fault.
* The first line of a batch is parsed (``loads_canonical`` + ``check_record``), which gives the
  batch's first ``index`` and ``prev``. Every line is then checked against what it must be: the
  line at ``index`` after the leaf ``h`` (ADR 0095). With the C scanner, a line is accepted
  without being parsed when it splits as ``HEAD + DETAILS + PRE + REST``:

  - ``HEAD`` is a valid head by :func:`dta.audit._record_bytes.head_end` (``LINE_HEAD``:
    ``{"_type":"dta.audit-record","action":...,"actor":...,"agreement":null|{...},
    "details":{``, naming a core action; verdict cached per head);
  - ``PRE`` is exactly ``,"index":<index>,"prev":"<hex(h)>","spec_version":"1.0","subject":
    {"_type":"`` (looked for first where the line before had it, counted from the end, else
    with ``rfind``: any place will do, since the four parts must tile the whole line);
  - ``REST`` fullmatches :data:`_REST` (subject ``_type``, ``digest``, ``id``, a real UTC time
    and the closing braces);
  - ``DETAILS`` is proved by the C scanner (``canonical_line``) to be one canonical JSON value
    within ``MAX_DEPTH - 1`` levels; ``HEAD`` ends with its opening ``{``, so it is an object.

  Why such a line is one the parsing path accepts with the same index and prev: ``HEAD``,
  ``PRE`` and ``REST`` are fixed text around values that are themselves canonical JSON (text
  values are printable ASCII without ``"`` or ``\\``, which JCS writes unescaped; hex is
  lowercase; the index is a plain decimal below 2**53; member names are in JCS order), and
  ``DETAILS`` is a complete canonical value, so the line is the RFC 8785 form of the object
  with exactly the ten members ``_type`` .. ``time`` - no room for another member, a float, a
  duplicate name or trailing bytes, and at most ``MAX_DEPTH`` levels (``details`` sits one
  level down; the other members are at most four deep). ``loads_canonical`` therefore returns
  that object, and it passes every rule of ``check_record``: ``_type``, ``spec_version``;
  ``index`` an int in ``[0, 2**53 - 1]``; ``time`` matches the record's time pattern and is a
  real date (:data:`_DATE` lists the Gregorian calendar: months, month lengths, leap years,
  no year 0; the clock is 00:00:00-23:59:59); ``actor`` and the subject/agreement texts are
  1-1024 printable characters; a core action; ``subject`` and ``agreement`` with exactly their
  members and 64-hex digests; ``details`` an object; ``prev`` 64 lowercase hex. Any line not
  accepted this way is parsed and checked in full (its record must then carry the expected
  index and prev), so the fast path only ever skips work, never a rule.
* Where the extension has ``chain_run`` (ADR 0107), :func:`_chain` hands the accepting path above
  to C: from a line that starts with the current validated head, C applies the same split, the
  same ``PRE`` search, :data:`_REST` and the scanner, appends each leaf, and stops at the first
  line it does not accept; that line goes through the Python loop body here (a new head is
  validated by ``head_end``, a line the fast path cannot prove is parsed) and C resumes after
  it. C accepts exactly the lines the Python fast path accepts, so the leaves and the verdict
  are the same either way (tests/audit/test_verify_chain_c*.py compare both).
* Without the C extension (or for a batch holding an over-long line) every line is parsed; the
  byte-level check of :mod:`dta.audit._record_bytes` spares the full record walk where it can.
* :func:`range_nodes` turns the leaf hashes of ``[start, start + n)`` into the RFC 9162 compact
  range (the maximal aligned perfect subtrees, left to right), split at given tree sizes, and
  :func:`fold` merges such nodes into the Merkle peaks of ``[0, start)``. Roots at every split
  size are therefore available without handling each leaf in Python.
"""

from __future__ import annotations

import hashlib
import re
from binascii import hexlify
from collections.abc import Callable, Sequence
from functools import partial
from operator import itemgetter
from typing import Any

from dta._json import MAX_DEPTH, loads_canonical
from dta._json_walk import SPEEDUPS, canonical_line
from dta.audit._record import check_record
from dta.audit._record_bytes import HEX64, MAX_LINE, TEXT, head_end, line_fast_ok_cached
from dta.errors import Error

__all__ = ["check_batch", "fold", "range_nodes"]

_sha256 = hashlib.sha256
_loads = partial(loads_canonical, max_size=MAX_LINE)
_index = itemgetter("index")
_prev = itemgetter("prev")

Nodes = list[tuple[int, bytes]]

_LEAP = rb"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
#: Every real date of the proleptic Gregorian calendar, years 0001-9999.
_DATE = (
    rb"(?!0000)(?:[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    rb"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)|" + _LEAP + rb"-02-29)"
)
_CLOCK = rb"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?Z"
_PRE = b',"index":%d,"prev":"%s","spec_version":"1.0","subject":{"_type":"'
_REST = re.compile(
    TEXT
    + rb'","digest":\{"sha256":"'
    + HEX64
    + rb'"\},"id":"'
    + TEXT
    + rb'"\},"time":"'
    + _DATE
    + rb"T"
    + _CLOCK
    + rb'"\}'
)
_DETAILS_DEPTH = MAX_DEPTH - 1  # details is the second level of the line
_MAX_INDEX = (1 << 53) - 1

#: The C scanner (None without the extension: then every line is parsed).
_scan: Callable[[bytes, int], bool] | None = canonical_line
_rest = _REST.fullmatch

#: The C loop of :func:`_chain` (None without it: the Python loop below).
_run: Callable[..., tuple[int, bytes, int]] | None = None
if SPEEDUPS:
    from dta import _speedups

    _run = getattr(_speedups, "chain_run", None)


def _parsed_line(line: bytes) -> tuple[int, str] | None:
    """``(index, prev)`` of a line that parses as a valid canonical record; else None."""
    try:
        rec = _loads(line)
        if not line_fast_ok_cached(line, rec):
            check_record(rec)
    except Error:
        return None
    return rec["index"], rec["prev"]


def _chain(lines: Sequence[bytes], index: int, prev: bytes) -> list[bytes] | None:
    """Leaf hashes of ``lines`` if line ``j`` is a valid record at ``index + j`` linking to
    the line before (to ``prev``, a hex leaf, for the first); else None (see module rules).

    Indices past 2**53 - 1 are never accepted here (the record rules end there).
    """
    scan = _scan
    if scan is None or index + len(lines) - 1 > _MAX_INDEX:
        return None
    if _run is not None and type(lines) in (list, tuple):
        return _chain_c(_run, lines, index, prev)
    rest = _rest
    sha256 = _sha256
    leaves: list[bytes] = []
    append = leaves.append
    head = b"\n"  # the last valid head (no line starts with a newline)
    k = 0
    tail = 0  # bytes from PRE to the end in the line before (records of a log mostly agree)
    for line in lines:
        if not line.startswith(head):
            k = head_end(line)
            head = line[:k] if k else b"\n"
        pre = _PRE % (index, prev)
        cut = len(line) - tail
        if cut <= k or not line.startswith(pre, cut):
            cut = line.rfind(pre)
            tail = len(line) - cut
        if not (
            k and cut > k and rest(line, cut + len(pre)) and scan(line[k - 1 : cut], _DETAILS_DEPTH)
        ) and _parsed_line(line) != (index, prev.decode()):
            return None
        leaf = sha256(b"\x00" + line).digest()
        append(leaf)
        prev = hexlify(leaf)
        index += 1
    return leaves


def _chain_c(
    run: Callable[..., tuple[int, bytes, int]], lines: Sequence[bytes], index: int, prev: bytes
) -> list[bytes] | None:
    """:func:`_chain` with runs of lines under one valid head accepted by C (``chain_run``).

    The line C stops at goes through the loop body of :func:`_chain` here; C resumes after it.
    """
    scan = _scan
    assert scan is not None
    leaves: list[bytes] = []
    head = b"\n"
    k = 0
    tail = 0
    pos = 0
    n = len(lines)
    first = index
    while pos < n:
        if k:
            pos, prev, tail = run(lines, pos, first + pos, prev, head, tail, leaves, _DETAILS_DEPTH)
            if pos >= n:
                break
        line = lines[pos]
        index = first + pos
        if not line.startswith(head):
            k = head_end(line)
            head = line[:k] if k else b"\n"
        pre = _PRE % (index, prev)
        cut = len(line) - tail
        if cut <= k or not line.startswith(pre, cut):
            cut = line.rfind(pre)
            tail = len(line) - cut
        if not (
            k
            and cut > k
            and _rest(line, cut + len(pre))
            and scan(line[k - 1 : cut], _DETAILS_DEPTH)
        ) and _parsed_line(line) != (index, prev.decode()):
            return None
        leaf = _sha256(b"\x00" + line).digest()
        leaves.append(leaf)
        prev = hexlify(leaf)
        pos += 1
    return leaves


def _parsed(lines: Sequence[bytes]) -> tuple[list[int], list[str]] | None:
    """Indices and prevs of lines that are all valid canonical records; else None."""
    try:
        recs: list[Any] = list(map(_loads, lines))
        oks = list(map(line_fast_ok_cached, lines, recs))
        if not all(oks):  # the full check decides where the line check could not
            for rec, ok in zip(recs, oks, strict=True):
                if not ok:
                    check_record(rec)
    except Error:
        return None
    return list(map(_index, recs)), list(map(_prev, recs))


def check_batch(lines: Sequence[bytes]) -> tuple[list[bytes], int, str] | None:
    """Check a non-empty batch of consecutive lines.

    Returns:
        ``(leaf hashes, index of the first record, prev of the first record)`` when every line
        is a valid canonical record and the batch is one unbroken chain; else None.
    """
    if _scan is not None and max(map(len, lines)) <= MAX_LINE:
        first = _parsed_line(lines[0])
        if first is None:
            return None
        chained = _chain(lines, first[0], first[1].encode())
        return None if chained is None else (chained, first[0], first[1])
    parsed = _parsed(lines)
    if parsed is None:
        return None
    indices, prevs = parsed
    first_index = indices[0]
    if indices != list(range(first_index, first_index + len(indices))):
        return None
    leaves = [_sha256(b"\x00" + line).digest() for line in lines]
    if "".join(prevs[1:]) != b"".join(leaves[:-1]).hex():
        return None
    return leaves, first_index, prevs[0]


def _compact(hashes: list[bytes], start: int) -> Nodes:
    left: Nodes = []
    right: Nodes = []
    level = 0
    end = start + len(hashes)
    while hashes:
        if start & 1:
            left.append((level, hashes[0]))
            hashes = hashes[1:]
            start += 1
        if end & 1 and hashes:
            right.append((level, hashes[-1]))
            hashes = hashes[:-1]
            end -= 1
        pairs = iter(hashes)
        hashes = [_sha256(b"\x01" + a + b).digest() for a, b in zip(pairs, pairs, strict=False)]
        start >>= 1
        end >>= 1
        level += 1
    right.reverse()
    return left + right


def range_nodes(
    leaves: list[bytes], start: int, cuts: Sequence[int] = ()
) -> list[tuple[int, Nodes]]:
    """Compact ranges of ``leaves`` (leaf ``start`` onwards), split at the tree sizes ``cuts``.

    Returns:
        ``(size after the segment, its nodes as (level, hash) left to right)`` per segment.
    """
    end = start + len(leaves)
    out = []
    pos = start
    for cut in sorted({c for c in cuts if start < c < end} | {end}):
        out.append((cut, _compact(leaves[pos - start : cut - start], pos)))
        pos = cut
    return out


def fold(peaks: list[bytes], size: int, nodes: Nodes) -> int:
    """Merge compact-range nodes starting at leaf ``size`` into ``peaks``; return the new size."""
    for level, node in nodes:
        h = node
        n = size >> level
        while n & 1:
            h = _sha256(b"\x01" + peaks.pop() + h).digest()
            n >>= 1
        peaks.append(h)
        size += 1 << level
    return size
