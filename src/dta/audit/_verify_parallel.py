"""Parallel fast path of audit-log verification for large JSONL files.

Rules this module enforces:

* Only the raw log file is read (never the sidecar). The file is split at newlines into chunks;
  worker processes check every line of a chunk with the batch fast path of
  :mod:`dta.audit._verify_fast` (strict canonical JSON, record rules, index continuity and
  ``prev`` links) and return the chunk's first index and ``prev``, its last leaf and its RFC 9162
  compact range split at the trusted checkpoint sizes. The parent stitches chunks (index and
  ``prev`` across the boundary), folds the compact ranges into the Merkle peaks and compares the
  root at every trusted checkpoint size.
* Workers are forked on Linux when the caller runs no other thread (nothing can be locked
  across the fork) and spawned otherwise.
* This path only ever says "all good": on the first anomaly of any kind (or a final line without
  newline) it returns None and the caller runs the sequential verifier, which names the first bad
  index and the kind of fault. So results never depend on the number of workers.
* Memory stays flat: chunks are a few MiB and a worker returns O(log n) hashes per chunk.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Iterable
from typing import Any

from dta.audit._record import MAX_LINE
from dta.audit._verify import BATCH, VerifyReport, _State, _trusted
from dta.audit._verify_fast import Nodes, check_batch, fold, range_nodes

__all__ = ["PARALLEL_MIN_BYTES", "verify_file_parallel"]

PARALLEL_MIN_BYTES = 64 << 20
_CHUNK = 4 << 20  # bytes per chunk (tests shrink it)
_ZERO_HEX = "0" * 64

#: (first index, first prev, record count, last leaf, (size after, compact-range nodes) segments)
_ChunkResult = tuple[int, str, int, bytes, list[tuple[int, Nodes]]]


def _chunk(args: tuple[str, int, int, tuple[int, ...]]) -> _ChunkResult | None:
    """Check the lines in ``[start, end)`` (see module rules); None on any anomaly."""
    path, start, end, cuts = args
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    lines = data.split(b"\n")
    lines.pop()  # the chunk ends with a newline
    del data
    leaves: list[bytes] = []
    first_index = -1
    first_prev = ""
    for k in range(0, len(lines), BATCH):
        got = check_batch(lines[k : k + BATCH])
        if got is None:
            return None
        batch_leaves, index, prev = got
        if first_index < 0:
            first_index, first_prev = index, prev
        elif index != first_index + len(leaves) or prev != leaves[-1].hex():
            return None
        leaves.extend(batch_leaves)
    if not leaves:
        return None
    return first_index, first_prev, len(leaves), leaves[-1], range_nodes(leaves, first_index, cuts)


def _ranges(
    path: str, size: int, cuts: tuple[int, ...]
) -> list[tuple[str, int, int, tuple[int, ...]]] | None:
    out = []
    start = 0
    with open(path, "rb") as handle:
        while start < size:
            end = min(size, start + _CHUNK)
            if end < size:
                handle.seek(end)
                window = handle.read(MAX_LINE + 2)
                nl = window.find(b"\n")
                if nl < 0:
                    return None
                end += nl + 1
            out.append((path, start, end, cuts))
            start = end
        if size:
            handle.seek(size - 1)
            if handle.read(1) != b"\n":
                return None
    return out


def _start_method() -> str:
    """``fork`` on Linux when this process runs no other thread (no lock can be held across
    the fork; saves each worker a fresh interpreter and imports), else ``spawn``."""
    return "fork" if sys.platform.startswith("linux") and threading.active_count() == 1 else "spawn"


def verify_file_parallel(
    path: str, trusted: Iterable[Any] = (), *, workers: int | None = None
) -> VerifyReport | None:
    """Verify a JSONL log file with worker processes.

    Args:
        path: The log file.
        trusted: Trusted checkpoints (as for :func:`dta.audit._verify.verify_lines`).
        workers: Worker processes (default: CPU count).

    Returns:
        An ok report, or None when anything looked wrong (run the sequential verifier).

    Raises:
        OSError: the file cannot be read.
        TamperError: a trusted checkpoint is malformed.
    """
    cps = _trusted(trusted)
    size = os.path.getsize(path)
    ranges = _ranges(path, size, tuple(sorted({s for s, _ in cps})))
    if ranges is None:
        return None
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(ranges)))
    st = _State()
    last_hex = _ZERO_HEX
    if not st.at_checkpoints(cps):
        return None
    ctx = multiprocessing.get_context(_start_method())
    with ctx.Pool(n_workers) as pool:
        for result in pool.imap(_chunk, ranges, chunksize=1):
            if result is None:
                return None
            first_index, first_prev, _count, last_leaf, segments = result
            if first_index != st.i or first_prev != last_hex:
                return None
            for _, nodes in segments:
                st.i = fold(st.peaks, st.i, nodes)
                if not st.at_checkpoints(cps):
                    return None
            last_hex = last_leaf.hex()
    if st.c < len(cps):
        return None  # truncated behind a checkpoint: the sequential verifier names it
    return VerifyReport(True, st.i, st.root(), None, tuple(st.matched))
