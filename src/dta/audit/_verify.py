"""Streaming audit-log verification: recompute everything, report the first bad index and why.

Rules this module enforces:

* Input is the stored lines only (never a sidecar or stored hash). Memory is flat: a batch of
  :data:`BATCH` lines, one line of lookahead and the O(log n) Merkle peaks.
* Clean batches are confirmed by the batch fast path (:mod:`dta.audit._verify_fast`); a batch
  with any anomaly is replayed record by record from its first line, so every report below comes
  from the same record-by-record logic whatever the batch size.
* Each line must be at most 65,535 bytes, strict JSON in canonical form (``non-canonical``
  otherwise; ``malformed`` if not JSON or not a valid record), carry ``index`` equal to its
  position and ``prev`` equal to the leaf hash of the line before (64 ``0`` at index 0).
* Fault kinds and where they are reported (``index`` = first bad record):

  - ``record-deleted``: the record at position ``i`` has index ``j > i`` and the next one ``j+1``.
  - ``reordered``: a later record stands at ``i`` (swap or move).
  - ``record-inserted``: the record at ``i`` repeats an earlier index, or is followed by the
    record that belongs at ``i``.
  - ``content-modified``: record ``i``'s bytes changed but its successor still links to them
    (the change broke the link *into* ``i + 1``: reported at ``i``), or a wrong index field in a
    record its successor links to.
  - ``chain-broken``: record ``i``'s ``prev`` does not link to record ``i - 1`` and the record
    after ``i`` (if any) does not link to ``i`` either. When ``i`` is the last line, a modified
    record ``i - 1`` looks the same: the fault may lie at ``i - 1`` or ``i``.
  - ``truncated``: the log has fewer records than a trusted checkpoint (index = first missing).
  - ``fork``: the Merkle root of the first ``size`` records differs from a trusted checkpoint
    of that size (index = ``size - 1``; the records differing may start earlier when a whole
    suffix was rewritten consistently).

* Trusted checkpoints are ``(size, root)`` pairs or objects with ``size`` and ``root`` (e.g. a
  :class:`dta.audit.checkpoint.Checkpoint` whose signature the caller verified).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from typing import Any

import attrs

from dta._json import loads_canonical
from dta.audit._merkle import fold_peaks
from dta.audit._record import check_record
from dta.audit._record_bytes import MAX_LINE, line_fast_ok
from dta.audit._verify_fast import check_batch, fold, range_nodes
from dta.errors import CanonicalError, Error, TamperError

__all__ = ["BATCH", "FAULT_KINDS", "Fault", "VerifyReport", "verify_lines"]

#: Lines checked together on the fast path (a batch with an anomaly is replayed line by line).
BATCH = 1024

FAULT_KINDS = (
    "content-modified",
    "record-deleted",
    "record-inserted",
    "reordered",
    "chain-broken",
    "non-canonical",
    "malformed",
    "truncated",
    "fork",
)
_ZERO_HEX = "0" * 64
_sha256 = hashlib.sha256


@attrs.frozen
class Fault:
    """The first problem found: record index, kind (see :data:`FAULT_KINDS`) and a message."""

    index: int
    kind: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"index": self.index, "kind": self.kind, "message": self.message}


@attrs.frozen
class VerifyReport:
    """Result of a verification.

    Attributes:
        ok: True if no fault was found.
        size: Records that verified (all of them when ``ok``).
        root: Merkle root of all records when ``ok``; None otherwise.
        fault: The first fault, or None.
        checkpoints: Sizes of the trusted checkpoints that matched.
    """

    ok: bool
    size: int
    root: bytes | None
    fault: Fault | None
    checkpoints: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form (root in hex)."""
        return {
            "ok": self.ok,
            "size": self.size,
            "root": None if self.root is None else self.root.hex(),
            "fault": None if self.fault is None else self.fault.to_dict(),
            "checkpoints": list(self.checkpoints),
        }

    def raise_for_fault(self) -> VerifyReport:
        """Return self if ok.

        Raises:
            TamperError: with ``index`` and ``kind`` of the fault.
        """
        if self.fault is None:
            return self
        f = self.fault
        raise TamperError(f"record {f.index}: {f.kind}: {f.message}", index=f.index, kind=f.kind)


