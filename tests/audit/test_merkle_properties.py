"""Merkle proofs against a direct recursive RFC 9162 reference, exhaustively up to 256 leaves."""

from __future__ import annotations

import hashlib
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dta.audit.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    RootBuilder,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from dta.errors import ProofError

N = 256
LEAVES = [hashlib.sha256(b"\x00" + i.to_bytes(4, "big")).digest() for i in range(N)]
TREE = MemoryTree(LEAVES)


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@cache
def mth(start: int, end: int) -> bytes:
    """RFC 9162 §2.1.1 MTH(D[start:end]) over LEAVES."""
    n = end - start
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return LEAVES[start]
    k = _split(n)
    return hashlib.sha256(b"\x01" + mth(start, start + k) + mth(start + k, end)).digest()


def path(m: int, start: int, end: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[start:end])."""
    n = end - start
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*path(m, start, start + k), mth(start + k, end)]
    return [*path(m - k, start + k, end), mth(start, start + k)]


def subproof(m: int, start: int, end: int, whole: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[start:end], b)."""
    n = end - start
    if m == n:
        return [] if whole else [mth(start, end)]
    k = _split(n)
    if m <= k:
        return [*subproof(m, start, start + k, whole), mth(start + k, end)]
    return [*subproof(m - k, start + k, end, False), mth(start, start + k)]


def test_merkle_roots_match_reference_every_size() -> None:
    """root() for every size 0..256 equals the recursive MTH, and RootBuilder agrees."""
    builder = RootBuilder()
    assert builder.root() == EMPTY_ROOT == TREE.root(0)
    for size in range(1, N + 1):
        builder.append(LEAVES[size - 1])
        assert TREE.root(size) == mth(0, size) == builder.root()


def test_merkle_inclusion_every_index_and_size() -> None:
    """Every (index, size) up to 256: proof equals PATH and verifies; wrong index/size fails."""
    for size in range(1, N + 1):
        r = mth(0, size)
        for index in range(size):
            proof = inclusion_proof(index, size, TREE)
            assert proof == path(index, 0, size)
            verify_inclusion(LEAVES[index], index, size, proof, r)
            if size > 1:
                with pytest.raises(ProofError):
                    verify_inclusion(LEAVES[index], (index + 1) % size, size, proof, r)
                with pytest.raises(ProofError):
                    verify_inclusion(LEAVES[(index + 1) % size], index, size, proof, r)


def test_merkle_consistency_every_old_and_new_size() -> None:
    """Every 1 <= old <= new <= 256: proof equals SUBPROOF and verifies; swapped roots fail."""
    for new in range(1, N + 1):
        r2 = mth(0, new)
        for old in range(1, new + 1):
            proof = consistency_proof(old, new, TREE)
            assert proof == subproof(old, 0, new, True)
            r1 = mth(0, old)
            verify_consistency(old, new, r1, r2, proof)
            if old < new:
                with pytest.raises(ProofError):
                    verify_consistency(old, new, r2, r1, proof)


def test_merkle_inclusion_tampered_proof_rejected_every_position() -> None:
    """Flipping, dropping or adding any proof hash is rejected (sizes up to 64)."""
    for size in range(2, 65):
        r = mth(0, size)
        for index in range(size):
            proof = inclusion_proof(index, size, TREE)
            for i in range(len(proof)):
                bad = list(proof)
                bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
                with pytest.raises(ProofError):
                    verify_inclusion(LEAVES[index], index, size, bad, r)
                with pytest.raises(ProofError):
                    verify_inclusion(LEAVES[index], index, size, proof[:i] + proof[i + 1 :], r)
            with pytest.raises(ProofError):
                verify_inclusion(LEAVES[index], index, size, [*proof, r], r)


def test_merkle_consistency_tampered_proof_rejected_every_position() -> None:
    """Flipping, dropping or adding any consistency hash is rejected (sizes up to 64)."""
    for new in range(2, 65):
        r2 = mth(0, new)
        for old in range(1, new):
            r1 = mth(0, old)
            proof = consistency_proof(old, new, TREE)
            for i in range(len(proof)):
                bad = list(proof)
                bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
                with pytest.raises(ProofError):
                    verify_consistency(old, new, r1, r2, bad)
                with pytest.raises(ProofError):
                    verify_consistency(old, new, r1, r2, proof[:i] + proof[i + 1 :])
            with pytest.raises(ProofError):
                verify_consistency(old, new, r1, r2, [r1, *proof])


