"""Sensitive-data classification: validated detectors, policy levels, privacy-safe reports.

Public API (see ``docs/adr/0030``-``0039``):

* :func:`scan_paths` / :func:`scan_text` -> ``dta.classification-report`` documents.
* :func:`load_policy` -> :class:`Policy` (None = the packaged default policy).
* :func:`detect` -> spans of sensitive values in a caller's own text.
* :class:`Likelihood`, :data:`DETECTOR_TYPES`, :data:`DETECTOR_VERSION`.

Rules this package enforces: reports never contain raw values (keyed HMAC fingerprints only);
a checksum failure never reaches LIKELY; binary and unreadable files are reported, never
silently skipped; files are streamed in bounded memory.
"""

from __future__ import annotations

from dta.classify._api import detect, scan_paths, scan_text
from dta.classify._engine import DETECTOR_TYPES, DETECTOR_VERSION
from dta.classify._findings import Likelihood
from dta.classify._policy import Policy, Verdict, default_policy_bytes, load_policy

__all__ = [
    "DETECTOR_TYPES",
    "DETECTOR_VERSION",
    "Likelihood",
    "Policy",
    "Verdict",
    "default_policy_bytes",
    "detect",
    "load_policy",
    "scan_paths",
    "scan_text",
]
