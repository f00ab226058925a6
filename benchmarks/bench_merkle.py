"""dta.audit.merkle vs pymerkle 7 (InmemoryTree): in-memory build, proofs and verification.

Both trees hold the same entries (RFC 9162 hashing in both; the roots are checked equal). Proof
figures are per proof: a batch of random indices (the same for both libraries) timed as a whole,
median of several rounds, after one warm-up round, so pymerkle's subroot cache is warm, as in
its own in-memory figures. pymerkle indices are 1-based; dta's 0-based. On-disk store proof
figures belong to the audit-log area (bench_audit.py).
"""

from __future__ import annotations

import random

from _harness import Row, median_time, quick
from dta.audit.merkle import (
    MemoryTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)

BATCH = 200


def _rows_for(size: int, repeat: int) -> list[Row]:
    from pymerkle import InmemoryTree
    from pymerkle import verify_consistency as pm_verify_consistency
    from pymerkle import verify_inclusion as pm_verify_inclusion

    entries = [b'{"index":%d,"action":"transfer.sent"}' % i for i in range(size)]
    built: dict[str, object] = {}

    def build_dta() -> None:
        built["dta"] = MemoryTree(leaf_hash(e) for e in entries)

    def build_peer() -> None:
        built["peer"] = InmemoryTree.init_from_entries(entries)

    build_repeat = 1 if size > 200_000 else 3
    dta_build = median_time(build_dta, repeat=build_repeat)
    peer_build = median_time(build_peer, repeat=build_repeat)
    tree = built["dta"]
    peer = built["peer"]
    assert isinstance(tree, MemoryTree)
    assert isinstance(peer, InmemoryTree)
    if peer.get_root() != tree.root():
        raise RuntimeError("pymerkle and dta disagree on the root")
    rng = random.Random(size)
    idx = [rng.randrange(size) for _ in range(BATCH)]
    olds = [rng.randrange(1, size) for _ in range(BATCH)]
    root = tree.root()
    incl = [inclusion_proof(i, size, tree) for i in idx]
    cons = [consistency_proof(o, size, tree) for o in olds]
    old_roots = [tree.root(o) for o in olds]
    leaves = [tree.leaf(i) for i in idx]
    p_incl = [peer.prove_inclusion(i + 1, size) for i in idx]
    p_cons = [peer.prove_consistency(o, size) for o in olds]
    p_old_roots = [peer.get_root(o) for o in olds]
    p_leaves = [peer.get_leaf(i + 1) for i in idx]

    def d_incl() -> None:
        for i in idx:
            inclusion_proof(i, size, tree)

    def p_incl_gen() -> None:
        for i in idx:
            peer.prove_inclusion(i + 1, size)

    def d_incl_ver() -> None:
        for i, leaf, proof in zip(idx, leaves, incl, strict=True):
            verify_inclusion(leaf, i, size, proof, root)

    def p_incl_ver() -> None:
        for leaf, proof in zip(p_leaves, p_incl, strict=True):
            pm_verify_inclusion(leaf, root, proof)

    def d_cons() -> None:
        for o in olds:
            consistency_proof(o, size, tree)

    def p_cons_gen() -> None:
        for o in olds:
            peer.prove_consistency(o, size)

    def d_cons_ver() -> None:
        for o, r, proof in zip(olds, old_roots, cons, strict=True):
            verify_consistency(o, size, r, root, proof)

    def p_cons_ver() -> None:
        for r, proof in zip(p_old_roots, p_cons, strict=True):
            pm_verify_consistency(r, root, proof)

    rows = [
        Row(
            area="merkle",
            figure=f"build in-memory tree, {size:,} entries",
            unit="s",
            dta=dta_build,
            peer_name="pymerkle 7",
            peer=peer_build,
            higher_is_better=False,
            goal="<= peer",
            met=dta_build <= peer_build,
        )
    ]
    pairs = [
        ("inclusion proof generation", d_incl, p_incl_gen, 0.1),
        ("inclusion proof verification", d_incl_ver, p_incl_ver, None),
        ("consistency proof generation", d_cons, p_cons_gen, 0.1),
        ("consistency proof verification", d_cons_ver, p_cons_ver, None),
    ]
    for label, ours, theirs, limit_ms in pairs:
        ours()
        theirs()
        d_ms = median_time(ours, repeat=repeat) / BATCH * 1e3
        p_ms = median_time(theirs, repeat=repeat) / BATCH * 1e3
        met = d_ms <= p_ms and (limit_ms is None or d_ms < limit_ms)
        rows.append(
            Row(
                area="merkle",
                figure=f"{label} at {size:,} (per proof, median)",
                unit="ms",
                dta=d_ms,
                peer_name="pymerkle 7 (cache warm)",
                peer=p_ms,
                higher_is_better=False,
                goal="<= peer" + (f", < {limit_ms} ms" if limit_ms else ""),
                met=met,
            )
        )
    return rows


def main() -> list[Row]:
    """In-memory proof figures at 100,000 and 1,000,000 entries (10,000 in quick mode)."""
    sizes = [10_000] if quick() else [100_000, 1_000_000]
    repeat = 3 if quick() else 7
    rows: list[Row] = []
    for size in sizes:
        rows.extend(_rows_for(size, repeat))
    return rows
