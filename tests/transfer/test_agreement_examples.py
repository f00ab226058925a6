"""The signed samples in examples/agreement validate and verify (see make_example.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

from dta import keys, loads, schemas
from dta.agreement import Agreement, check_manifest, digest, verify_agreement
from dta.intoto import manifest_statement, verify_statement
from dta.receipt import verify_receipt

AT = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def sample(repo_root: Path, name: str) -> Any:
    return loads((repo_root / "examples" / "agreement" / name).read_bytes())


def test_every_sample_validates(repo_root: Path) -> None:
    """Every JSON sample in examples/agreement validates against its schema."""
    names = sorted(p.name for p in (repo_root / "examples" / "agreement").glob("*.json"))
    assert len(names) == 7
    for name in names:
        schemas.validate(sample(repo_root, name))


def test_sample_agreement_and_amendment_verify(repo_root: Path) -> None:
    """Version 1 verifies with pinned keys; version 2 verifies as its amendment."""
    v1, v2 = (
        sample(repo_root, "agreement.signed.json"),
        sample(repo_root, "amendment-v2.signed.json"),
    )
    pinned = keys.KeyRegistry.from_dict(sample(repo_root, "keys.json"))
    first = verify_agreement(v1, now=AT, trusted=pinned)
    second = verify_agreement(v2, now=AT, previous=v1, trusted=pinned)
    assert (first.version, second.version) == (1, 2)
    assert second.previous == first.digest
    assert {p.jurisdiction for p in first.parties} == {"US-MI", "CN-JS"}
    assert Agreement.from_dict(sample(repo_root, "agreement.json")).digest == first.digest


def test_sample_manifest_receipt_and_intoto_verify(repo_root: Path) -> None:
    """The sample manifest is allowed, its receipt verifies, its in-toto envelope verifies."""
    model = verify_agreement(sample(repo_root, "agreement.signed.json"), now=AT)
    manifest = sample(repo_root, "manifest.signed.json")
    decision = check_manifest(model, manifest, now=AT)
    assert decision.allowed, decision.reasons
    body = verify_receipt(sample(repo_root, "receipt.signed.json"), model, manifest, now=AT)
    assert body["manifest"]["digest"] == digest(manifest["signed"])
    env = sample(repo_root, "manifest.intoto.json")
    pinned = keys.KeyRegistry.from_dict(sample(repo_root, "keys.json"))
    assert verify_statement(env, pinned, now=AT) == manifest_statement(manifest)
    entry = pinned.get(env["signatures"][0]["keyid"])
    assert entry is not None
    sslib = SSlibKey.from_crypto(entry.key.crypto_key(), keyid=entry.key.keyid)
    assert Envelope.from_dict(dict(env)).verify([sslib], 1)
