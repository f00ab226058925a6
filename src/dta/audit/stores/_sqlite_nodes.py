"""Where the SQLite store keeps subtree hashes, and which ones a proof needs (ADR 0058).

Rules this module enforces:

* Schema 2 keeps the hashes of the perfect subtrees that record ``r`` completes *in record r's
  row*: ``nodes`` is the concatenation of the 32-byte hashes of levels ``1..t`` (``t`` = number
  of trailing one bits of ``r``), NULL when ``t == 0``. So subtree ``(level, j)`` lives in row
  ``((j + 1) << level) - 1`` at byte ``(level - 1) * 32``; level 0 is the row's ``leaf`` column.
  Every hash a proof needs is a primary-key lookup in one table, and an append writes one row.
* Logs created with schema 1 keep the subtrees completed by rows below ``inline_from`` (the size
  at migration) in the frozen ``dta_nodes`` table, one row per subtree
  (:mod:`dta.audit.stores._sqlite_schema`).
* The node keys of a root, inclusion or consistency proof are computed from the sizes alone,
  mirroring :mod:`dta.audit._merkle` step for step (a proof entry is the right fold of the
  perfect subtrees listed for it); argument errors are the ones that module raises.
"""

from __future__ import annotations

import hashlib

from dta.audit._merkle import consistency_proof_length, inclusion_proof_length
from dta.errors import ProofError

__all__ = [
    "Frontier",
    "Plan",
    "consistency_plan",
    "inclusion_plan",
    "root_plan",
    "row_of",
]

_sha256 = hashlib.sha256

#: A proof (or root) as lists of ``(level, j)`` subtrees; each list folds into one hash.
Plan = list[list[tuple[int, int]]]


def row_of(level: int, j: int) -> int:
    """The record whose append completed subtree ``(level, j)`` (its last leaf)."""
    return ((j + 1) << level) - 1


def _split(start: int, count: int, out: list[tuple[int, int]]) -> None:
    """Append the perfect subtrees covering ``[start, start + count)``, largest first."""
    while count:
        size = 1 << (count.bit_length() - 1)
        level = size.bit_length() - 1
        out.append((level, start >> level))
        start += size
        count -= size


def root_plan(size: int) -> Plan:
    """Subtrees whose right fold is the root of ``size`` leaves (empty plan for 0).

    Raises:
        ProofError: ``size`` is not a non-negative integer.
    """
    if type(size) is not int or size < 0:
        raise ProofError(f"tree size must be a non-negative integer, got {size!r}")
    if not size:
        return []
    nodes: list[tuple[int, int]] = []
    _split(0, size, nodes)
    return [nodes]


def inclusion_plan(index: int, size: int) -> Plan:
    """Plan of the RFC 9162 inclusion proof of ``index`` in ``size`` leaves, leaf to root.

    Raises:
        ProofError: ``index`` is not inside the tree (as :func:`inclusion_proof` says).
    """
    inclusion_proof_length(index, size)  # argument checks with the merkle module's messages
    # Below the level where index and size - 1 first differ, every sibling is a perfect subtree
    # except possibly a right one cut by the tree's end (then MTH of the rest of the tree);
    # above it, the path runs along the right edge and has a left sibling where index has a 1.
    inner = (index ^ (size - 1)).bit_length()
    plan: Plan = []
    for level in range(inner):
        j = (index >> level) ^ 1
        if (j + 1) << level <= size:
            plan.append([(level, j)])
        else:
            entry: list[tuple[int, int]] = []
            _split(j << level, size - (j << level), entry)
            plan.append(entry)
    rest = index >> inner
    level = inner
    while rest:
        if rest & 1:
            plan.append([(level, rest - 1)])
        rest >>= 1
        level += 1
    return plan


def consistency_plan(old: int, new: int) -> Plan:
    """Plan of the RFC 9162 consistency proof from ``old`` to ``new`` leaves.

    Raises:
        ProofError: the sizes are not ``0 < old <= new`` (as :func:`consistency_proof` says).
    """
    consistency_proof_length(old, new)
    plan: Plan = []
    start, m, n, whole = 0, old, new, True
    while m != n:
        k = 1 << ((n - 1).bit_length() - 1)
        entry: list[tuple[int, int]] = []
        if m <= k:
            _split(start + k, n - k, entry)
            n = k
        else:
            level = k.bit_length() - 1
            entry.append((level, start >> level))
            start += k
            m -= k
            n -= k
            whole = False
        plan.append(entry)
    if not whole:
        level = n.bit_length() - 1
        plan.append([(level, start >> level)])
    plan.reverse()
    return plan


class Frontier:
    """The peaks of a tree of ``size`` leaves (largest first): enough to keep appending."""

    __slots__ = ("peaks", "size")

    def __init__(self, size: int, peaks: list[bytes]) -> None:
        """A tree of ``size`` leaves whose perfect-subtree peaks are ``peaks``."""
        self.size = size
        self.peaks = peaks

    def add(self, leaf: bytes) -> bytes | None:
        """Append a leaf hash; return the ``nodes`` value of its row (completed levels >= 1)."""
        index = self.size
        self.size = index + 1
        peaks = self.peaks
        if not index & 1:
            peaks.append(leaf)
            return None
        done = []
        h = leaf
        while index & 1:
            h = _sha256(b"\x01" + peaks.pop() + h).digest()
            done.append(h)
            index >>= 1
        peaks.append(h)
        return b"".join(done)
