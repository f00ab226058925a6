"""Report building: keyed fingerprints, per-file and per-column verdicts, subject counts.

Rules this module enforces:

* No raw value ever enters a report: a finding carries its type, variant (a taxonomy word such
  as a card brand or TLP label, never part of the value), location, likelihood, validator
  outcome, explanation (fixed wording plus taxonomy words) and ``HMAC-SHA-256(key, type NUL
  normalised value)`` in hex.
* The key is the caller's (>= 16 bytes) or 32 random bytes per report; the report names it only
  by ``key_id`` = the first 16 hex digits of ``HMAC(key, "dta.classify key id")``.
* Finding counts and details include findings at or above the policy's
  ``report_min_likelihood``; rules see every likelihood. Details are capped per file
  (``details_omitted`` says how many were left out); counts are always exact.
* Data subjects per category = distinct fingerprints (first 8 bytes) of subject-type findings
  at LIKELY or above whose rule fired for that category, across all files.
* Output is deterministic: files sorted by UTF-8 path, details in file order, sorted keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

from dta.classify._engine import DETECTOR_TYPES, DETECTOR_VERSION
from dta.classify._findings import Hit, Likelihood
from dta.classify._policy import Policy
from dta.errors import ClassificationError

__all__ = ["Collector", "ReportContext", "build_report", "resolve_key"]

MIN_KEY = 16
# Likelihood names by value (an enum member's .name is a Python-level property lookup).
_NAMES = ("", *(like.name for like in Likelihood))
_LIKELY = int(Likelihood.LIKELY)


class _Keyed(Protocol):
    def copy(self) -> _Keyed: ...
    def update(self, msg: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


def _keyed_sha256(key: bytes) -> _Keyed:
    """An HMAC-SHA-256 object keyed once; copies of it fingerprint each value.

    Keying (hashing the padded key) is half of a short message's HMAC work, so it is done once
    per report. OpenSSL's HMAC object is used directly where available (no Python wrapper
    frames per call); otherwise :mod:`hmac`'s object, which computes the same function.
    """
    try:
        import _hashlib

        keyed: _Keyed = _hashlib.hmac_new(key, digestmod="sha256")
    except (ImportError, AttributeError, ValueError):
        keyed = hmac.new(key, digestmod=hashlib.sha256)
    return keyed


def resolve_key(key: bytes | None) -> tuple[bytes, str]:
    """Return ``(key, source)``; a random 32-byte key when ``key`` is None.

    Raises:
        ClassificationError: The key is shorter than 16 bytes or not bytes.
    """
    if key is None:
        return os.urandom(32), "random"
    if not isinstance(key, bytes | bytearray) or len(key) < MIN_KEY:
        raise ClassificationError(f"fingerprint key must be at least {MIN_KEY} bytes")
    return bytes(key), "caller"


class ReportContext:
    """Per-report state shared by every file: policy, key, subject sets."""

    def __init__(self, policy: Policy, key: bytes, key_source: str, max_details: int):
        self.policy = policy
        self.key = key
        self.key_source = key_source
        self.max_details = max_details
        self.report_min = policy.report_min_likelihood
        self.fp_min = min(policy.report_min_likelihood, Likelihood.LIKELY)
        self.subjects: dict[str, set[bytes]] = {}
        self._keyed = _keyed_sha256(key)

    def fingerprint(self, hit: Hit) -> bytes:
        """HMAC-SHA-256 of the hit's type and normalised value."""
        mac = self._keyed.copy()
        mac.update(f"{hit.type}\x00{hit.norm}".encode())
        return mac.digest()

    def key_id(self) -> str:
        """Public identifier of the fingerprint key."""
        return hmac.new(self.key, b"dta.classify key id", hashlib.sha256).hexdigest()[:16]


class _Column:
    __slots__ = ("counts", "index", "nonempty")

    def __init__(self, index: int | None):
        self.counts: Counter[tuple[str, str, int]] = Counter()
        self.index = index
        self.nonempty = False


