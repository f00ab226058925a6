"""Attacks on signed documents, one test per attack (DESIGN.md section 4)."""

from __future__ import annotations

import base64
import copy
import datetime as dt
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from dta import canonical_bytes, envelope, keys
from dta.errors import CanonicalError, JSONError, SignatureError

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, tzinfo=UTC)
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def body(**extra: Any) -> dict[str, Any]:
    """A small signable body."""
    return {"_type": "dta.key-registry", "spec_version": "1.0", "keys": [], **extra}


def registry_of(*pairs: tuple[keys.LocalSigner, str], **window: dt.datetime) -> keys.KeyRegistry:
    """A registry trusting the given (signer, owner) pairs."""
    reg = keys.KeyRegistry()
    for signer, owner in pairs:
        reg.add(signer.public_key, owner, **window)
    return reg


def fails(doc: Any, reg: keys.KeyRegistry, **kw: Any) -> envelope.VerifyResult:
    """Assert verification fails opaquely; return the detail."""
    with pytest.raises(SignatureError, match=f"^{envelope.OPAQUE_MESSAGE}$"):
        envelope.verify(doc, reg, now=NOW, **kw)
    result = envelope.verify_result(doc, reg, now=NOW, **kw)
    assert not result.ok
    return result


def test_duplicate_signatures_counted_once() -> None:
    """The same signature repeated does not reach a threshold of two."""
    alice, bob = keys.generate(), keys.generate()
    reg = registry_of((alice, "alice"), (bob, "bob"))
    doc = envelope.sign(body(), alice)
    doc["signatures"] = doc["signatures"] * 2
    result = fails(doc, reg, threshold=2)
    assert [s.status for s in result.signatures] == ["valid", "duplicate-key"]


def test_malleated_ecdsa_signature_counted_once() -> None:
    """A second, malleated (r, n-s) ECDSA signature by the same key is still one key."""
    signer = keys.generate("ecdsa-p256-sha256")
    reg = registry_of((signer, "alice"), (keys.generate(), "bob"))
    doc = envelope.sign(body(), signer)
    r, s = decode_dss_signature(base64.b64decode(doc["signatures"][0]["sig"]))
    twin = base64.b64encode(encode_dss_signature(r, P256_N - s)).decode()
    doc["signatures"].append({"keyid": signer.public_key.keyid, "sig": twin})
    result = fails(doc, reg, threshold=2)
    assert result.signatures[1].status == "duplicate-key"


def test_two_keys_of_one_owner_do_not_satisfy_other_owner() -> None:
    """Key of the wrong owner: two alice keys cannot stand in for bob's signature."""
    a1, a2, bob = keys.generate(), keys.generate(), keys.generate()
    reg = registry_of((a1, "alice"), (a2, "alice"), (bob, "bob"))
    doc = envelope.add_signature(envelope.sign(body(), a1), a2)
    assert envelope.verify(doc, reg, threshold=2, now=NOW)
    result = fails(doc, reg, required_owners={"alice", "bob"})
    assert result.reason == "missing-owner"


def test_key_of_wrong_owner_claiming_registered_keyid_rejected() -> None:
    """Mallory signs with her key but claims alice's keyid: the registry key decides."""
    alice, mallory = keys.generate(), keys.generate()
    reg = registry_of((alice, "alice"))
    doc = envelope.sign(body(), mallory)
    doc["signatures"][0]["keyid"] = alice.public_key.keyid
    result = fails(doc, reg)
    assert result.signatures[0].status == "bad-signature"


def test_ecdsa_signature_for_ed25519_key_rejected() -> None:
    """Key-id/algorithm confusion: an ECDSA signature presented under an Ed25519 key id."""
    ed, ecdsa = keys.generate("ed25519"), keys.generate("ecdsa-p256-sha256")
    reg = registry_of((ed, "alice"))
    doc = envelope.sign(body(), ecdsa)
    doc["signatures"][0]["keyid"] = ed.public_key.keyid
    assert fails(doc, reg).signatures[0].status == "bad-signature"


def test_ed25519_signature_for_ecdsa_key_rejected() -> None:
    """Key-id/algorithm confusion the other way round."""
    ed, ecdsa = keys.generate("ed25519"), keys.generate("ecdsa-p256-sha256")
    reg = registry_of((ecdsa, "alice"))
    doc = envelope.sign(body(), ed)
    doc["signatures"][0]["keyid"] = ecdsa.public_key.keyid
    assert fails(doc, reg).signatures[0].status == "bad-signature"


def test_payload_type_swapped_rejected() -> None:
    """A signature made under another payloadType for the same bytes does not verify."""
    signer = keys.generate()
    reg = registry_of((signer, "alice"))
    raw = canonical_bytes(body())
    sig = signer.sign(envelope.pae("application/vnd.dta.public-key+json", raw))
    doc = {
        "signed": body(),
        "signatures": [{"keyid": signer.public_key.keyid, "sig": base64.b64encode(sig).decode()}],
    }
    assert fails(doc, reg).signatures[0].status == "bad-signature"


