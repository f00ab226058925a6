"""Signed documents: sign, verify, thresholds, owners, digests."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
from typing import Any

import pytest

from dta import canonical_bytes, envelope, keys, loads
from dta.errors import JSONError, KeyMaterialError, SchemaError, SignatureError, UsageError

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def body(**extra: Any) -> dict[str, Any]:
    """A small signable body (a key-registry document)."""
    return {"_type": "dta.key-registry", "spec_version": "1.0", "keys": [], **extra}


@pytest.fixture(scope="module")
def alice() -> keys.LocalSigner:
    """Alice's Ed25519 key."""
    return keys.generate()


@pytest.fixture(scope="module")
def bob() -> keys.LocalSigner:
    """Bob's ECDSA P-256 key."""
    return keys.generate("ecdsa-p256-sha256")


@pytest.fixture(scope="module")
def registry(alice: keys.LocalSigner, bob: keys.LocalSigner) -> keys.KeyRegistry:
    """Registry trusting alice and bob."""
    reg = keys.KeyRegistry()
    reg.add(alice.public_key, "alice")
    reg.add(bob.public_key, "bob")
    return reg


def test_sign_then_verify_returns_signed_body(alice: keys.LocalSigner, registry: Any) -> None:
    """verify returns the signed body, equal to what was signed."""
    doc = envelope.sign(body(), alice)
    assert envelope.verify(doc, registry, now=NOW) == body()
    assert doc["signatures"][0]["keyid"] == alice.public_key.keyid


def test_signature_is_over_dsse_pae_of_canonical_bytes(alice: keys.LocalSigner) -> None:
    """The signature verifies over PAE(application/vnd.dta.<kind>+json, JCS bytes)."""
    doc = envelope.sign(body(), alice)
    sig = base64.b64decode(doc["signatures"][0]["sig"])
    raw = canonical_bytes(body())
    ptype = b"application/vnd.dta.key-registry+json"
    pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(raw), raw)
    assert envelope.pae(ptype.decode(), raw) == pae
    assert alice.public_key.verify(sig, pae)


def test_pae_matches_dsse_spec_example(vectors: Any) -> None:
    """pae() reproduces the PAE string given with the DSSE spec example."""
    vec = loads((vectors / "dsse" / "spec-example.json").read_bytes())
    got = envelope.pae(vec["payload_type"], vec["body_utf8"].encode())
    assert got == vec["pae_utf8"].encode()


def test_payload_type_from_type() -> None:
    """payload_type maps dta.<kind> to application/vnd.dta.<kind>+json."""
    assert envelope.payload_type("dta.manifest") == "application/vnd.dta.manifest+json"
    with pytest.raises(SchemaError):
        envelope.payload_type("manifest")


def test_sign_does_not_mutate_inputs(alice: keys.LocalSigner, bob: keys.LocalSigner) -> None:
    """sign returns a new document and leaves body and envelope untouched."""
    b = body()
    first = envelope.sign(b, alice)
    snapshot = copy.deepcopy(first)
    second = envelope.sign(b, bob, envelope=first)
    assert b == body()
    assert first == snapshot
    assert len(second["signatures"]) == 2
    assert second["signed"] is not b


def test_second_signature_by_same_key_refused(alice: keys.LocalSigner) -> None:
    """Adding a signature by a key that already signed is refused."""
    doc = envelope.sign(body(), alice)
    with pytest.raises(UsageError, match="already has a signature"):
        envelope.add_signature(doc, alice)


def test_adding_signature_to_other_body_refused(
    alice: keys.LocalSigner, bob: keys.LocalSigner
) -> None:
    """sign(envelope=...) refuses an envelope holding a different body."""
    doc = envelope.sign(body(), alice)
    with pytest.raises(UsageError, match="different signed body"):
        envelope.sign(body(keys=[{"x": 1}]), bob, envelope=doc)


def test_sign_refuses_floats_and_unknown_types(alice: keys.LocalSigner) -> None:
    """Bodies that could never verify (floats, unknown _type) are refused at signing."""
    with pytest.raises(JSONError):
        envelope.sign(body(extra=1.5), alice)
    with pytest.raises(SchemaError, match="unknown document type"):
        envelope.sign({"_type": "dta.nonsense", "spec_version": "1.0"}, alice)


def test_faulty_signer_detected(alice: keys.LocalSigner) -> None:
    """A signer returning a bad signature (faulty HSM) is caught at signing time."""

    class Faulty:
        public_key = alice.public_key

        def sign(self, data: bytes) -> bytes:
            return bytes(64)

    with pytest.raises(KeyMaterialError, match="invalid signature"):
        envelope.sign(body(), Faulty())


