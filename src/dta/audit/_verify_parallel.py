"""Parallel fast path of audit-log verification for large JSONL files.

Rules this module enforces:

* Only the raw log file is read (never the sidecar). The file is split at newlines into chunks;
  worker processes (``spawn`` context, so no fork of a threaded caller) check every line of a
  chunk exactly as :func:`dta.audit._verify.verify_lines` does on its fast path (size, strict
  canonical JSON, record rules, index continuity and ``prev`` links inside the chunk) and return
  the leaf hashes. The parent stitches chunks (index and ``prev`` across the boundary), folds the
  leaves into the Merkle peaks and compares the root at every trusted checkpoint size.
* This path only ever says "all good": on the first anomaly of any kind (or a final line without
  newline) it returns None and the caller runs the sequential verifier, which names the first bad
  index and the kind of fault. So results never depend on the number of workers.
* Memory stays flat: chunks are a few MiB and at most ``2 * workers`` are in flight.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Iterable
from typing import Any

from dta._json import loads_canonical
from dta.audit._merkle import EMPTY_ROOT
from dta.audit._record import MAX_LINE, check_record, line_fast_ok
from dta.audit._verify import VerifyReport, _trusted
from dta.errors import Error

__all__ = ["PARALLEL_MIN_BYTES", "verify_file_parallel"]

PARALLEL_MIN_BYTES = 64 << 20
_CHUNK = 4 << 20  # bytes per chunk (tests shrink it)
_ZERO_HEX = "0" * 64


def _chunk(args: tuple[str, int, int]) -> tuple[int, str, int, bytes] | None:
    """Check the lines in ``[start, end)``; (first index, first prev, count, leaves) or None."""
    path, start, end = args
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    lines = data.split(b"\n")
    lines.pop()  # the chunk ends with a newline
    sha = hashlib.sha256
    leaves = []
    first_index = -1
    first_prev = ""
    prev_hex = ""
    expected = 0
    try:
        for line in lines:
            if len(line) > MAX_LINE:
                return None
            rec = loads_canonical(line, max_size=MAX_LINE)
            if not line_fast_ok(line, rec):
                rec = check_record(rec)
            if first_index < 0:
                first_index, first_prev = rec["index"], rec["prev"]
                expected = first_index
            elif rec["prev"] != prev_hex:
                return None
            if rec["index"] != expected:
                return None
            leaf = sha(b"\x00" + line).digest()
            prev_hex = leaf.hex()
            leaves.append(leaf)
            expected += 1
    except Error:
        return None
    return first_index, first_prev, len(leaves), b"".join(leaves)


def _ranges(path: str, size: int) -> list[tuple[str, int, int]] | None:
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
            out.append((path, start, end))
            start = end
        if size:
            handle.seek(size - 1)
            if handle.read(1) != b"\n":
                return None
    return out


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
    ranges = _ranges(path, size)
    if ranges is None:
        return None
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(ranges)))
    peaks: list[bytes] = []
    total = 0
    last_hex = _ZERO_HEX
    c = 0
    matched: list[int] = []
    sha = hashlib.sha256

    def root() -> bytes:
        if not peaks:
            return EMPTY_ROOT
        acc = peaks[-1]
        for h in reversed(peaks[:-1]):
            acc = sha(b"\x01" + h + acc).digest()
        return acc

    def at_checkpoints() -> bool:
        nonlocal c
        while c < len(cps) and cps[c][0] == total:
            if cps[c][1] != root():
                return False
            matched.append(total)
            c += 1
        return True

    if not at_checkpoints():
        return None
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(n_workers) as pool:
        for result in pool.imap(_chunk, ranges, chunksize=1):
            if result is None:
                return None
            first_index, first_prev, count, leaves = result
            if count == 0 or first_index != total or first_prev != last_hex:
                return None
            for k in range(0, 32 * count, 32):
                h = leaves[k : k + 32]
                n = total
                while n & 1:
                    h = sha(b"\x01" + peaks.pop() + h).digest()
                    n >>= 1
                peaks.append(h)
                total += 1
                if c < len(cps) and cps[c][0] == total and not at_checkpoints():
                    return None
            last_hex = leaves[-32:].hex()
    if c < len(cps):
        return None  # truncated behind a checkpoint: the sequential verifier names it
    return VerifyReport(True, total, root(), None, tuple(matched))
