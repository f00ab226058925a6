"""in-toto exports: manifests and receipts as in-toto Statement v1 in DSSE envelopes.

Rules this module enforces: see :mod:`dta._intoto` (one subject per manifest item; a receipt's
subject is the manifest digest; payloads are canonical JSON signed over the DSSE PAE with
``application/vnd.in-toto+json``; verification returns the Statement from the verified bytes).
"""

from __future__ import annotations

from dta._intoto import (
    MANIFEST_PREDICATE,
    PAYLOAD_TYPE,
    RECEIPT_PREDICATE,
    STATEMENT_TYPE,
    export_dsse,
    manifest_statement,
    receipt_statement,
    verify_statement,
)

__all__ = [
    "MANIFEST_PREDICATE",
    "PAYLOAD_TYPE",
    "RECEIPT_PREDICATE",
    "STATEMENT_TYPE",
    "export_dsse",
    "manifest_statement",
    "receipt_statement",
    "verify_statement",
]
