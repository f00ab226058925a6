"""dta: data-transfer agreements as code.

Classify what is about to be shared, agree on a signed agreement, transfer under a signed manifest
bound to it, and audit everything in hash-chained, Merkle-provable, partner-witnessed logs.

The top-level package re-exports the strict JSON layer; the feature packages (``dta.keys``,
``dta.envelope``, ``dta.schemas``, ``dta.classify``, ``dta.audit``, ``dta.agreement``,
``dta.manifest``, ``dta.receipt``, ``dta.transfer``, ``dta.compliance``) hold the rest.
"""

from __future__ import annotations

from dta import errors
from dta._json import MAX_DEPTH, MAX_SAFE_INTEGER, canonical_bytes, dumps, loads, loads_canonical
from dta._version import __version__

__all__ = [
    "MAX_DEPTH",
    "MAX_SAFE_INTEGER",
    "__version__",
    "canonical_bytes",
    "dumps",
    "errors",
    "loads",
    "loads_canonical",
]
