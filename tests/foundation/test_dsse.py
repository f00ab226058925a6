"""DSSE export/import, interop with securesystemslib, and the DSSE spec example."""

from __future__ import annotations

import base64
import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError as SslibVerificationError
from securesystemslib.signer import CryptoSigner, SSlibKey

from dta import canonical_bytes, envelope, keys, loads
from dta.errors import SchemaError, SignatureError

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
BODY = {"_type": "dta.key-registry", "spec_version": "1.0", "keys": []}


def sslib_key(signer: keys.LocalSigner) -> SSlibKey:
    """The securesystemslib view of a dta key, with the dta keyid."""
    return SSlibKey.from_crypto(signer.private_key.public_key(), keyid=signer.public_key.keyid)


def registry_of(*signers: keys.LocalSigner) -> keys.KeyRegistry:
    """Registry trusting the signers (owner = index)."""
    reg = keys.KeyRegistry()
    for i, s in enumerate(signers):
        reg.add(s.public_key, f"owner{i}")
    return reg


@pytest.mark.parametrize("scheme", keys.SCHEMES)
def test_dta_signed_document_verifies_in_securesystemslib(scheme: str) -> None:
    """A dta-signed document exported to DSSE verifies with securesystemslib."""
    signer = keys.generate(scheme)
    dsse = envelope.to_dsse(envelope.sign(BODY, signer))
    assert base64.b64decode(dsse["payload"]) == canonical_bytes(BODY)
    env = Envelope.from_dict(copy.deepcopy(dsse))
    accepted = env.verify([sslib_key(signer)], 1)
    assert list(accepted) == [signer.public_key.keyid]
    tampered = Envelope.from_dict(copy.deepcopy(dsse))
    tampered.payload_type = "application/vnd.dta.public-key+json"
    with pytest.raises(SslibVerificationError):
        tampered.verify([sslib_key(signer)], 1)


@pytest.mark.parametrize("scheme", keys.SCHEMES)
def test_securesystemslib_envelope_imports_and_verifies(scheme: str) -> None:
    """An envelope signed by securesystemslib imports into dta and verifies there."""
    signer = keys.generate(scheme)
    sslib_signer = CryptoSigner(signer.private_key, sslib_key(signer))
    env = Envelope(canonical_bytes(BODY), envelope.payload_type(BODY["_type"]), {})
    env.sign(sslib_signer)
    doc = envelope.from_dsse(env.to_dict())
    assert envelope.verify(doc, registry_of(signer), now=NOW) == BODY
    assert envelope.to_dsse(doc) == env.to_dict()


def test_dsse_round_trip_is_lossless() -> None:
    """from_dsse(to_dsse(doc)) gives back the same document."""
    a, b = keys.generate(), keys.generate("ecdsa-p256-sha256")
    doc = envelope.add_signature(envelope.sign(BODY, a), b)
    assert envelope.from_dsse(envelope.to_dsse(doc)) == doc


def test_dsse_spec_example_verifies(vectors: Path) -> None:
    """The DSSE spec's ECDSA example (raw r||s signature) verifies with verify_dsse."""
    vec = loads((vectors / "dsse" / "spec-example.json").read_bytes())
    numbers = ec.EllipticCurvePublicNumbers(
        int(vec["public_key"]["x"]), int(vec["public_key"]["y"]), ec.SECP256R1()
    )
    key = keys.PublicKey.from_crypto(numbers.public_key())
    reg = keys.KeyRegistry()
    reg.add(key, "spec")
    ptype, payload = envelope.verify_dsse(vec["envelope"], reg, now=NOW)
    assert (ptype, payload) == (vec["payload_type"], vec["body_utf8"].encode())
    other = keys.KeyRegistry()
    other.add(keys.generate("ecdsa-p256-sha256").public_key, "spec")
    with pytest.raises(SignatureError):
        envelope.verify_dsse(vec["envelope"], other, now=NOW)
    swapped = {**vec["envelope"], "payloadType": "http://example.com/Other"}
    with pytest.raises(SignatureError):
        envelope.verify_dsse(swapped, reg, now=NOW)


def test_dsse_spec_example_signature_reproduced(vectors: Path) -> None:
    """RFC 6979 signing of our PAE with the example's private key gives the example's r||s."""
    vec = loads((vectors / "dsse" / "spec-example.json").read_bytes())
    private = ec.derive_private_key(int(vec["private_key_d"]), ec.SECP256R1())
    message = envelope.pae(vec["payload_type"], vec["body_utf8"].encode())
    der = private.sign(message, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert base64.b64encode(raw).decode() == vec["envelope"]["signatures"][0]["sig"]


def test_raw_ecdsa_signature_converted_on_import_with_registry() -> None:
    """A raw r||s ECDSA signature imports as DER when the registry names an ECDSA key."""
    signer = keys.generate("ecdsa-p256-sha256")
    reg = registry_of(signer)
    dsse = envelope.to_dsse(envelope.sign(BODY, signer))
    r, s = decode_dss_signature(base64.b64decode(dsse["signatures"][0]["sig"]))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    dsse["signatures"][0]["sig"] = base64.b64encode(raw).decode()
    assert envelope.verify(envelope.from_dsse(dsse, registry=reg), reg, now=NOW) == BODY
    with pytest.raises(SignatureError):  # dta documents carry DER only
        envelope.verify(envelope.from_dsse(dsse), reg, now=NOW)


def test_dsse_payload_type_mismatch_rejected_on_import() -> None:
    """Payload type swapped in a DSSE envelope is refused on import."""
    dsse = envelope.to_dsse(envelope.sign(BODY, keys.generate()))
    dsse["payloadType"] = "application/vnd.dta.manifest+json"
    with pytest.raises(SchemaError, match="does not match _type"):
        envelope.from_dsse(dsse)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(extra=1),
        lambda d: d.pop("payloadType"),
        lambda d: d.update(payload="%%%"),
        lambda d: d.update(signatures=[]),
        lambda d: d["signatures"][0].pop("keyid"),
        lambda d: d["signatures"][0].update(sig=5),
        lambda d: d["signatures"][0].update(cert="x"),
    ],
    ids=["extra", "no-type", "bad-b64", "no-sigs", "no-keyid", "sig-not-str", "sig-extra"],
)
def test_malformed_dsse_envelope_rejected(mutate: Any) -> None:
    """Malformed DSSE envelopes raise SchemaError with a pointer, never anything else."""
    dsse = envelope.to_dsse(envelope.sign(BODY, keys.generate()))
    mutate(dsse)
    with pytest.raises(SchemaError, match=r"\(at /"):
        envelope.from_dsse(dsse)


def test_verify_dsse_counts_distinct_keys_without_keyids() -> None:
    """Keyless DSSE signatures are matched against registry keys, each key counted once."""
    a = keys.generate()
    reg = registry_of(a, keys.generate())
    dsse = envelope.to_dsse(envelope.sign(BODY, a))
    sig = dsse["signatures"][0]["sig"]
    dsse["signatures"] = [{"sig": sig}, {"sig": sig}]
    assert envelope.verify_dsse(dsse, reg, now=NOW)[1] == canonical_bytes(BODY)
    result = envelope.verify_dsse_result(dsse, reg, threshold=2, now=NOW)
    assert not result.ok
    assert result.valid_keyids == (a.public_key.keyid,)
