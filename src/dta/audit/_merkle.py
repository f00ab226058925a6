"""RFC 9162 Merkle tree hashing, proof generation and verification (implementation).

See :mod:`dta.audit.merkle` for the rules; this module holds the code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import NamedTuple, Protocol

from dta.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Node",
    "NodeSource",
    "consistency_proof",
    "consistency_proof_length",
    "fold_peaks",
    "inclusion_proof",
    "inclusion_proof_length",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


def fold_peaks(peaks: Sequence[bytes]) -> bytes:
    """Right fold of perfect-subtree hashes, largest (leftmost) first; ``EMPTY_ROOT`` for none.

    This is the root of the tree (or the hash of the range) whose perfect subtrees are ``peaks``.
    """
    if not peaks:
        return EMPTY_ROOT
    acc = peaks[-1]
    for h in reversed(peaks[:-1]):
        acc = _sha256(b"\x01" + h + acc).digest()
    return acc


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash: ``SHA-256(0x00 || data)``.

    Args:
        data: The leaf's bytes (for an audit record: its canonical line without the newline).

    Returns:
        The 32-byte leaf hash.
    """
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: ``SHA-256(0x01 || left || right)``.

    Args:
        left: Hash of the left child.
        right: Hash of the right child.

    Returns:
        The 32-byte node hash.
    """
    return _sha256(b"\x01" + left + right).digest()


class NodeSource(Protocol):
    """Anything that can return hashes of perfect subtrees of a tree (memory, sidecar, database)."""

    def perfect(self, level: int, index: int) -> bytes:
        """Hash of the perfect subtree of ``2**level`` leaves starting at leaf ``index * 2**level``.

        Only subtrees lying entirely inside the tree are ever asked for.
        """
        ...


class Node(NamedTuple):
    """A perfect subtree: ``2**level`` leaves starting at leaf ``index * 2**level``."""

    level: int
    index: int  # type: ignore[assignment]  # shadows tuple.index on purpose: the subtree index
    hash: bytes


def _check_size(size: int, what: str) -> None:
    if type(size) is not int or size < 0:
        raise ProofError(f"{what} must be a non-negative integer, got {size!r}")


def _perfect(src: NodeSource, start: int, count: int) -> bytes:
    """Hash of the perfect, aligned subtree of ``count`` (a power of two) leaves at ``start``."""
    level = count.bit_length() - 1
    return src.perfect(level, start >> level)


def _range_hash(src: NodeSource, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range whose start is aligned to the largest power of two <= size.

    Such ranges are the subtrees of an RFC 9162 tree; the hash is the right fold of the perfect
    subtrees given by the set bits of the range size, most significant first.
    """
    count = end - start
    if count & (count - 1) == 0:
        return _perfect(src, start, count)
    peaks: list[bytes] = []
    while count:
        size = 1 << (count.bit_length() - 1)
        peaks.append(_perfect(src, start, size))
        start += size
        count -= size
    return fold_peaks(peaks)


def root(size: int, src: NodeSource) -> bytes:
    """Merkle tree hash MTH of the first ``size`` leaves of ``src`` (``EMPTY_ROOT`` for 0).

    Args:
        size: Tree size.
        src: Source of perfect subtree hashes (O(log size) calls).

    Returns:
        The 32-byte root hash.

    Raises:
        ProofError: ``size`` is not a non-negative integer.
    """
    _check_size(size, "tree size")
    if size == 0:
        return EMPTY_ROOT
    return _range_hash(src, 0, size)


def inclusion_proof(index: int, size: int, src: NodeSource) -> list[bytes]:
    """RFC 9162 inclusion proof PATH(index, D[0:size]), leaf-to-root order.

    Args:
        index: 0-based leaf index, ``0 <= index < size``.
        size: Tree size.
        src: Source of perfect subtree hashes (O(log size) calls).

    Returns:
        The audit path.

    Raises:
        ProofError: ``index`` is not inside the tree.
    """
    _check_size(size, "tree size")
    _check_size(index, "leaf index")
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    # Closed form of RFC 9162's recursive split, leaf to root: below the level where index and
    # size - 1 first differ, the sibling at each level is a perfect subtree unless the tree's end
    # cuts it (then MTH of the rest of the tree); above it, the path runs along the right edge
    # and has a left sibling wherever index has a 1 bit.
    perfect = src.perfect
    inner = (index ^ (size - 1)).bit_length()
    proof: list[bytes] = []
    for level in range(inner):
        j = (index >> level) ^ 1
        if (j + 1) << level <= size:
            proof.append(perfect(level, j))
        else:
            proof.append(_range_hash(src, j << level, size))
    rest, level = index >> inner, inner
    while rest:
        if rest & 1:
            proof.append(perfect(level, rest - 1))
        rest >>= 1
        level += 1
    return proof


