"""Replay by manifest id alone (DESIGN.md section 4); coverage table in docs/security-tests.md."""

from __future__ import annotations

from pathlib import Path

from agreement_helpers import NOW, World, chain

from dta.agreement import Ledger, check_manifest, digest


def test_replayed_manifest_id_with_fresh_sequence_rejected(tmp_path: Path) -> None:
    """Replay: an accepted manifest id reused on a correctly chained next sequence is rejected."""
    world = World()
    ledger = Ledger.open(tmp_path / "l.json", create=True)
    ((b1, d1),) = chain(world, 1)
    ledger.record(d1)
    reused = world.manifest(id=b1["id"], sequence=2, previous=digest(b1))
    decision = check_manifest(world.agreement, world.sign_manifest(reused), now=NOW, ledger=ledger)
    assert [r.code for r in decision.reasons] == ["replayed-manifest"]
    assert decision.reasons[0].field == "id"
    fresh = world.manifest(sequence=2, previous=digest(b1))
    ok = check_manifest(world.agreement, world.sign_manifest(fresh), now=NOW, ledger=ledger)
    assert ok.allowed, ok.reasons
