"""Witness against a model: random sequences of growth, replays, rollbacks and forks."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dta import keys
from dta.audit.checkpoint import Checkpoint, sign_checkpoint
from dta.audit.merkle import MemoryTree, leaf_hash
from dta.audit.witness import Witness
from dta.errors import TamperError

LOG = keys.generate()
WITNESS_KEY = keys.generate()
ORIGIN = "model.example/log"
T = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
HONEST = MemoryTree(leaf_hash(b"h%d" % i) for i in range(64))
FORKED = MemoryTree(leaf_hash(b"f%d" % i) for i in range(64))

OPS = st.lists(
    st.tuples(st.sampled_from(["honest", "forked"]), st.integers(min_value=1, max_value=64)),
    min_size=1,
    max_size=8,
)


@settings(max_examples=25, deadline=None)
@given(OPS)
def test_witness_model_never_cosigns_inconsistent_views(ops: list[tuple[str, int]]) -> None:
    """Only honest growth is cosigned; smaller sizes are rollbacks; forked views are forks."""
    with tempfile.TemporaryDirectory() as tmp:
        w = Witness(tmp, WITNESS_KEY, "w.example/w")
        accepted = 0  # size of the last accepted honest checkpoint (0: none yet)
        first_view: str | None = None
        forks = 0
        for view, size in ops:
            tree = HONEST if view == "honest" else FORKED
            note = sign_checkpoint(Checkpoint(ORIGIN, size, tree.root(size)), LOG)
            proof = tree.consistency_proof(accepted, size) if 0 < accepted <= size else []
            if first_view is None:
                w.witness(note, LOG.public_key, proof, now=T)
                first_view, accepted = view, size
                continue
            if size < accepted or view != first_view:
                kind = "rollback" if size < accepted else "fork"
                with pytest.raises(TamperError) as info:
                    w.witness(note, LOG.public_key, proof, now=T)
                assert info.value.kind == kind
                forks += kind == "fork"
                continue
            w.witness(note, LOG.public_key, proof, now=T)
            accepted = size
        state = w.latest(ORIGIN)
        assert state is not None
        assert state.checkpoint.size == accepted
        assert len(w.evidence()) == forks
