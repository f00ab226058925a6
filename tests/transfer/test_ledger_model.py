"""Property: over any sequence of next / replay / rollback / gap / fork attempts, check_manifest and
the ledger accept exactly the manifests that extend the channel by one."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from agreement_helpers import NOW, World
from hypothesis import given, settings
from hypothesis import strategies as st

from dta.agreement import Ledger, check_manifest, digest

WORLD = World()


@settings(max_examples=15, deadline=None)
@given(st.lists(st.sampled_from(["next", "replay", "rollback", "gap", "fork"]), max_size=8))
def test_ledger_accepts_exactly_the_next_manifest(actions: list[str]) -> None:
    """The model (last sequence, last digest) predicts every decision."""
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger.open(Path(tmp) / "l.json", create=True)
        accepted: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for action in actions:
            seq = len(accepted) + 1
            prev = digest(accepted[-1][0]) if accepted else None
            if action == "next":
                body = WORLD.manifest(sequence=seq, previous=prev)
            elif action == "replay" and accepted:
                body = accepted[-1][0]
            elif action == "rollback" and accepted:
                body = WORLD.manifest(sequence=seq - 1, previous=prev)
            elif action == "gap":
                body = WORLD.manifest(sequence=seq + 1, previous=prev)
            else:  # fork: right sequence, wrong previous
                body = WORLD.manifest(sequence=seq, previous={"sha256": "ee" * 32})
            doc = WORLD.sign_manifest(body)
            decision = check_manifest(WORLD.agreement, doc, now=NOW, ledger=ledger)
            assert decision.allowed == (action == "next"), (action, decision.reasons)
            if decision.allowed:
                ledger.record(doc)
                accepted.append((body, doc))
            else:
                assert len(decision.reasons) == 1
        reopened = Ledger.open(Path(tmp) / "l.json", create=True)
        state = reopened.channel(WORLD.agreement.id, "us-gls-bpl", "cn-ypu-lcb")
        assert (state.sequence if state else 0) == len(accepted)
