"""Public entry points: scan paths or text into a ``dta.classification-report``; raw detection.

Rules this module enforces:

* ``scan_paths`` and ``scan_text`` return a report that validates against
  ``classification-report.v1`` and never contains a raw value (see :mod:`._report`).
* Same inputs, policy, key and ``now`` give the same report, byte for byte after
  :func:`dta.canonical_bytes`.
* ``detect`` gives character spans for a caller's own text (for redaction tools); spans are
  positions, not values, and the caller already holds the text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterable
from typing import Any

from dta.classify._engine import scan
from dta.classify._findings import Likelihood
from dta.classify._normalize import normalize
from dta.classify._policy import Policy, load_policy
from dta.classify._report import Collector, ReportContext, build_report, resolve_key
from dta.classify._scanner import Progress, iter_targets, scan_file
from dta.errors import ClassificationError

__all__ = ["detect", "scan_paths", "scan_text"]

DEFAULT_MAX_DETAILS = 1000


def _context(
    policy: Policy | str | os.PathLike[str] | None, key: bytes | None, max_details: int
) -> ReportContext:
    if max_details < 0:
        raise ClassificationError("max_details must be >= 0")
    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    raw, source = resolve_key(key)
    return ReportContext(pol, raw, source, max_details)


def scan_paths(
    paths: Iterable[str | os.PathLike[str]],
    *,
    policy: Policy | str | os.PathLike[str] | None = None,
    key: bytes | None = None,
    now: dt.datetime | None = None,
    max_file_size: int | None = None,
    max_details: int = DEFAULT_MAX_DETAILS,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Scan files and directory trees and return a classification report.

    Args:
        paths: Files and/or directories (walked without following symlinks).
        policy: A :class:`Policy`, a policy file path, or None for the packaged default.
        key: HMAC key for fingerprints (>= 16 bytes); None draws a random per-report key.
        now: Report time (default: the current time).
        max_file_size: Files larger than this many bytes are reported unscanned.
        max_details: Finding details kept per file (counts are always complete).
        progress: Called as ``progress(relative_path, bytes_read)`` while reading.

    Returns:
        A ``dta.classification-report`` document.

    Raises:
        InputError: A path does not exist.
        ClassificationError: Bad key, policy or options.
        SchemaError: The policy file does not match its schema.
    """
    ctx = _context(policy, key, max_details)
    files = [
        scan_file(p, rel, ctx, max_size=max_file_size, progress=progress)
        for p, rel in iter_targets(paths)
    ]
    return build_report(ctx, files, now)


def scan_text(
    text: str,
    *,
    name: str = "text",
    policy: Policy | str | os.PathLike[str] | None = None,
    key: bytes | None = None,
    now: dt.datetime | None = None,
    max_details: int = DEFAULT_MAX_DETAILS,
) -> dict[str, Any]:
    """Scan a string as one text document and return a classification report.

    Args:
        text: The text.
        name: Path-like name used for the file entry and path rules.
        policy: As for :func:`scan_paths`.
        key: As for :func:`scan_paths`.
        now: As for :func:`scan_paths`.
        max_details: As for :func:`scan_paths`.

    Raises:
        ClassificationError: Bad key, policy or options.
    """
    import io

    from dta.classify._stream import scan_stream

    ctx = _context(policy, key, max_details)
    data = text.encode("utf-8", "surrogatepass")
    collector = Collector(ctx)
    scan_stream(io.BytesIO(data), "utf-8", collector)
    entry: dict[str, Any] = {
        "path": name,
        "status": "scanned",
        "format": "text",
        "encoding": "utf-8",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    collector.finish(entry, name)
    return build_report(ctx, [dict(sorted(entry.items()))], now)


def detect(
    text: str, *, min_likelihood: Likelihood | str = Likelihood.LIKELY
) -> list[dict[str, Any]]:
    """Find sensitive values in ``text`` and return their spans (no values, no fingerprints).

    Args:
        text: Any text (full-width forms are handled).
        min_likelihood: Lowest likelihood to return.

    Returns:
        ``[{"type", "variant", "start", "end", "likelihood", "validator", "explanation"}]``
        sorted by ``start`` (character offsets into ``text``).

    Raises:
        ClassificationError: ``min_likelihood`` is not a likelihood name.
    """
    from dta.classify._findings import parse_likelihood

    floor = (
        min_likelihood
        if isinstance(min_likelihood, Likelihood)
        else parse_likelihood(min_likelihood, where="min_likelihood")
    )
    return [
        {
            "type": h.type,
            "variant": h.variant,
            "start": h.start,
            "end": h.end,
            "likelihood": h.likelihood.name,
            "validator": h.validator,
            "explanation": h.explanation,
        }
        for h in scan(normalize(text))
        if h.likelihood >= floor
    ]