def test_type_relabelled_body_rejected() -> None:
    """Changing _type after signing (re-labelling the document kind) breaks the signature."""
    signer = keys.generate()
    reg = registry_of((signer, "alice"))
    doc = envelope.sign(body(), signer)
    doc["signed"]["_type"] = "dta.public-key"
    fails(doc, reg)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(payload="x"),
        lambda d: d.update(signed2=d["signed"]),
        lambda d: d["signatures"][0].update(extra="x"),
        lambda d: d["signatures"][0].update(keyid=d["signatures"][0]["keyid"].upper()),
    ],
    ids=["top-level", "second-body", "in-signature", "uppercase-keyid"],
)
def test_extra_envelope_members_rejected(mutate: Any) -> None:
    """Signature wrapping: unknown or altered envelope members are rejected before crypto."""
    signer = keys.generate()
    reg = registry_of((signer, "alice"))
    doc = envelope.sign(body(), signer)
    mutate(doc)
    result = fails(doc, reg)
    assert result.reason in {"unknown-member", "malformed-signature"}
    assert result.signatures == ()


def test_unknown_type_rejected_before_signatures() -> None:
    """An unknown _type is rejected before any signature is looked at."""
    signer = keys.generate()
    reg = registry_of((signer, "alice"))
    doc = envelope.sign(body(), signer)
    doc["signed"]["_type"] = "dta.unheard-of"
    doc["signatures"] = "not even a list"
    assert fails(doc, reg).reason == "unknown-type"


def test_unknown_major_spec_version_rejected() -> None:
    """A future major spec_version is rejected; a minor bump of a known major is accepted."""
    signer = keys.generate()
    reg = registry_of((signer, "alice"))
    future = envelope.sign(body(), signer)
    future["signed"]["spec_version"] = "2.0"
    assert fails(future, reg).reason == "unsupported-version"
    minor = envelope.sign(body(spec_version="1.7"), signer)
    assert envelope.verify(minor, reg, now=NOW)["spec_version"] == "1.7"


def test_non_canonical_dsse_payload_rejected() -> None:
    """Non-canonical bytes: a DSSE payload that is not JCS is refused on import."""
    signer = keys.generate()
    dsse = envelope.to_dsse(envelope.sign(body(), signer))
    raw = base64.b64decode(dsse["payload"])
    for variant in (raw.replace(b",", b", "), b" " + raw, raw + b"\n"):
        forged = {**dsse, "payload": base64.b64encode(variant).decode()}
        with pytest.raises(CanonicalError):
            envelope.from_dsse(forged)
    dup = raw[:-1] + b',"keys":[]}'
    with pytest.raises(JSONError, match=r"(?i)duplicate"):
        envelope.from_dsse({**dsse, "payload": base64.b64encode(dup).decode()})


def test_non_canonical_signed_body_is_recanonicalised() -> None:
    """Bytes as sent do not matter: the signature is over canonical bytes only."""
    signer = keys.generate()
    reg = registry_of((signer, "alice"))
    doc = envelope.sign(body(), signer)
    reordered = {"signatures": doc["signatures"], "signed": dict(reversed(doc["signed"].items()))}
    assert envelope.verify(reordered, reg, now=NOW) == body()


def test_expired_key_rejected() -> None:
    """A key past its not_after does not count."""
    signer = keys.generate()
    reg = registry_of((signer, "alice"), not_after=dt.datetime(2026, 5, 31, tzinfo=UTC))
    doc = envelope.sign(body(), signer)
    assert fails(doc, reg).signatures[0].status == "expired"
    assert envelope.verify(doc, reg, now=dt.datetime(2026, 5, 31, tzinfo=UTC))


def test_not_yet_valid_key_rejected() -> None:
    """A key before its not_before does not count."""
    signer = keys.generate()
    reg = registry_of((signer, "alice"), not_before=dt.datetime(2026, 7, 1, tzinfo=UTC))
    doc = envelope.sign(body(), signer)
    assert fails(doc, reg).signatures[0].status == "not-yet-valid"


def test_too_many_signatures_rejected() -> None:
    """A document with more signatures than the cap is rejected without verifying them."""
    signer = keys.generate()
    reg = registry_of((signer, "alice"))
    doc = envelope.sign(body(), signer)
    doc["signatures"] = doc["signatures"] * (envelope.MAX_SIGNATURES + 1)
    assert fails(doc, reg).reason == "too-many-signatures"


def test_signature_with_tampered_body_rejected() -> None:
    """Any change to the signed body invalidates the signature."""
    signer = keys.generate()
    reg = registry_of((signer, "alice"))
    doc = envelope.sign(body(), signer)
    tampered = copy.deepcopy(doc)
    tampered["signed"]["keys"] = [{"keyid": "0" * 64}]
    fails(tampered, reg)
