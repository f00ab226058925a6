"""Offline proof bundles in ``c2sp.org/tlog-proof@v1`` form: one record's inclusion, portable.

Rules this module enforces:

* Text form: the line ``c2sp.org/tlog-proof@v1``; optionally ``extra <base64>``; ``index <n>``
  (0-based, no leading zeros); zero to 63 proof lines (canonical base64 of 32-byte hashes, from
  the leaf's sibling up); a blank line; then the signed checkpoint verbatim (with any witness
  cosignatures). At most 1 MiB, UTF-8.
* Verification needs only the bundle, the record's bytes and the log's public key: the checkpoint
  signature is checked first (key name = origin unless a verifier says otherwise), then the
  required witness cosignatures (default: every witness key given), then the RFC 9162 inclusion
  proof of ``SHA-256(0x00 || record)`` against the checkpoint's size and root, with the exact
  proof length. One trailing newline on the record is ignored (audit lines are stored with one).
* The extra data is returned but never trusted: it is not authenticated.
* A malformed bundle or failed proof raises :class:`dta.errors.ProofError`; a bad signature or too
  few cosignatures raises :class:`dta.errors.SignatureError`.
"""

from __future__ import annotations

from dta.audit._proofbundle import (
    HEADER,
    MAX_BUNDLE_SIZE,
    BundleResult,
    ProofBundle,
    make_proof_bundle,
    verify_proof_bundle,
)

__all__ = [
    "HEADER",
    "MAX_BUNDLE_SIZE",
    "BundleResult",
    "ProofBundle",
    "make_proof_bundle",
    "verify_proof_bundle",
]