def test_merkle_out_of_range_arguments_rejected() -> None:
    """Index >= size, size 0, old > new and old 0 raise ProofError in generation and verify."""
    with pytest.raises(ProofError):
        inclusion_proof(4, 4, TREE)
    with pytest.raises(ProofError):
        inclusion_proof(0, 0, TREE)
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[0], 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ProofError):
        verify_inclusion(LEAVES[0], -1, 4, [], mth(0, 4))
    with pytest.raises(ProofError):
        consistency_proof(5, 4, TREE)
    with pytest.raises(ProofError):
        consistency_proof(0, 4, TREE)
    with pytest.raises(ProofError):
        verify_consistency(0, 4, EMPTY_ROOT, mth(0, 4), [])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(ProofError):
        TREE.inclusion_proof(0, N + 1)
    with pytest.raises(ProofError):
        TREE.perfect(0, N)
    with pytest.raises(ProofError):
        RootBuilder().append(b"short")


def test_merkle_rootbuilder_reports_every_completed_subtree() -> None:
    """The nodes RootBuilder.append reports are exactly the perfect subtrees, with right hashes."""
    builder = RootBuilder()
    seen: dict[tuple[int, int], bytes] = {}
    for i in range(N):
        for level, index, h in builder.append(LEAVES[i]):
            assert (level, index) not in seen
            seen[(level, index)] = h
    expected = {
        (level, index): mth(index << level, (index + 1) << level)
        for level in range(9)
        for index in range(N >> level)
    }
    assert seen == expected


def test_merkle_rootbuilder_resume_from_node_source() -> None:
    """A RootBuilder resumed from stored nodes continues with the same roots and peaks."""
    for size in (0, 1, 5, 64, 100, 255):
        b = RootBuilder.resume(size, TREE)
        assert b.size == size
        assert b.root() == mth(0, size)
        fresh = RootBuilder()
        for i in range(size):
            fresh.append(LEAVES[i])
        assert b.peaks() == fresh.peaks()
        assert all(p.hash == mth(p.index << p.level, (p.index + 1) << p.level) for p in b.peaks())
        for i in range(size, N):
            b.append(LEAVES[i])
        assert b.root() == mth(0, N)


class _Counting:
    def __init__(self, tree: MemoryTree) -> None:
        self.tree = tree
        self.calls = 0

    def perfect(self, level: int, index: int) -> bytes:
        self.calls += 1
        return self.tree.perfect(level, index)


def test_merkle_proofs_use_logarithmic_node_reads() -> None:
    """Proof generation reads at most ~2 log2(n) perfect subtrees from the NodeSource."""
    big = MemoryTree(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(5000))
    src = _Counting(big)
    worst = 0
    for size in (4095, 4096, 4097, 4999, 5000):
        for i in range(0, size, 37):
            src.calls = 0
            inclusion_proof(i, size, src)
            worst = max(worst, src.calls)
            src.calls = 0
            consistency_proof(i + 1, size, src)
            worst = max(worst, src.calls)
    assert worst <= 2 * 13


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(st.binary(max_size=40), min_size=1, max_size=600),
    pick=st.integers(min_value=0),
)
def test_merkle_hypothesis_random_trees_prove_and_verify(data: list[bytes], pick: int) -> None:
    """Random leaf data: inclusion of every chosen leaf and consistency from a prefix verify."""
    hashes = [leaf_hash(d) for d in data]
    tree = MemoryTree(hashes)
    size = len(hashes)
    index = pick % size
    r = tree.root()
    verify_inclusion(hashes[index], index, size, tree.inclusion_proof(index), r)
    old = index + 1
    verify_consistency(old, size, tree.root(old), r, tree.consistency_proof(old))
    assert node_hash(hashes[0], hashes[0]) != leaf_hash(hashes[0] + hashes[0])


def test_merkle_rootbuilder_fast_add_matches_append() -> None:
    """RootBuilder.add/extend (no node report) gives the same roots and peaks as append."""
    fast, slow = RootBuilder(), RootBuilder()
    for i in range(N):
        fast.add(LEAVES[i])
        slow.append(LEAVES[i])
        if i % 17 == 0:
            assert fast.root() == slow.root() == mth(0, i + 1)
    assert fast.peaks() == slow.peaks()
    bulk = RootBuilder()
    bulk.extend(LEAVES)
    assert bulk.root() == mth(0, N)
    with pytest.raises(ProofError):
        bulk.add(b"\x00" * 31)