def _trusted(trusted: Iterable[Any]) -> list[tuple[int, bytes]]:
    out = []
    for cp in trusted:
        size, root = (cp.size, cp.root) if hasattr(cp, "size") else cp
        if type(size) is not int or size < 0 or not isinstance(root, bytes) or len(root) != 32:
            raise TamperError("trusted checkpoint must be (size >= 0, 32-byte root)")
        out.append((size, root))
    out.sort(key=lambda x: x[0])
    return out


def _parse(line: bytes) -> tuple[dict[str, Any] | None, str, str]:
    """Parse and check one line; return (record, kind, message) with kind "" when fine."""
    if len(line) > MAX_LINE:
        return None, "malformed", f"line is {len(line)} bytes (limit {MAX_LINE})"
    try:
        rec = loads_canonical(line, max_size=MAX_LINE)
    except CanonicalError as exc:
        return None, "non-canonical", str(exc)
    except Error as exc:
        return None, "malformed", f"not strict JSON: {exc}"
    try:
        return check_record(rec), "", ""
    except Error as exc:
        return None, "malformed", f"not a valid audit record: {exc}"


def _links(following: bytes | None, leaf: bytes) -> bool:
    """True if the line ``following`` parses and its prev is ``leaf``."""
    if following is None:
        return False
    rec, _, _ = _parse(following)
    return rec is not None and rec["prev"] == leaf.hex()


def _index_of(line: bytes | None) -> int | None:
    if line is None:
        return None
    rec, _, _ = _parse(line)
    return None if rec is None else int(rec["index"])


def _record_fault(
    i: int, line: bytes, rec: dict[str, Any], prev: bytes, ahead: bytes | None
) -> Fault | None:
    j = rec["index"]
    leaf = _sha256(b"\x00" + line).digest()
    if j != i:
        nxt = _index_of(ahead)
        if nxt == i + 1 and rec["prev"] == (prev.hex() if i else _ZERO_HEX) and _links(ahead, leaf):
            return Fault(i, "content-modified", f"index field says {j}")
        if j < i:
            return Fault(i, "record-inserted", f"record with index {j} repeated at position {i}")
        if nxt == i:
            return Fault(i, "reordered", f"record {j} stands before record {i}")
        if nxt == j + 1 or ahead is None:
            return Fault(i, "record-deleted", f"records {i}..{j - 1} are missing")
        if nxt is not None and nxt < i:
            return Fault(i, "record-inserted", f"record {j} inserted at position {i}")
        return Fault(i, "reordered", f"record {j} found at position {i}")
    if rec["prev"] != (prev.hex() if i else _ZERO_HEX):
        if i and _links(ahead, leaf):
            return Fault(i - 1, "content-modified", f"record {i} does not link to record {i - 1}")
        where = "" if ahead is not None else f" (or record {i - 1} was modified)"
        return Fault(i, "chain-broken", f"prev does not link to record {i - 1}{where}")
    return None


def verify_lines(lines: Iterable[bytes], trusted: Iterable[Any] = ()) -> VerifyReport:
    """Verify a log from its lines (see the module rules).

    Lines go through the batch fast path (:mod:`dta.audit._verify_fast`) in groups of
    :data:`BATCH` lines; a group with any anomaly is replayed record by record from its first
    line, which finds and names the first bad index.

    Args:
        lines: The stored lines in order, without newlines.
        trusted: Trusted checkpoints, ``(size, root)`` or objects with ``size`` and ``root``.

    Returns:
        The report; ``report.fault`` is the first fault (None when the log verifies).

    Raises:
        TamperError: a trusted checkpoint is malformed.
    """
    cps = _trusted(trusted)
    sizes = [size for size, _ in cps]
    st = _State()
    it: Iterator[bytes] = iter(lines)
    if not st.at_checkpoints(cps):
        return _replay(it, cps, _State())
    while batch := list(islice(it, BATCH)):
        got = check_batch(batch)
        if got is None or got[1] != st.i or got[2] != (st.prev.hex() if st.i else _ZERO_HEX):
            return _replay(chain(batch, it), cps, st)
        leaves = got[0]
        trial = st.copy()
        for _, nodes in range_nodes(leaves, st.i, sizes):
            trial.i = fold(trial.peaks, trial.i, nodes)
            if not trial.at_checkpoints(cps):
                return _replay(chain(batch, it), cps, st)
        trial.prev = leaves[-1]
        st = trial
    if st.c < len(cps):
        message = f"log has {st.i} records; a trusted checkpoint has {cps[st.c][0]}"
        return VerifyReport(False, st.i, None, Fault(st.i, "truncated", message), tuple(st.matched))
    return VerifyReport(True, st.i, st.root(), None, tuple(st.matched))


