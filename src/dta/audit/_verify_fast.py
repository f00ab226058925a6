"""Batch fast path of audit-log verification (shared by the sequential and parallel verifiers).

Rules this module enforces (docs/adr/0059):

* :func:`check_batch` recomputes, for a batch of stored lines, exactly what the record-by-record
  verifier checks on its clean path: strict canonical JSON (``loads_canonical``), every record
  rule (the line fast check, else ``check_record``), consecutive ``index`` values and each
  ``prev`` equal to the leaf hash of the line before. It never reads a sidecar or stored hash.
  It only ever says "clean" (leaves, first index, first ``prev``); on any anomaly it returns
  None and the caller replays the batch record by record to name the first bad index.
* With the C extension, a clean line is checked without building its value
  (:func:`dta.audit._record_bytes.line_index_prev`, docs/adr/0101); any line it does not accept
  goes through the parsing path above, which decides.
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

from dta._json import loads_canonical
from dta._json_walk import canonical_members
from dta.audit._record import check_record
from dta.audit._record_bytes import MAX_LINE, line_fast_ok_cached, line_index_prev
from dta.errors import Error

__all__ = ["check_batch", "fold", "range_nodes"]

_sha256 = hashlib.sha256
_loads = partial(loads_canonical, max_size=MAX_LINE)
_index = itemgetter("index")
_prev = itemgetter("prev")
_iso = datetime.fromisoformat

Nodes = list[tuple[int, bytes]]


def _parsed(lines: Sequence[bytes]) -> tuple[list[int], list[str]] | None:
    """Indices and prevs of lines that are all valid canonical records; else None."""
    if canonical_members is not None:
        fast = list(map(line_index_prev, lines))
        if None not in fast:
            return [f[0] for f in fast], [f[1] for f in fast]  # type: ignore[index]
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
