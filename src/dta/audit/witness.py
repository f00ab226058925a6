"""Witnessing another party's audit log: cosign only checkpoints that extend what was seen.

Rules this module enforces:

* The witness keeps, per log origin, the last checkpoint it accepted, in its own state file
  (``dta.witness-state`` document, written to a temporary file, fsynced, renamed, directory
  fsynced) before it returns a cosignature; check-and-update runs under an exclusive file lock,
  so concurrent requests can never roll the stored size back.
* The checkpoint must be validly signed by the log key given (signed-note, key name = origin).
* First checkpoint for an origin (or previous size 0): accepted with an empty proof (trust on
  first use, as in C2SP tlog-witness). Same size: the root must be identical (proof empty).
  Larger size: the RFC 9162 consistency proof from the stored size must verify.
* A smaller size than the one accepted raises ``TamperError(kind="rollback")``. A checkpoint that
  is validly signed but not proven consistent (different root at the same size, or a failing
  proof) is equivocation: both signed notes and the proof are stored as a
  ``dta.witness-evidence`` document under ``evidence/`` and ``TamperError(kind="fork")`` is
  raised. Nothing is cosigned and the state is unchanged in both cases.
* Cosignatures are ``tlog-cosignature/v1`` lines timestamped with the ``now`` passed in.
* :meth:`Witness.add_checkpoint` takes the C2SP tlog-witness ``add-checkpoint`` body
  (``old <size>``, at most 63 proof lines, blank line, checkpoint); ``old`` must equal the
  stored size. :func:`verify_evidence` lets an auditor re-check stored evidence with the log key.
"""

from __future__ import annotations

from dta.audit._witness import (
    EVIDENCE_TYPE,
    STATE_TYPE,
    Witness,
    WitnessState,
    parse_add_checkpoint,
    verify_evidence,
)

__all__ = [
    "EVIDENCE_TYPE",
    "STATE_TYPE",
    "Witness",
    "WitnessState",
    "parse_add_checkpoint",
    "verify_evidence",
]
