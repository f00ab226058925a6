"""RFC 9162 Merkle trees: hashes, roots, inclusion and consistency proofs.

Rules this module enforces:

* Hashes are RFC 9162 (SHA-256): leaf ``SHA-256(0x00 || data)``, node ``SHA-256(0x01 || l || r)``;
  the root of the empty tree is ``SHA-256("")`` (:data:`EMPTY_ROOT`). Trees are left-balanced: a
  tree of ``n > 1`` leaves splits at the largest power of two below ``n``.
* Leaf indices are 0-based. An inclusion proof exists only for ``0 <= index < size``; a tree of size
  0 has no inclusion proofs (verification always fails). A single-leaf tree's proof is empty and
  its root is the leaf hash.
* Consistency between ``old`` and ``new`` sizes:

  - ``old > new``: always an error.
  - ``old == new``: the proof must be empty and the two roots identical (for size 0 both must be
    :data:`EMPTY_ROOT`).
  - ``0 == old < new``: an error. RFC 9162 §2.1.4 defines consistency proofs only for
    ``0 < old < new``; an empty tree is trivially a prefix of every tree, so a caller that trusts
    an empty checkpoint (a witness) handles that case itself, without a proof.
  - ``0 < old < new``: RFC 9162 §2.1.4.2, where the old root is prepended when ``old`` is a power
    of two (so it is never sent in the proof).

* Proof length is enforced exactly: a proof with a hash missing, added, prepended or appended is
  rejected before any hashing (:func:`inclusion_proof_length`, :func:`consistency_proof_length`).
  Every proof hash and leaf hash must be exactly 32 bytes; roots are compared byte for byte.
* Verification failures raise :class:`dta.errors.ProofError`; verifiers return ``None`` on success.
* Generation reads only perfect subtree hashes from a :class:`NodeSource` — O(log n) calls per
  proof or root — so a store can serve proofs from persisted subtree hashes.
  :class:`RootBuilder` computes the root in a stream with O(log n) memory: ``append`` returns
  every perfect subtree (:class:`Node`) that leaf completed, for a store to persist; ``add`` /
  ``extend`` skip that report (verifiers); ``RootBuilder.resume(size, src)`` continues from
  stored nodes. Arguments out of range (index >= size, old > new, a subtree not inside the tree)
  raise ProofError too.
"""

from __future__ import annotations

from dta.audit._merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    Node,
    NodeSource,
    consistency_proof,
    consistency_proof_length,
    inclusion_proof,
    inclusion_proof_length,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from dta.audit._merkle_tree import MemoryTree, RootBuilder

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MemoryTree",
    "Node",
    "NodeSource",
    "RootBuilder",
    "consistency_proof",
    "consistency_proof_length",
    "inclusion_proof",
    "inclusion_proof_length",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]
