"""Keys: generation, key ids, files, Signer protocol and the registry."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from dta import keys
from dta.errors import InputError, KeyMaterialError, UsageError

UTC = dt.UTC


@pytest.mark.parametrize("scheme", keys.SCHEMES)
def test_generated_key_signs_and_verifies(scheme: str) -> None:
    """A generated key of each scheme signs data its public key verifies."""
    signer = keys.generate(scheme)
    assert isinstance(signer, keys.Signer)
    sig = signer.sign(b"data")
    assert signer.public_key.scheme == scheme
    assert signer.public_key.verify(sig, b"data")
    assert not signer.public_key.verify(sig, b"datA")


def test_default_scheme_is_ed25519() -> None:
    """generate() without a scheme makes an Ed25519 key."""
    assert keys.generate().public_key.scheme == "ed25519"


def test_unknown_scheme_rejected() -> None:
    """An unknown scheme is a KeyMaterialError."""
    with pytest.raises(KeyMaterialError, match="unsupported key scheme"):
        keys.generate("rsa-pss")


@pytest.mark.parametrize("scheme", keys.SCHEMES)
def test_keyid_is_sha256_of_der_spki(scheme: str) -> None:
    """keyid is the hex SHA-256 of the DER SubjectPublicKeyInfo."""
    signer = keys.generate(scheme)
    der = signer.private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert signer.public_key.spki == der
    assert signer.public_key.keyid == hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize("scheme", keys.SCHEMES)
def test_public_key_dict_round_trip(scheme: str) -> None:
    """to_dict/from_dict round-trips and from_dict does not mutate its input."""
    key = keys.generate(scheme).public_key
    data = key.to_dict()
    snapshot = dict(data)
    assert keys.PublicKey.from_dict(data) == key
    assert data == snapshot
    assert set(data) == {"keyid", "scheme", "spki"}


def test_forged_keyid_rejected() -> None:
    """A key object whose keyid does not match its spki is rejected."""
    data = keys.generate().public_key.to_dict()
    data["keyid"] = keys.generate().public_key.keyid
    with pytest.raises(KeyMaterialError, match="does not match its spki"):
        keys.PublicKey.from_dict(data)


def test_scheme_spki_mismatch_rejected() -> None:
    """An Ed25519 SPKI declared as ECDSA (algorithm confusion) is rejected."""
    data = keys.generate("ed25519").public_key.to_dict()
    data["scheme"] = "ecdsa-p256-sha256"
    with pytest.raises(KeyMaterialError, match="not an ECDSA P-256 key"):
        keys.PublicKey.from_dict(data)
    data = keys.generate("ecdsa-p256-sha256").public_key.to_dict()
    data["scheme"] = "ed25519"
    with pytest.raises(KeyMaterialError, match="not an Ed25519 key"):
        keys.PublicKey.from_dict(data)


def test_other_curve_rejected() -> None:
    """A P-384 key is not accepted as ecdsa-p256-sha256."""
    der = (
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(KeyMaterialError, match="P-256"):
        keys.PublicKey.from_spki(der, "ecdsa-p256-sha256")


def test_compressed_point_spki_rejected() -> None:
    """A second (compressed-point) encoding of the same key cannot mint a second keyid."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    compressed = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    uncompressed = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # Same AlgorithmIdentifier, BIT STRING re-wrapped around the 33-byte compressed point.
    algid = uncompressed[2 : 2 + 2 + uncompressed[3]]
    bitstring = b"\x03" + bytes([len(compressed) + 1]) + b"\x00" + compressed
    body = algid + bitstring
    der = b"\x30" + bytes([len(body)]) + body
    assert serialization.load_der_public_key(der) == key
    with pytest.raises(KeyMaterialError, match="canonical DER"):
        keys.PublicKey.from_spki(der, "ecdsa-p256-sha256")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("spki"), "missing member 'spki'"),
        (lambda d: d.update(extra=1), "unknown member 'extra'"),
        (lambda d: d.update(spki=d["spki"] + " "), "base64"),
        (lambda d: d.update(spki="AAAA"), "not a valid DER"),
        (lambda d: d.update(keyid="ABC"), "64 lowercase hex"),
        (lambda d: d.update(scheme=7), "scheme must be a string"),
        (lambda d: d.update(_type="dta.manifest"), "_type must be"),
    ],
)
def test_malformed_public_key_rejected(mutate: object, message: str) -> None:
    """Malformed key objects raise KeyMaterialError naming the problem."""
    data = keys.generate().public_key.to_dict()
    mutate(data)  # type: ignore[operator]
    with pytest.raises(KeyMaterialError, match=message):
        keys.PublicKey.from_dict(data)