def test_threshold_two_of_two(
    alice: keys.LocalSigner, bob: keys.LocalSigner, registry: Any
) -> None:
    """A 2-of-n threshold needs two distinct keys."""
    one = envelope.sign(body(), alice)
    both = envelope.add_signature(one, bob)
    assert envelope.verify(both, registry, threshold=2, now=NOW) == body()
    with pytest.raises(SignatureError):
        envelope.verify(one, registry, threshold=2, now=NOW)


def test_required_owners_all_sign(
    alice: keys.LocalSigner, bob: keys.LocalSigner, registry: Any
) -> None:
    """required_owners needs a valid signature by each named owner."""
    one = envelope.sign(body(), alice)
    both = envelope.add_signature(one, bob)
    assert envelope.verify(both, registry, required_owners={"alice", "bob"}, now=NOW)
    result = envelope.verify_result(one, registry, required_owners={"alice", "bob"}, now=NOW)
    assert not result.ok
    assert result.reason == "missing-owner"
    assert result.missing_owners == ("bob",)


def test_expected_type_enforced(alice: keys.LocalSigner, registry: Any) -> None:
    """expected_type rejects a validly signed document of another type."""
    doc = envelope.sign(body(), alice)
    with pytest.raises(SignatureError):
        envelope.verify(doc, registry, expected_type="dta.manifest", now=NOW)
    result = envelope.verify_result(doc, registry, expected_type="dta.manifest", now=NOW)
    assert result.reason == "type-mismatch"


def test_unknown_signer_fails(alice: keys.LocalSigner) -> None:
    """A signature by a key not in the registry does not count."""
    doc = envelope.sign(body(), alice)
    result = envelope.verify_result(doc, keys.KeyRegistry(), now=NOW)
    assert not result.ok
    assert result.signatures[0].status == "unknown-key"


def test_verify_error_message_is_opaque(alice: keys.LocalSigner, registry: Any) -> None:
    """Every verification failure raises the same one-line message."""
    good = envelope.sign(body(), alice)
    bad_sig = copy.deepcopy(good)
    bad_sig["signatures"][0]["sig"] = base64.b64encode(bytes(64)).decode()
    bad_member = {**good, "x": 1}
    messages = set()
    for doc in (bad_sig, bad_member, {"signed": body(), "signatures": []}):
        with pytest.raises(SignatureError) as info:
            envelope.verify(doc, registry, now=NOW)
        messages.add(str(info.value))
    assert messages == {envelope.OPAQUE_MESSAGE}


def test_verify_result_detail(
    alice: keys.LocalSigner, bob: keys.LocalSigner, registry: Any
) -> None:
    """verify_result reports digest, owners and per-signature status."""
    doc = envelope.add_signature(envelope.sign(body(), alice), bob)
    result = envelope.verify_result(doc, registry, now=NOW)
    assert result.ok
    assert result.owners == ("alice", "bob")
    assert result.digest == {"sha256": hashlib.sha256(canonical_bytes(body())).hexdigest()}
    assert [s.status for s in result.signatures] == ["valid", "valid"]
    assert result.to_dict()["valid_keyids"] == [alice.public_key.keyid, bob.public_key.keyid]


def test_verified_body_is_parsed_from_verified_bytes(
    alice: keys.LocalSigner, registry: Any
) -> None:
    """The returned body is a fresh object, not the caller's (later mutation cannot leak in)."""
    doc = envelope.sign(body(), alice)
    verified = envelope.verify(doc, registry, now=NOW)
    assert verified is not doc["signed"]
    doc["signed"]["keys"].append("tampered")
    assert verified == body()


def test_digest_is_sha256_of_canonical_bytes() -> None:
    """digest() is the DigestSet of the JCS bytes, independent of member order."""
    a = {"spec_version": "1.0", "_type": "dta.key-registry", "keys": []}
    assert envelope.digest(a) == envelope.digest(body())
    assert envelope.digest(a) == {"sha256": hashlib.sha256(canonical_bytes(a)).hexdigest()}


def test_bad_threshold_and_naive_now_are_usage_errors(
    alice: keys.LocalSigner, registry: Any
) -> None:
    """Caller mistakes are UsageError, not verification failures."""
    doc = envelope.sign(body(), alice)
    for threshold in (0, -1, True, "2"):
        with pytest.raises(UsageError):
            envelope.verify(doc, registry, threshold=threshold)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        envelope.verify(doc, registry, now=dt.datetime(2026, 1, 1))
