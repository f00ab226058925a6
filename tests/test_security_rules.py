"""DESIGN.md section 4 attacks not pinned elsewhere; coverage table in docs/security-tests.md."""

from __future__ import annotations

import datetime as dt

from dta import canonical_bytes, envelope, keys, loads

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def test_signature_wrapping_payload_taken_only_from_verified_bytes() -> None:
    """Signature wrapping: verify returns an object parsed from the verified bytes only."""
    signer = keys.generate()
    reg = keys.KeyRegistry()
    reg.add(signer.public_key, "alice")
    doc = envelope.sign({"_type": "dta.key-registry", "spec_version": "1.0", "keys": []}, signer)
    verified = envelope.verify(doc, reg, now=NOW)
    assert verified is not doc["signed"]
    assert verified["keys"] is not doc["signed"]["keys"]
    assert verified == loads(canonical_bytes(doc["signed"]))
    doc["signed"]["keys"].append("injected after verification")
    assert verified["keys"] == []