def test_non_canonical_base64_spki_rejected() -> None:
    """Base64 with non-zero padding bits (a second spelling) is rejected."""
    data = keys.generate().public_key.to_dict()
    text = data["spki"]  # 44 bytes: ends with one '=' and two unused bits before it
    assert text.endswith("=")
    tweaked = text[:-2] + chr(ord(text[-2]) + 1) + "="
    assert base64.b64decode(tweaked) == base64.b64decode(text)
    data["spki"] = tweaked
    with pytest.raises(KeyMaterialError, match="canonical base64"):
        keys.PublicKey.from_dict(data)


def test_raw_returns_ed25519_bytes_only() -> None:
    """raw() gives the 32-byte Ed25519 key and refuses ECDSA keys."""
    signer = keys.generate()
    assert isinstance(signer.private_key, ed25519.Ed25519PrivateKey)
    assert signer.public_key.raw() == signer.private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    with pytest.raises(KeyMaterialError):
        keys.generate("ecdsa-p256-sha256").public_key.raw()


def test_private_key_file_created_with_mode_0600(tmp_path: Path) -> None:
    """save_private writes PKCS#8 PEM with mode 0600 even under a permissive umask."""
    signer = keys.generate()
    path = tmp_path / "k.pem"
    old = os.umask(0)
    try:
        keys.save_private(path, signer)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert keys.load_private(path).public_key == signer.public_key
    assert [p.name for p in tmp_path.iterdir()] == ["k.pem"]  # no temporary left behind


@pytest.mark.parametrize("scheme", keys.SCHEMES)
def test_encrypted_private_key_round_trip(tmp_path: Path, scheme: str) -> None:
    """A passphrase-encrypted key loads with the passphrase only."""
    signer = keys.generate(scheme)
    path = tmp_path / "k.pem"
    keys.save_private(path, signer, b"correct horse")
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert keys.is_encrypted(path)
    assert keys.load_private(path, b"correct horse").public_key == signer.public_key
    with pytest.raises(KeyMaterialError, match="passphrase is required"):
        keys.load_private(path)
    with pytest.raises(KeyMaterialError, match="wrong passphrase"):
        keys.load_private(path, b"wrong")


def test_existing_key_file_not_overwritten(tmp_path: Path) -> None:
    """save_private refuses to replace an existing file unless asked."""
    path = tmp_path / "k.pem"
    first = keys.generate()
    keys.save_private(path, first)
    with pytest.raises(InputError, match="already exists"):
        keys.save_private(path, keys.generate())
    assert keys.load_private(path).public_key == first.public_key
    second = keys.generate()
    keys.save_private(path, second, overwrite=True)
    assert keys.load_private(path).public_key == second.public_key


def test_world_readable_private_key_refused(tmp_path: Path) -> None:
    """A private key file readable by others is refused, like OpenSSH does."""
    path = tmp_path / "k.pem"
    keys.save_private(path, keys.generate())
    path.chmod(0o644)
    with pytest.raises(KeyMaterialError, match="too open"):
        keys.load_private(path)
    assert keys.load_private(path, check_permissions=False)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a key", "not a PEM private key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a PEM"),
    ],
)
def test_garbage_private_key_file_rejected(tmp_path: Path, content: bytes, message: str) -> None:
    """A file that is not a PEM private key raises KeyMaterialError naming the file."""
    path = tmp_path / "bad.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, content)
    os.close(fd)
    with pytest.raises(KeyMaterialError, match=f"bad.pem: {message}"):
        keys.load_private(path)


def test_rsa_private_key_rejected(tmp_path: Path) -> None:
    """Keys of other algorithms are refused on load."""
    pem = rsa.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = tmp_path / "rsa.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, pem)
    os.close(fd)
    with pytest.raises(KeyMaterialError, match="unsupported key type"):
        keys.load_private(path)


def test_missing_key_file_is_input_error(tmp_path: Path) -> None:
    """A missing key file is an I/O error (exit code 2) naming the file."""
    with pytest.raises(InputError, match="no such file") as info:
        keys.load_private(tmp_path / "nope.pem")
    assert info.value.exit_code == 2


def test_public_key_file_round_trip(tmp_path: Path) -> None:
    """save_public/load_public keep key and owner."""
    key = keys.generate("ecdsa-p256-sha256").public_key
    path = tmp_path / "k.pub.json"
    keys.save_public(path, key, owner="org:alice")
    assert keys.load_public(path) == (key, "org:alice")


def test_signer_protocol_accepts_external_signer() -> None:
    """An HSM-style object with public_key and sign() satisfies the Signer protocol."""
    inner = keys.generate()

    class Remote:
        @property
        def public_key(self) -> keys.PublicKey:
            return inner.public_key

        def sign(self, data: bytes) -> bytes:
            return inner.sign(data)

    assert isinstance(Remote(), keys.Signer)