def consistency_proof(old: int, new: int, src: NodeSource) -> list[bytes]:
    """RFC 9162 consistency proof PROOF(old, D[0:new]).

    Args:
        old: Size of the earlier tree, ``0 < old <= new``.
        new: Size of the later tree.
        src: Source of perfect subtree hashes (O(log new) calls).

    Returns:
        The proof (empty when the sizes are equal).

    Raises:
        ProofError: ``old`` is 0 or greater than ``new``.
    """
    _check_size(old, "old size")
    _check_size(new, "new size")
    if old > new:
        raise ProofError(f"old size {old} is greater than new size {new}")
    if old == 0:
        raise ProofError("no consistency proof from an empty tree (RFC 9162 requires old size > 0)")
    proof: list[bytes] = []
    start, m, n, whole = 0, old, new, True
    while m != n:
        k = 1 << ((n - 1).bit_length() - 1)
        if m <= k:
            proof.append(_range_hash(src, start + k, start + n))
            n = k
        else:
            proof.append(_perfect(src, start, k))
            start += k
            m -= k
            n -= k
            whole = False
    if not whole:
        proof.append(_perfect(src, start, n))
    proof.reverse()
    return proof


def inclusion_proof_length(index: int, size: int) -> int:
    """Exact number of hashes in the inclusion proof of ``index`` in a tree of ``size``.

    Raises:
        ProofError: ``index`` is not inside the tree.
    """
    _check_size(size, "tree size")
    _check_size(index, "leaf index")
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def consistency_proof_length(old_size: int, new_size: int) -> int:
    """Exact number of hashes in the consistency proof between two tree sizes.

    Raises:
        ProofError: the sizes are not ``0 < old_size <= new_size``.
    """
    _check_size(old_size, "old size")
    _check_size(new_size, "new size")
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is greater than new size {new_size}")
    if old_size == 0:
        raise ProofError("no consistency proof from an empty tree (RFC 9162 requires old size > 0)")
    count, m, n, whole = 0, old_size, new_size, True
    while m != n:
        k = 1 << ((n - 1).bit_length() - 1)
        if m <= k:
            n = k
        else:
            m -= k
            n -= k
            whole = False
        count += 1
    return count + (0 if whole else 1)


def _check_hashes(proof: Sequence[bytes]) -> None:
    for i, h in enumerate(proof):
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise ProofError(f"proof[{i}] is not a {HASH_SIZE}-byte hash")


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes] | None, root: bytes
) -> None:
    """Verify that ``leaf_hash`` is at ``index`` in the tree of ``size`` whose root is ``root``.

    RFC 9162 §2.1.3.2, with the proof length checked exactly first.

    Args:
        leaf_hash: The 32-byte leaf hash.
        index: 0-based leaf index.
        size: Tree size.
        proof: The audit path (``None`` is the empty path).
        root: The tree's root hash.

    Raises:
        ProofError: malformed arguments, wrong proof length, or the proof does not verify.
    """
    proof = list(proof or ())
    if not isinstance(leaf_hash, bytes) or len(leaf_hash) != HASH_SIZE:
        raise ProofError(f"leaf hash is not a {HASH_SIZE}-byte hash")
    want = inclusion_proof_length(index, size)
    if len(proof) != want:
        raise ProofError(
            f"inclusion proof for leaf {index} in tree size {size} must have {want} hashes, "
            f"got {len(proof)}"
        )
    _check_hashes(proof)
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0 or r != root:
        raise ProofError(f"inclusion proof for leaf {index} in tree size {size} does not verify")


def verify_consistency(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes] | None,
) -> None:
    """Verify that the tree of ``new_size`` with ``new_root`` extends the one of ``old_size``.

    RFC 9162 §2.1.4.2, with the edge cases described in :mod:`dta.audit.merkle`.

    Args:
        old_size: Earlier tree size (must be > 0 unless both sizes are 0).
        new_size: Later tree size.
        old_root: Earlier root hash.
        new_root: Later root hash.
        proof: The consistency proof (``None`` is the empty proof).

    Raises:
        ProofError: malformed arguments, wrong proof length, or the proof does not verify.
    """
    proof = list(proof or ())
    _check_size(old_size, "old size")
    _check_size(new_size, "new size")
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is greater than new size {new_size}")
    if old_size == new_size:
        if proof:
            raise ProofError(f"sizes are equal ({old_size}) but the proof is not empty")
        if old_root != new_root:
            raise ProofError(f"roots differ for the same tree size {old_size}")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise ProofError("root of an empty tree is not the empty root")
        return
    want = consistency_proof_length(old_size, new_size)
    if len(proof) != want:
        raise ProofError(
            f"consistency proof from size {old_size} to {new_size} must have {want} hashes, "
            f"got {len(proof)}"
        )
    _check_hashes(proof)
    if old_size & (old_size - 1) == 0:
        proof.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:  # pragma: no cover - excluded by the exact length check
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = _sha256(b"\x01" + c + fr).digest()
            sr = _sha256(b"\x01" + c + sr).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = _sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != old_root or sr != new_root:
        raise ProofError(f"consistency proof from size {old_size} to {new_size} does not verify")