class _State:
    """Verifier position: records checked, last leaf, Merkle peaks, checkpoints matched."""

    __slots__ = ("c", "i", "matched", "peaks", "prev")

    def __init__(self) -> None:
        self.i = 0
        self.prev = b""
        self.peaks: list[bytes] = []
        self.c = 0
        self.matched: list[int] = []

    def copy(self) -> _State:
        other = _State()
        other.i, other.prev, other.c = self.i, self.prev, self.c
        other.peaks = self.peaks.copy()
        other.matched = self.matched.copy()
        return other

    def root(self) -> bytes:
        return fold_peaks(self.peaks)

    def at_checkpoints(self, cps: list[tuple[int, bytes]]) -> bool:
        """Match every checkpoint of the current size; False at the first root that differs."""
        root = None
        while self.c < len(cps) and cps[self.c][0] == self.i:
            root = self.root() if root is None else root
            if cps[self.c][1] != root:
                return False
            self.matched.append(self.i)
            self.c += 1
        return True


def _replay(it: Iterator[bytes], cps: list[tuple[int, bytes]], st: _State) -> VerifyReport:
    """Record-by-record verification from state ``st`` (names the first bad index)."""
    c = st.c
    matched = st.matched
    peaks = st.peaks
    prev = st.prev
    i = st.i
    ahead = next(it, None)
    parse = loads_canonical
    check = check_record
    fast_ok = line_fast_ok

    def tree_root() -> bytes:
        return fold_peaks(peaks)

    def checkpoint_fault(size: int) -> Fault | None:
        nonlocal c
        root = None
        while c < len(cps) and cps[c][0] == size:
            root = tree_root() if root is None else root
            if cps[c][1] != root:
                return Fault(
                    max(size - 1, 0),
                    "fork",
                    f"root of the first {size} records differs from a trusted checkpoint",
                )
            matched.append(size)
            c += 1
        return None

    def done(fault: Fault | None) -> VerifyReport:
        if fault is None:
            return VerifyReport(True, i, tree_root(), None, tuple(matched))
        return VerifyReport(False, fault.index, None, fault, tuple(matched))

    hex_prev = prev.hex() if i else _ZERO_HEX
    while ahead is not None:
        line = ahead
        ahead = next(it, None)
        rec: dict[str, Any] | None = None
        fault: Fault | None = None
        try:
            if len(line) <= MAX_LINE:
                rec = parse(line, max_size=MAX_LINE)
                if not fast_ok(line, rec):
                    rec = check(rec)
        except Error:
            rec = None
        if rec is None:
            _, kind, message = _parse(line)
            fault = Fault(i, kind or "malformed", message)
        elif rec["index"] != i or rec["prev"] != hex_prev:
            fault = _record_fault(i, line, rec, prev, ahead)
        cp_fault = checkpoint_fault(i) if c < len(cps) and cps[c][0] == i else None
        if cp_fault is not None and (fault is None or cp_fault.index < fault.index):
            fault = cp_fault
        if fault is not None:
            return done(fault)
        prev = _sha256(b"\x00" + line).digest()
        hex_prev = prev.hex()
        n = i
        h = prev
        while n & 1:
            h = _sha256(b"\x01" + peaks.pop() + h).digest()
            n >>= 1
        peaks.append(h)
        i += 1
    fault = checkpoint_fault(i) if c < len(cps) and cps[c][0] == i else None
    if fault is None and c < len(cps):
        fault = Fault(i, "truncated", f"log has {i} records; a trusted checkpoint has {cps[c][0]}")
    return done(fault)
