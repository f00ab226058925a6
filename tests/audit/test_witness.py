"""Witness: cosigns only consistent growth; refuses rollback and fork, keeping fork evidence."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dta import keys, schemas
from dta.audit.checkpoint import (
    Checkpoint,
    add_cosignatures,
    sign_checkpoint,
    verify_cosignatures,
)
from dta.audit.merkle import MemoryTree, leaf_hash
from dta.audit.witness import Witness, verify_evidence
from dta.errors import ProofError, SchemaError, SignatureError, StorageError, TamperError

LOG = keys.generate()
ORIGIN = "partner-a.example/audit"
T = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
LEAVES = [leaf_hash(b"record %d" % i) for i in range(40)]
TREE = MemoryTree(LEAVES)


def _cp(size: int, tree: MemoryTree = TREE) -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, size, tree.root(size)), LOG)


@pytest.fixture
def witness(tmp_path: Path) -> Witness:
    return Witness(tmp_path / "w", keys.generate(), "partner-b.example/witness")


def test_witness_cosigns_first_checkpoint_and_growth(witness: Witness) -> None:
    """First checkpoint is cosigned; a larger one with a valid proof is cosigned and stored."""
    line = witness.witness(_cp(10), LOG.public_key, [], now=T)
    full = add_cosignatures(_cp(10), [line])
    assert verify_cosignatures(full, [witness.verifier])[0].time == T
    witness.witness(_cp(25), LOG.public_key, TREE.consistency_proof(10, 25), now=T)
    state = witness.latest(ORIGIN)
    assert state is not None
    assert state.checkpoint.size == 25
    schemas.validate(state.to_dict())


def test_witness_same_checkpoint_again_is_cosigned(witness: Witness) -> None:
    """Re-submitting the accepted checkpoint (same size and root, empty proof) is fine."""
    witness.witness(_cp(10), LOG.public_key, now=T)
    witness.witness(_cp(10), LOG.public_key, now=T)
    with pytest.raises(ProofError):
        witness.witness(_cp(10), LOG.public_key, [LEAVES[0]], now=T)


def test_witness_rejects_rollback(witness: Witness) -> None:
    """A validly signed checkpoint smaller than the accepted one raises kind=rollback."""
    witness.witness(_cp(20), LOG.public_key, now=T)
    with pytest.raises(TamperError) as info:
        witness.witness(_cp(12), LOG.public_key, now=T)
    assert info.value.kind == "rollback"
    assert info.value.index == 12
    state = witness.latest(ORIGIN)
    assert state is not None
    assert state.checkpoint.size == 20


def test_witness_stores_equivocation_evidence(witness: Witness) -> None:
    """A forked tree (same prefix size, other content) is refused and both notes are kept."""
    witness.witness(_cp(16), LOG.public_key, now=T)
    forked = MemoryTree([*LEAVES[:15], leaf_hash(b"rewritten"), *LEAVES[16:]])
    fork_note = _cp(30, forked)
    proof = forked.consistency_proof(16, 30)
    with pytest.raises(TamperError) as info:
        witness.witness(fork_note, LOG.public_key, proof, now=T)
    assert info.value.kind == "fork"
    [evidence] = witness.evidence(ORIGIN)
    schemas.validate(evidence)
    assert evidence["accepted"]["checkpoint"] == _cp(16)
    assert evidence["conflicting"]["checkpoint"] == fork_note
    assert evidence["proof"] == [base64.b64encode(h).decode() for h in proof]
    state = witness.latest(ORIGIN)
    assert state is not None
    assert state.checkpoint.size == 16


def test_witness_same_size_different_root_is_fork_evidence(witness: Witness) -> None:
    """Two signed roots for the same size are equivocation, stored as evidence."""
    witness.witness(_cp(8), LOG.public_key, now=T)
    other = MemoryTree([leaf_hash(b"x%d" % i) for i in range(8)])
    with pytest.raises(TamperError) as info:
        witness.witness(_cp(8, other), LOG.public_key, now=T)
    assert info.value.kind == "fork"
    assert len(witness.evidence()) == 1


def test_witness_rejects_growth_without_proof(witness: Witness) -> None:
    """A larger checkpoint with an empty or truncated proof is not cosigned."""
    witness.witness(_cp(10), LOG.public_key, now=T)
    with pytest.raises(TamperError):
        witness.witness(_cp(11), LOG.public_key, [], now=T)
    with pytest.raises(TamperError):
        witness.witness(_cp(30), LOG.public_key, TREE.consistency_proof(10, 30)[:-1], now=T)
    state = witness.latest(ORIGIN)
    assert state is not None
    assert state.checkpoint.size == 10


def test_witness_rejects_checkpoint_not_signed_by_log(witness: Witness) -> None:
    """A checkpoint signed by another key is refused before any state is touched."""
    forged = sign_checkpoint(Checkpoint(ORIGIN, 5, TREE.root(5)), keys.generate())
    with pytest.raises(SignatureError):
        witness.witness(forged, LOG.public_key, now=T)
    assert witness.latest(ORIGIN) is None
    assert witness.evidence() == []


def test_witness_first_checkpoint_with_proof_or_wrong_old_size_refused(witness: Witness) -> None:
    """No state yet: a non-empty proof or a claimed old size other than 0 is refused."""
    with pytest.raises(ProofError):
        witness.witness(_cp(10), LOG.public_key, TREE.consistency_proof(5, 10), now=T)
    witness.witness(_cp(10), LOG.public_key, old_size=0, now=T)
    with pytest.raises(ProofError):
        witness.witness(_cp(20), LOG.public_key, TREE.consistency_proof(10, 20), old_size=5)


def test_witness_state_survives_restart(tmp_path: Path) -> None:
    """A new Witness on the same directory remembers the accepted size (rollback still caught)."""
    signer = keys.generate()
    Witness(tmp_path, signer, "w.example/w").witness(_cp(30), LOG.public_key, now=T)
    again = Witness(tmp_path, signer, "w.example/w")
    with pytest.raises(TamperError):
        again.witness(_cp(29), LOG.public_key, now=T)


def test_witness_corrupted_state_file_refused(witness: Witness) -> None:
    """A state file edited on disk (size no longer matching its checkpoint) is a StorageError."""
    witness.witness(_cp(10), LOG.public_key, now=T)
    [path] = witness.state_dir.glob("*.json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["size"] = 5
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(StorageError):
        witness.witness(_cp(10), LOG.public_key, now=T)


def test_witness_empty_log_then_growth_needs_no_proof(witness: Witness) -> None:
    """After an empty (size 0) checkpoint any growth is consistent; the proof must be empty."""
    empty = sign_checkpoint(Checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest()), LOG)
    witness.witness(empty, LOG.public_key, now=T)
    witness.witness(_cp(7), LOG.public_key, now=T)


def test_witness_concurrent_requests_never_roll_back(tmp_path: Path) -> None:
    """Racing submissions of many sizes leave the state at the largest cosigned size."""
    w = Witness(tmp_path, keys.generate(), "w.example/w")
    w.witness(_cp(1), LOG.public_key, now=T)
    accepted: list[int] = []

    def submit(size: int) -> None:
        for _ in range(3):
            state = w.latest(ORIGIN)
            assert state is not None
            old = state.checkpoint.size
            if old >= size:
                return
            proof = TREE.consistency_proof(old, size)
            try:
                w.witness(_cp(size), LOG.public_key, proof, now=T, old_size=old)
            except ProofError:
                continue
            accepted.append(size)
            return

    threads = [threading.Thread(target=submit, args=(s,)) for s in range(2, 40, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state = w.latest(ORIGIN)
    assert state is not None
    assert state.checkpoint.size == max(accepted)
    assert w.evidence() == []


def test_witness_example_documents_validate(repo_root: Path) -> None:
    """The sample witness state and evidence in examples/witness validate against the schemas."""
    from dta import loads

    for name in ("witness-state.json", "witness-evidence.json"):
        schemas.validate(loads((repo_root / "examples" / "witness" / name).read_bytes()))
    bad = loads((repo_root / "examples" / "witness" / "witness-evidence.json").read_bytes())
    bad["kind"] = "rollback"
    with pytest.raises(SchemaError):
        schemas.validate(bad)


def _body(old: int, proof: list[bytes], note: str) -> str:
    lines = [f"old {old}", *(base64.b64encode(h).decode() for h in proof)]
    return "\n".join(lines) + "\n\n" + note


def test_witness_add_checkpoint_protocol_body(witness: Witness) -> None:
    """The tlog-witness add-checkpoint body is accepted; a stale old size is a conflict."""
    line = witness.add_checkpoint(_body(0, [], _cp(6)), LOG.public_key, now=T)
    assert line.startswith("\u2014 partner-b.example/witness ")
    witness.add_checkpoint(_body(6, TREE.consistency_proof(6, 9), _cp(9)), LOG.public_key, now=T)
    with pytest.raises(ProofError):
        witness.add_checkpoint(_body(6, TREE.consistency_proof(6, 12), _cp(12)), LOG.public_key)
    for bad in ("old 01\n\n" + _cp(12), "old 9\n" + _cp(12), "new 9\n\n" + _cp(12)):
        with pytest.raises(ProofError):
            witness.add_checkpoint(bad, LOG.public_key, now=T)


def test_witness_evidence_reverifies_with_log_key(witness: Witness) -> None:
    """Stored evidence re-verifies with the log key; same-size evidence proves equivocation."""
    witness.witness(_cp(8), LOG.public_key, now=T)
    other = MemoryTree([leaf_hash(b"x%d" % i) for i in range(20)])
    with pytest.raises(TamperError):
        witness.witness(_cp(8, other), LOG.public_key, now=T)
    with pytest.raises(TamperError):
        witness.witness(_cp(20, other), LOG.public_key, other.consistency_proof(8, 20), now=T)
    same_size, grown = witness.evidence(ORIGIN)
    assert verify_evidence(same_size, LOG.public_key) is True
    assert verify_evidence(grown, LOG.public_key) is False
    with pytest.raises(SignatureError):
        verify_evidence(same_size, keys.generate().public_key)
