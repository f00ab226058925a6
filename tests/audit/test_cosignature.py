"""tlog-cosignature/v1: exact signed message, key ID type 0x04, thresholds and timestamps."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dta import keys
from dta.audit.checkpoint import (
    Checkpoint,
    add_cosignatures,
    cosign,
    cosigner_verifier,
    sign_checkpoint,
    verify_checkpoint,
    verify_cosignatures,
)
from dta.audit.note import Verifier, open_note
from dta.errors import SignatureError

LOG = keys.generate()
W1 = keys.generate()
W2 = keys.generate()
CP = Checkpoint("example.com/log", 42, hashlib.sha256(b"r").digest(), ("ext",))
NOTE = sign_checkpoint(CP, LOG)
T = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
V1 = cosigner_verifier(W1.public_key, "w1.example/witness")
V2 = cosigner_verifier(W2.public_key, "w2.example/witness")


def test_cosignature_bytes_follow_spec() -> None:
    """Line = name + base64(keyid(0x04) || u64 ts || Ed25519 over header+time+checkpoint)."""
    line = cosign(NOTE, W1, "w1.example/witness", now=T)
    assert line.startswith("\u2014 w1.example/witness ")
    assert line.endswith("\n")
    blob = base64.b64decode(line.split(" ")[2])
    raw = W1.public_key.raw()
    assert blob[:4] == hashlib.sha256(b"w1.example/witness\n\x04" + raw).digest()[:4]
    ts = int(T.timestamp())
    assert blob[4:12] == ts.to_bytes(8, "big")
    message = f"cosignature/v1\ntime {ts}\n".encode() + CP.to_text().encode()
    Ed25519PublicKey.from_public_bytes(raw).verify(blob[12:], message)
    assert len(blob) == 4 + 8 + 64


def test_cosigned_checkpoint_still_verifies_for_log_and_witnesses() -> None:
    """Appending cosignatures keeps the log signature valid and the cosignatures count."""
    lines = [cosign(NOTE, W1, "w1.example/witness", now=T), cosign(NOTE, W2, V2.name, now=T)]
    full = add_cosignatures(NOTE, lines)
    assert verify_checkpoint(full, LOG.public_key) == CP
    found = verify_cosignatures(full, [V1, V2], threshold=2)
    assert {c.name for c in found} == {V1.name, V2.name}
    assert found[0].time == T


def test_cosignature_threshold_not_met_rejected() -> None:
    """Fewer valid witness cosignatures than the threshold is an error."""
    full = add_cosignatures(NOTE, [cosign(NOTE, W1, V1.name, now=T)])
    with pytest.raises(SignatureError):
        verify_cosignatures(full, [V1, V2], threshold=2)


def test_cosignature_timestamp_tampered_rejected() -> None:
    """Changing the timestamp inside a cosignature breaks it (the time is signed)."""
    line = cosign(NOTE, W1, V1.name, now=T)
    name, b64 = line.split(" ")[1], line.split(" ")[2]
    blob = bytearray(base64.b64decode(b64))
    blob[11] ^= 1
    forged = f"\u2014 {name} {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(SignatureError):
        verify_cosignatures(add_cosignatures(NOTE, [forged]), [V1])


def test_cosignature_for_other_checkpoint_rejected() -> None:
    """A cosignature made over another checkpoint does not verify on this one."""
    other = sign_checkpoint(Checkpoint(CP.origin, 43, CP.root), LOG)
    line = cosign(other, W1, V1.name, now=T)
    with pytest.raises(SignatureError):
        verify_cosignatures(add_cosignatures(NOTE, [line]), [V1])


def test_cosignature_not_accepted_as_plain_note_signature() -> None:
    """Domain separation: a cosignature is not a type-0x01 signature by the same key."""
    full = add_cosignatures(NOTE, [cosign(NOTE, W1, V1.name, now=T)])
    plain = Verifier.from_public_key(W1.public_key, V1.name)
    with pytest.raises(SignatureError):
        open_note(full, [plain])


def test_cosignature_from_the_future_rejected_with_not_after() -> None:
    """Verifiers can reject cosignatures timestamped after a clock-skew bound."""
    full = add_cosignatures(NOTE, [cosign(NOTE, W1, V1.name, now=T)])
    with pytest.raises(SignatureError):
        verify_cosignatures(full, [V1], not_after=datetime(2026, 1, 1, tzinfo=UTC))
    assert verify_cosignatures(full, [V1], not_after=T)


def test_cosignature_vkey_has_type_04() -> None:
    """The witness verifier key string carries signature type 0x04 and round-trips."""
    vkey = V1.to_vkey()
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == 0x04
    assert Verifier.from_vkey(vkey) == V1


def test_cosignature_needs_aware_time() -> None:
    """A naive datetime is refused as cosigning time."""
    with pytest.raises(SignatureError):
        cosign(NOTE, W1, V1.name, now=datetime(2026, 1, 1))
