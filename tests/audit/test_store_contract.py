"""The store contract: every store kind (JSONL, SQLite, PostgreSQL, ...) must pass all of this."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from store_kinds import STORE_KINDS, event, make_url, tamper_line

from dta import canonical_bytes, loads
from dta.audit import (
    EMPTY_ROOT,
    AuditLog,
    Store,
    verify_consistency,
    verify_inclusion,
    verify_proof_bundle,
)
from dta.audit.checkpoint import verify_checkpoint
from dta.errors import ConfigError, ProofError, SchemaError, StorageError
from dta.keys import generate


@pytest.fixture(params=STORE_KINDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh log URL of each store kind."""
    return make_url(request.param, tmp_path, request)


def _fill(log: AuditLog, n: int) -> list[bytes]:
    return [leaf for _, leaf in log.append_many([event(i) for i in range(n)])]


def test_store_implements_protocol(url: str) -> None:
    """The opened store satisfies the Store protocol and reports its URL."""
    with AuditLog.open(url, create=True) as log:
        assert isinstance(log.store, Store)
        assert log.store.durability == "batch"


def test_empty_log_has_empty_root_and_verifies(url: str) -> None:
    """A new log has size 0, the RFC 9162 empty root, and verifies."""
    with AuditLog.open(url, create=True) as log:
        assert log.size == 0
        assert log.root() == EMPTY_ROOT
        report = log.verify()
        assert report.ok
        assert report.size == 0
        assert report.root == EMPTY_ROOT


def test_missing_log_not_created_without_create(url: str) -> None:
    """Opening a log that does not exist fails unless create=True."""
    with pytest.raises(StorageError):
        AuditLog.open(url)


def test_append_returns_sequential_index_and_leaf_hash(url: str) -> None:
    """append returns 0,1,2... and the RFC 9162 leaf hash of the stored canonical line."""
    with AuditLog.open(url, create=True) as log:
        for i in range(5):
            index, leaf = log.append(event(i))
            assert index == i
            line = log.line(i)
            assert leaf == hashlib.sha256(b"\x00" + line).digest()
            assert canonical_bytes(loads(line)) == line


def test_records_are_chained_by_prev(url: str) -> None:
    """Each record's prev is the leaf hash of the one before (zeros at index 0)."""
    with AuditLog.open(url, create=True) as log:
        leaves = _fill(log, 6)
        records = list(log.records())
    assert [r["index"] for r in records] == list(range(6))
    assert records[0]["prev"] == "0" * 64
    for i in range(1, 6):
        assert records[i]["prev"] == leaves[i - 1].hex()


def test_records_range_and_lines_match(url: str) -> None:
    """records(start, stop) streams the requested slice in order."""
    with AuditLog.open(url, create=True) as log:
        _fill(log, 10)
        assert [r["index"] for r in log.records(3, 7)] == [3, 4, 5, 6]
        assert [r["details"]["n"] for r in log.records(8)] == [8, 9]


def test_reopen_keeps_records_and_root(url: str) -> None:
    """A reopened log has the same size and root and continues the chain."""
    with AuditLog.open(url, create=True) as log:
        _fill(log, 9)
        root = log.root()
    with AuditLog.open(url) as log:
        assert log.size == 9
        assert log.root() == root
        assert log.append(event(9))[0] == 9
        assert log.verify().ok


def test_bad_event_appends_nothing(url: str) -> None:
    """append_many with one invalid event appends none of them."""
    with AuditLog.open(url, create=True) as log:
        _fill(log, 2)
        bad = {**event(0), "action": "made.up"}
        with pytest.raises(SchemaError):
            log.append_many([event(2), bad])
        assert log.size == 2


def test_builder_exception_writes_nothing(url: str) -> None:
    """If the record builder raises under the lock, the store writes nothing."""
    with AuditLog.open(url, create=True) as log:
        _fill(log, 1)

        def boom(n: int, prev: bytes) -> list[bytes]:
            raise SchemaError("no")

        with pytest.raises(SchemaError):
            log.store.append(boom)
        assert log.size == 1
        assert log.append(event(1))[0] == 1


