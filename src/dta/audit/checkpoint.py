"""C2SP tlog-checkpoint and tlog-cosignature/v1: signed tree heads and witness cosignatures.

Rules this module enforces:

* Checkpoint text (``c2sp.org/tlog-checkpoint``): origin line (non-empty, printable), tree size
  (ASCII decimal, no leading zeros, < 2**63), root hash (canonical standard base64 of exactly
  32 bytes), then optional non-empty extension lines; every line ends with a newline.
* A checkpoint is a signed note (:mod:`dta.audit.note`) signed with Ed25519 (type 0x01); the log's
  key name defaults to the origin. Verification checks the expected origin when given and needs a
  valid signature by the log key (other signatures, e.g. cosignatures, are ignored there).
* Cosignatures (``c2sp.org/tlog-cosignature``, Ed25519 ``cosignature/v1``): key ID type byte
  0x04; the signature is ``u64 big-endian timestamp || Ed25519 signature`` over
  ``"cosignature/v1\\ntime <timestamp>\\n" || checkpoint text`` (text including extension lines).
  Timestamps are POSIX seconds below 2**63; verifiers may bound them with ``not_after``.
* Parsing failures of the checkpoint body raise :class:`dta.errors.ProofError`; note and signature
  failures raise :class:`dta.errors.SignatureError`.
"""

from __future__ import annotations

from dta.audit._checkpoint import (
    Checkpoint,
    Cosignature,
    add_cosignatures,
    cosign,
    cosigner_verifier,
    sign_checkpoint,
    verify_checkpoint,
    verify_cosignatures,
)

__all__ = [
    "Checkpoint",
    "Cosignature",
    "add_cosignatures",
    "cosign",
    "cosigner_verifier",
    "sign_checkpoint",
    "verify_checkpoint",
    "verify_cosignatures",
]