class Collector:
    """Accumulates one file's hits into counts, details, column stats and fingerprints."""

    def __init__(self, ctx: ReportContext):
        self.ctx = ctx
        self.counts: Counter[tuple[str, str, int]] = Counter()
        self.details: list[dict[str, Any]] = []
        self.omitted = 0
        self.fps: dict[str, set[bytes]] = {}
        self.columns: dict[str, _Column] = {}

    def column(self, name: str, index: int | None = None) -> _Column:
        """The stats of column/member ``name`` (created on first use)."""
        col = self.columns.get(name)
        if col is None:
            col = self.columns[name] = _Column(index)
        return col

    def wants_detail(self, hit: Hit) -> bool:
        """True when :meth:`add` would record a detail for ``hit`` (so it needs a location)."""
        return hit.likelihood >= self.ctx.report_min and len(self.details) < self.ctx.max_details

    def add(self, hit: Hit, location: dict[str, Any] | None, column: str | None = None) -> None:
        """Record one hit found at ``location``.

        ``location`` may be None when :meth:`wants_detail` is False for the hit (streaming
        callers skip computing line/column/byte offsets for hits that are only counted). The
        HMAC fingerprint is computed only when a detail or a data-subject count needs it.
        """
        like = hit.likelihood
        key = (hit.type, hit.variant, int(like))
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        if column is not None:
            self.column(column).counts[key] += 1
        ctx = self.ctx
        if like < ctx.fp_min:
            return
        subject = like >= _LIKELY and hit.type in ctx.policy.subject_types
        detail = like >= ctx.report_min
        if detail and len(self.details) >= ctx.max_details:
            self.omitted += 1
            detail = False
        if not (subject or detail):
            return
        fp = ctx.fingerprint(hit)
        if subject:
            fps = self.fps.get(hit.type)
            if fps is None:
                fps = self.fps[hit.type] = set()
            fps.add(fp[:8])
        if not detail:
            return
        entry: dict[str, Any] = {
            "type": hit.type,
            "likelihood": _NAMES[like],
            "validator": hit.validator,
            "location": location,
            "fingerprint": fp.hex(),
            "explanation": hit.explanation,
        }
        if hit.variant:
            entry["variant"] = hit.variant
        self.details.append(entry)

    def finish(self, entry: dict[str, Any], path: str, *, default: str | None = None) -> None:
        """Evaluate the policy and fill ``entry`` (level, categories, findings, columns)."""
        policy = self.ctx.policy
        names = [n for n, c in self.columns.items() if c.nonempty]
        verdict, type_cats = policy.evaluate(self.counts, path=path, columns=names, default=default)
        entry["level"] = verdict.level
        entry["categories"] = list(verdict.categories)
        entry["rules"] = list(verdict.rules)
        entry["findings"] = _public_counts(self.counts, self.ctx.report_min)
        if self.columns:
            cols = []
            for name, col in self.columns.items():
                cv, _ = policy.evaluate(
                    col.counts, columns=[name] if col.nonempty else [], default=policy.levels[0]
                )
                item: dict[str, Any] = {
                    "name": name,
                    "level": cv.level,
                    "categories": list(cv.categories),
                    "findings": _public_counts(col.counts, self.ctx.report_min),
                }
                if col.index is not None:
                    item["index"] = col.index
                cols.append(item)
            entry["columns"] = cols
        if self.details:
            entry["details"] = self.details
        if self.omitted:
            entry["details_omitted"] = self.omitted
        for t, cats in type_cats.items():
            fps = self.fps.get(t)
            if fps:
                for c in cats:
                    self.ctx.subjects.setdefault(c, set()).update(fps)


def _public_counts(counts: Mapping[tuple[str, str, int], int], minimum: int) -> dict[str, int]:
    out: Counter[str] = Counter()
    for (t, _, like), n in counts.items():
        if like >= minimum:
            out[t] += n
    return dict(sorted(out.items()))


def _time(now: dt.datetime | None) -> str:
    moment = now or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        raise ClassificationError("now must be timezone-aware")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_report(
    ctx: ReportContext, files: list[dict[str, Any]], now: dt.datetime | None
) -> dict[str, Any]:
    """Assemble the ``dta.classification-report`` document from finished file entries."""
    policy = ctx.policy
    files.sort(key=lambda f: f["path"].encode("utf-8"))
    level = policy.max_level(f["level"] for f in files) if files else policy.default_level
    cats = sorted({c for f in files for c in f["categories"]})
    totals: Counter[str] = Counter()
    for f in files:
        for t, n in f["findings"].items():
            totals[t] += n
    status = Counter(f["status"] for f in files)
    return {
        "_type": "dta.classification-report",
        "spec_version": "1.0",
        "created": _time(now),
        "detectors": {"version": DETECTOR_VERSION, "types": list(DETECTOR_TYPES)},
        "policy": {"name": policy.name, "digest": {"sha256": policy.digest}},
        "fingerprint": {"alg": "hmac-sha256", "key_id": ctx.key_id(), "key_source": ctx.key_source},
        "levels": list(policy.levels),
        "level": level,
        "tlp": policy.level_info(level)["tlp"],
        "categories": cats,
        "subjects": {c: len(s) for c, s in sorted(ctx.subjects.items())},
        "totals": {
            "files": len(files),
            "scanned": status["scanned"],
            "unscanned": status["unscanned"],
            "errors": status["error"],
            "bytes": sum(f["size"] for f in files),
            "findings": dict(sorted(totals.items())),
        },
        "files": files,
    }