def test_inclusion_and_consistency_proofs_verify(url: str) -> None:
    """Every inclusion and consistency proof from stored nodes verifies against the root."""
    with AuditLog.open(url, create=True) as log:
        leaves = _fill(log, 21)
        roots = {n: log.root(n) for n in range(22)}
        for size in range(1, 22):
            for index in range(size):
                proof = log.prove_inclusion(index, size)
                verify_inclusion(leaves[index], index, size, proof, roots[size])
        for old in range(1, 22):
            for new in range(old, 22):
                proof = log.prove_consistency(old, new)
                verify_consistency(old, new, roots[old], roots[new], proof)


def test_proof_beyond_log_size_rejected(url: str) -> None:
    """Proofs for sizes or indices the log does not have raise ProofError."""
    with AuditLog.open(url, create=True) as log:
        _fill(log, 3)
        with pytest.raises(ProofError):
            log.prove_inclusion(3)
        with pytest.raises(ProofError):
            log.prove_inclusion(0, 4)
        with pytest.raises(ProofError):
            log.prove_consistency(2, 5)


def test_checkpoint_and_proof_bundle_verify_offline(url: str) -> None:
    """A signed checkpoint verifies, and a proof bundle proves one record with only the key."""
    signer = generate()
    with AuditLog.open(url, create=True) as log:
        _fill(log, 7)
        note = log.checkpoint(signer, "example.org/log")
        cp = verify_checkpoint(note, signer.public_key)
        assert (cp.size, cp.root) == (7, log.root())
        bundle = log.proof_bundle(4, note)
        result = verify_proof_bundle(bundle, log.line(4), signer.public_key)
        assert result.index == 4
        assert log.verify([cp]).ok


@pytest.mark.parametrize("durability", ["always", "batch", "none"])
def test_every_durability_mode_appends_and_verifies(url: str, durability: str) -> None:
    """All three durability modes store the same chain."""
    with AuditLog.open(url, durability=durability, create=True) as log:
        _fill(log, 3)
        log.append(event(3))
        log.flush()
        assert log.verify().ok
        assert log.size == 4


def test_unknown_durability_rejected(url: str) -> None:
    """An unknown durability mode is a ConfigError."""
    with pytest.raises(ConfigError):
        AuditLog.open(url, durability="sometimes", create=True)


def test_two_handles_share_one_chain(url: str) -> None:
    """Two open handles appending alternately never fork or reuse an index."""
    with AuditLog.open(url, create=True) as a, AuditLog.open(url) as b:
        got = []
        for i in range(10):
            got.append((a if i % 2 else b).append(event(i))[0])
        assert got == list(range(10))
        assert a.size == b.size == 10
        assert a.root() == b.root()
        assert a.verify().ok


def test_fsck_clean_and_repair_noop(url: str) -> None:
    """A healthy log passes fsck and repair has nothing to do."""
    with AuditLog.open(url, create=True) as log:
        _fill(log, 5)
        report = log.fsck()
        assert report["ok"]
        assert report["size"] == 5
        assert report["torn"] is None
        assert log.repair()["repaired"] is False


def test_verify_recomputes_instead_of_trusting_stored_hashes(url: str) -> None:
    """A line changed behind the store's back is caught although stored hashes are untouched."""
    with AuditLog.open(url, create=True) as log:
        _fill(log, 6)
        root = log.root()
    rec = loads(AuditLog.open(url).line(2))
    rec["actor"] = "party:mallory"
    tamper_line(url, 2, canonical_bytes(rec))
    with AuditLog.open(url) as log:
        report = log.verify([(6, root)])
    assert not report.ok
    assert report.fault is not None
    assert (report.fault.index, report.fault.kind) == (2, "content-modified")


def test_store_line_lookup_out_of_range(url: str) -> None:
    """Asking for a record that does not exist is a StorageError."""
    with AuditLog.open(url, create=True) as log:
        _fill(log, 2)
        with pytest.raises(StorageError):
            log.line(2)
