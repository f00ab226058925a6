"""Tamper-evident audit logs: hash chain + RFC 9162 Merkle tree, C2SP checkpoints, witnessing.

Public API: :class:`AuditLog` (append, prove, checkpoint, verify), the record vocabulary
(:data:`ACTIONS`, :class:`AuditRecord`), the verifier (:func:`verify_lines`, :class:`VerifyReport`),
the store contract (:mod:`dta.audit.stores`), and the Merkle / C2SP submodules
:mod:`dta.audit.merkle`, :mod:`dta.audit.checkpoint`, :mod:`dta.audit.note`,
:mod:`dta.audit.witness`, :mod:`dta.audit.proofbundle`, whose main names are re-exported here.
"""

from __future__ import annotations

from dta.audit._checkpoint import Checkpoint, cosign, sign_checkpoint, verify_checkpoint
from dta.audit._log import AuditLog
from dta.audit._merkle import (
    EMPTY_ROOT,
    NodeSource,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from dta.audit._merkle_tree import MemoryTree, RootBuilder
from dta.audit._proofbundle import make_proof_bundle, verify_proof_bundle
from dta.audit._record import ACTIONS, MAX_LINE, RECORD_TYPE, AuditRecord, check_action
from dta.audit._verify import FAULT_KINDS, Fault, VerifyReport, verify_lines
from dta.audit._witness import Witness
from dta.audit.stores import DURABILITY_MODES, Store, open_store

__all__ = [
    "ACTIONS",
    "DURABILITY_MODES",
    "EMPTY_ROOT",
    "FAULT_KINDS",
    "MAX_LINE",
    "RECORD_TYPE",
    "AuditLog",
    "AuditRecord",
    "Checkpoint",
    "Fault",
    "MemoryTree",
    "NodeSource",
    "RootBuilder",
    "Store",
    "VerifyReport",
    "Witness",
    "check_action",
    "consistency_proof",
    "cosign",
    "inclusion_proof",
    "leaf_hash",
    "make_proof_bundle",
    "open_store",
    "root",
    "sign_checkpoint",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
    "verify_lines",
    "verify_proof_bundle",
]
