"""AuditLog API edges: foreign checkpoints, bad trusted input, empty batches, clock injection."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from store_kinds import EVENT, event

from dta.audit import AuditLog
from dta.errors import ProofError, TamperError
from dta.keys import generate


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    """A JSONL log with 4 records."""
    opened = AuditLog.open(tmp_path / "log.jsonl", create=True)
    opened.append_many([event(i) for i in range(4)])
    return opened


def test_proof_bundle_refuses_checkpoint_of_another_log(log: AuditLog, tmp_path: Path) -> None:
    """A checkpoint whose root is not this log's root at its size cannot make a bundle."""
    with AuditLog.open(tmp_path / "other.jsonl", create=True) as other:
        other.append_many([event(i, actor="party:other") for i in range(4)])
        note = other.checkpoint(generate(), "other.example/log")
    with pytest.raises(ProofError, match="not this log's root"):
        log.proof_bundle(1, note)
    with pytest.raises(ProofError, match="checkpoint"):
        log.proof_bundle(1, "not a signed note")


def test_malformed_trusted_checkpoint_rejected(log: AuditLog) -> None:
    """Trusted checkpoints must be (size, 32-byte root)."""
    with pytest.raises(TamperError):
        log.verify([(4, b"short")])
    with pytest.raises(TamperError):
        log.verify([(-1, bytes(32))])


def test_empty_batch_appends_nothing(log: AuditLog) -> None:
    """append_many([]) is a no-op."""
    assert log.append_many([]) == []
    assert log.size == 4


def test_now_is_injected_not_read(log: AuditLog) -> None:
    """Events without time get the now passed in."""
    body = {k: v for k, v in EVENT.items() if k != "time"}
    index, _ = log.append(body, now=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert next(log.records(index))["time"] == "2030-01-02T03:04:05.000000Z"


def test_checkpoint_of_a_prefix(log: AuditLog) -> None:
    """A checkpoint can be signed for an earlier size; beyond the log is a ProofError."""
    signer = generate()
    note = log.checkpoint(signer, "ex.org/log", size=2)
    assert note.splitlines()[1] == "2"
    with pytest.raises(ProofError):
        log.checkpoint(signer, "ex.org/log", size=5)