def test_registry_lookup_and_owners() -> None:
    """The registry maps keyid to entry and lists owners."""
    a, b = keys.generate(), keys.generate("ecdsa-p256-sha256")
    reg = keys.KeyRegistry()
    reg.add(a.public_key, "alice")
    reg.add(b.public_key, "bob", not_before=dt.datetime(2026, 1, 1, tzinfo=UTC))
    assert reg.get(a.public_key.keyid) == keys.RegistryEntry(a.public_key, "alice")
    assert reg.get("0" * 64) is None
    assert reg.owners() == {"alice", "bob"}
    assert {e.owner for e in reg} == {"alice", "bob"}
    assert len(reg) == 2
    assert a.public_key.keyid in reg


def test_registry_rejects_same_key_twice() -> None:
    """One key cannot be registered to two owners."""
    key = keys.generate().public_key
    reg = keys.KeyRegistry()
    reg.add(key, "alice")
    with pytest.raises(KeyMaterialError, match="already registered"):
        reg.add(key, "mallory")


def test_registry_rejects_naive_and_inverted_windows() -> None:
    """Validity windows must be timezone-aware and ordered."""
    key = keys.generate().public_key
    reg = keys.KeyRegistry()
    with pytest.raises(UsageError):
        reg.add(key, "alice", not_before=dt.datetime(2026, 1, 1))
    with pytest.raises(KeyMaterialError, match="not_after before not_before"):
        reg.add(
            key,
            "alice",
            not_before=dt.datetime(2026, 2, 1, tzinfo=UTC),
            not_after=dt.datetime(2026, 1, 1, tzinfo=UTC),
        )


def test_registry_document_round_trip() -> None:
    """A registry survives to_dict/from_dict, windows included."""
    reg = keys.KeyRegistry()
    reg.add(
        keys.generate().public_key,
        "alice",
        not_before=dt.datetime(2026, 1, 1, tzinfo=UTC),
        not_after=dt.datetime(2027, 1, 1, 12, 30, tzinfo=UTC),
    )
    reg.add(keys.generate("ecdsa-p256-sha256").public_key, "bob")
    doc = reg.to_dict()
    again = keys.KeyRegistry.from_dict(doc)
    assert list(again) == list(reg)
    assert doc["keys"][0]["not_after"] == "2027-01-01T12:30:00Z"


def test_registry_document_with_forged_entry_names_index() -> None:
    """A registry document entry with a forged keyid is rejected with its index."""
    reg = keys.KeyRegistry()
    reg.add(keys.generate().public_key, "alice")
    doc = reg.to_dict()
    doc["keys"][0]["keyid"] = "f" * 64
    with pytest.raises(KeyMaterialError, match="/keys/0"):
        keys.KeyRegistry.from_dict(doc)


def test_direct_construction_recomputes_keyid() -> None:
    """PublicKey(keyid, scheme, spki) built directly is checked like from_dict."""
    key = keys.generate().public_key
    assert keys.PublicKey(key.keyid, key.scheme, key.spki) == key
    with pytest.raises(KeyMaterialError, match="does not match"):
        keys.PublicKey("0" * 64, key.scheme, key.spki)
    with pytest.raises(KeyMaterialError):
        keys.PublicKey(key.keyid, "ecdsa-p256-sha256", key.spki)


@pytest.mark.parametrize("scheme", keys.SCHEMES)
def test_light_spki_check_agrees_with_full_parse(scheme: str) -> None:
    """dta validate's crypto-free key check accepts generated keys and rejects forged ids."""
    from dta._spki import key_object_error

    data = keys.generate(scheme).public_key.to_dict()
    assert key_object_error(data) is None
    assert key_object_error({**data, "keyid": "0" * 64}) is not None
    other = next(s for s in keys.SCHEMES if s != scheme)
    assert key_object_error({**data, "scheme": other}) is not None


def test_pem_public_key_file_loads(tmp_path: Path) -> None:
    """A PEM SubjectPublicKeyInfo file (as other tools write) loads as the same key."""
    signer = keys.generate("ecdsa-p256-sha256")
    pem = signer.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "k.pem.pub").write_bytes(pem)
    assert keys.load_public(tmp_path / "k.pem.pub") == (signer.public_key, None)


_FUZZ_KEY = keys.generate("ecdsa-p256-sha256").public_key.to_dict()
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=80),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None)
@given(
    member=st.sampled_from(["keyid", "scheme", "spki", "owner", "_type", "not_after"]),
    value=_json_values | st.sampled_from([_FUZZ_KEY["spki"][:-4], _FUZZ_KEY["spki"][4:]]),
)
def test_key_and_registry_parsers_only_raise_key_errors(member: str, value: object) -> None:
    """Mutated key objects and registry entries raise KeyMaterialError and nothing else."""
    data = {**_FUZZ_KEY, member: value}
    with contextlib.suppress(KeyMaterialError):
        keys.PublicKey.from_dict(data)
    doc = {"_type": "dta.key-registry", "spec_version": "1.0", "keys": [{**data, "owner": "o"}]}
    with contextlib.suppress(KeyMaterialError):
        keys.KeyRegistry.from_dict(doc)
