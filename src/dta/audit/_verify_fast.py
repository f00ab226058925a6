"""Batch fast path of audit-log verification (shared by the sequential and parallel verifiers).

Rules this module enforces (docs/adr/0059):

* :func:`check_batch` recomputes, for a batch of stored lines, exactly what the record-by-record
  verifier checks on its clean path: strict canonical JSON (``loads_canonical``), every record
  rule (the line fast check, else ``check_record``), consecutive ``index`` values and each
  ``prev`` equal to the leaf hash of the line before. It never reads a sidecar or stored hash.
  It only ever says "clean" (leaves, first index, first ``prev``); on any anomaly it returns
  None and the caller replays the batch record by record to name the first bad index.
* With the C extension, a line is checked without building its value (:func:`_record_line`,
  docs/adr/0101): the scanner proves it canonical (every ``loads`` rule, floats refused, depth,
  size) and counts the outermost object's members; the anchored head pattern fixes the first
  five (``_type`` .. ``details``, whose value is an object), and the tail pattern matched at the
  last ``,"index":`` up to the closing brace fixes the last five (in a proved JSON text that
  text cannot lie inside a string, and the brace that ends the line closes the outermost
  object). Ten members in all leaves nothing else, which is what ``line_fast_ok`` established
  with ``len(rec) == 10``; ``index`` and ``prev`` come from the tail match. Any line this path
  does not accept goes through the parsing path above, which decides.
* The per-record work is done in C-level loops where possible (``map``, comprehensions, one
  ``hex`` of all leaves for the chain comparison), so the Python interpreter overhead per record
  stays small next to parsing and hashing.
* :func:`range_nodes` turns the leaf hashes of ``[start, start + n)`` into the RFC 9162 compact
  range (the maximal aligned perfect subtrees, left to right), split at given tree sizes, and
  :func:`fold` merges such nodes into the Merkle peaks of ``[0, start)``. Roots at every split
  size are therefore available without handling each leaf in Python.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from operator import itemgetter
from typing import Any

from dta._json import MAX_DEPTH, loads_canonical
from dta._json_walk import canonical_members
from dta.audit._record import _LINE_HEAD, _LINE_TAIL, ACTIONS, MAX_LINE, check_record
from dta.errors import Error

__all__ = ["check_batch", "fold", "range_nodes"]

_sha256 = hashlib.sha256
_loads = partial(loads_canonical, max_size=MAX_LINE)
_index = itemgetter("index")
_prev = itemgetter("prev")
_iso = datetime.fromisoformat

Nodes = list[tuple[int, bytes]]

_DETAILS = b'"details":{'
_INDEX = b',"index":'
_HEADS_MAX = 1024
_heads: dict[bytes, bool] = {}  # line head (up to details) -> passes the head pattern


def _line_ok(line: bytes, rec: Any) -> bool:
    """:func:`dta.audit._record.line_fast_ok` with its head verdict cached per distinct head.

    The head (``_type`` ... ``details":{``, i.e. action, actor and agreement) repeats across
    a log; its text fields cannot hold ``"``, so the first ``"details":{`` ends it and equal
    heads get equal verdicts. True only where ``line_fast_ok`` is True; False sends the record
    to ``check_record``, which decides.
    """
    if type(rec) is not dict or len(rec) != 10:
        return False
    k = line.find(_DETAILS) + len(_DETAILS)
    head = line[:k]
    known = _heads.get(head)
    if known is None:
        m = _LINE_HEAD.match(line)
        known = m is not None and m.end() == k and m.group(1).decode() in ACTIONS
        if len(_heads) < _HEADS_MAX:
            _heads[head] = known
    if not known:
        return False
    cut = line.rfind(_INDEX)
    tail = _LINE_TAIL.match(line, cut) if cut > k else None
    if tail is None:
        return False
    try:
        _iso(tail["time"][:19].decode())
    except ValueError:
        return False
    return True


_MEMBERS = 10  # members of an audit record


def _record_line(line: bytes) -> tuple[int, str] | None:
    """``(index, prev)`` of a line proved to be a valid canonical record without parsing it.

    None means "not proved here" (the parsing path decides). Requires the C scanner.
    """
    if len(line) > MAX_LINE or _members(line, MAX_DEPTH) != _MEMBERS:  # type: ignore[misc]
        return None
    k = line.find(_DETAILS) + len(_DETAILS)
    head = line[:k]
    known = _heads.get(head)
    if known is None:
        m = _LINE_HEAD.match(line)
        known = m is not None and m.end() == k and m.group(1).decode() in ACTIONS
        if len(_heads) < _HEADS_MAX:
            _heads[head] = known
    if not known:
        return None
    cut = line.rfind(_INDEX)
    tail = _LINE_TAIL.match(line, cut) if cut > k else None
    if tail is None:
        return None
    try:
        _iso(tail["time"][:19].decode())
    except ValueError:
        return None
    return int(tail["index"]), tail["prev"].decode()


_members = canonical_members


def _parsed(lines: Sequence[bytes]) -> tuple[list[int], list[str]] | None:
    """Indices and prevs of lines that are all valid canonical records; else None."""
    if _members is not None:
        fast = list(map(_record_line, lines))
        if None not in fast:
            return [f[0] for f in fast], [f[1] for f in fast]  # type: ignore[index]
    try:
        recs: list[Any] = list(map(_loads, lines))
        oks = list(map(_line_ok, lines, recs))
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
    parsed = _parsed(lines)
    if parsed is None:
        return None
    indices, prevs = parsed
    first = indices[0]
    if indices != list(range(first, first + len(indices))):
        return None
    leaves = [_sha256(b"\x00" + line).digest() for line in lines]
    if "".join(prevs[1:]) != b"".join(leaves[:-1]).hex():
        return None
    return leaves, first, prevs[0]


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
