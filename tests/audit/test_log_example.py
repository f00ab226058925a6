"""The sample audit log in examples/audit verifies, proves and matches the record schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from dta import keys, loads
from dta.audit import AuditLog, verify_lines, verify_proof_bundle
from dta.audit.checkpoint import verify_checkpoint
from dta.schemas import validate

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "audit"


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A copy of the sample log (opening a log writes its sidecar; keep examples/ clean)."""
    target = tmp_path / "log.jsonl"
    target.write_bytes((EXAMPLE / "log.jsonl").read_bytes())
    return target


def test_sample_log_verifies_against_signed_checkpoint(sample: Path) -> None:
    """The sample checkpoint is signed by the sample log key and matches the log."""
    key, _ = keys.load_public(EXAMPLE / "log.pub.json")
    cp = verify_checkpoint((EXAMPLE / "checkpoint.txt").read_text(), key)
    with AuditLog.open(sample) as log:
        report = log.verify([cp])
        assert report.ok
        assert report.checkpoints == (cp.size,)
        assert cp.size == log.size == 8


def test_sample_proof_bundle_verifies_offline() -> None:
    """proof-3.txt proves record-3.jsonl with only the log key."""
    key, _ = keys.load_public(EXAMPLE / "log.pub.json")
    bundle = (EXAMPLE / "proof-3.txt").read_text()
    result = verify_proof_bundle(bundle, (EXAMPLE / "record-3.jsonl").read_bytes(), key)
    assert result.index == 3


def test_sample_records_validate_against_schema() -> None:
    """Every sample record (and the pretty record-3.json) validates against the schema."""
    lines = (EXAMPLE / "log.jsonl").read_bytes().splitlines()
    assert verify_lines(lines).ok
    for line in lines:
        validate(loads(line))
    record = loads((EXAMPLE / "record-3.json").read_bytes())
    validate(record)
    assert record == loads(lines[3])
