"""Public keys, key ids and signers (implementation of :mod:`dta.keys`).

Rules this module enforces:

* Two schemes only: ``ed25519`` and ``ecdsa-p256-sha256`` (ECDSA over P-256 with SHA-256, DER
  signatures). A key's scheme must match the algorithm inside its SubjectPublicKeyInfo.
* A key id is the lowercase hex SHA-256 of the DER SubjectPublicKeyInfo. It is never trusted from
  input: :meth:`PublicKey.from_dict` recomputes it and rejects a mismatch.
* SPKI bytes must be the canonical DER encoding (what the key re-encodes to; uncompressed EC point),
  so one key has exactly one key id and thresholds cannot be inflated by re-encoding a key.
* Base64 input is strict (RFC 4648 alphabet, padding, no stray bits or whitespace).
* ECDSA verification accepts DER signatures only; raw ``r||s`` is converted explicitly by DSSE
  import (see :func:`raw_ecdsa_to_der`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import attrs
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from dta._spki import spki_shape_error
from dta.errors import KeyMaterialError

__all__ = [
    "DEFAULT_SCHEME",
    "PUBLIC_KEY_TYPE",
    "SCHEMES",
    "LocalSigner",
    "PublicKey",
    "Signer",
    "b64decode_strict",
    "b64encode",
    "generate",
    "keyid_of",
    "raw_ecdsa_to_der",
]

ED25519 = "ed25519"
ECDSA_P256 = "ecdsa-p256-sha256"
SCHEMES: tuple[str, ...] = (ED25519, ECDSA_P256)
DEFAULT_SCHEME = ED25519
PUBLIC_KEY_TYPE = "dta.public-key"
_KEYID = re.compile(r"[0-9a-f]{64}")
_MAX_SPKI = 1024
_DOC_MEMBERS = frozenset({"_type", "spec_version", "owner"})

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


def b64encode(data: bytes) -> str:
    """Standard base64 with padding (RFC 4648 section 4)."""
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(text: Any, what: str) -> bytes:
    """Decode canonical standard base64 or raise.

    Args:
        text: The value to decode (must be a ``str``).
        what: Name of the field, used in the error message.

    Raises:
        KeyMaterialError: Not a string, not base64, or not the canonical encoding of its bytes.
    """
    if not isinstance(text, str):
        raise KeyMaterialError(f"{what}: expected a base64 string")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
        raise KeyMaterialError(f"{what}: not valid base64") from exc
    if base64.b64encode(data).decode("ascii") != text:
        raise KeyMaterialError(f"{what}: not canonical base64")
    return data


def keyid_of(spki: bytes) -> str:
    """Return the key id of a DER SubjectPublicKeyInfo: lowercase hex SHA-256."""
    return hashlib.sha256(spki).hexdigest()


def raw_ecdsa_to_der(signature: bytes) -> bytes:
    """Convert a raw P-256 ``r||s`` signature (64 bytes, IEEE P1363) to DER.

    Raises:
        KeyMaterialError: The signature is not 64 bytes.
    """
    if len(signature) != 64:
        raise KeyMaterialError("raw ECDSA P-256 signature must be 64 bytes")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    return encode_dss_signature(r, s)


def _load_spki(spki: bytes, scheme: str) -> ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey:
    if scheme not in SCHEMES:
        raise KeyMaterialError(f"unsupported key scheme {scheme!r}; expected one of {SCHEMES}")
    if not isinstance(spki, bytes) or not 0 < len(spki) <= _MAX_SPKI:
        raise KeyMaterialError("spki: expected DER SubjectPublicKeyInfo bytes")
    try:
        key = serialization.load_der_public_key(spki)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyMaterialError("spki: not a valid DER SubjectPublicKeyInfo") from exc
    if scheme == ED25519:
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise KeyMaterialError("spki: scheme ed25519 but the key is not an Ed25519 key")
    elif not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyMaterialError(f"spki: scheme {scheme} but the key is not an ECDSA P-256 key")
    canonical = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if canonical != spki:
        raise KeyMaterialError("spki: not the canonical DER encoding of the key")
    shape = spki_shape_error(spki, scheme)  # the light check dta validate relies on must agree
    if shape is not None:
        raise KeyMaterialError(f"spki: {shape}")
    return key


@attrs.frozen(repr=False)
class PublicKey:
    """A verification key: ``{keyid, scheme, spki}``.

    Attributes:
        keyid: Lowercase hex SHA-256 of ``spki``.
        scheme: ``ed25519`` or ``ecdsa-p256-sha256``.
        spki: DER SubjectPublicKeyInfo.
    """

    keyid: str
    scheme: str
    spki: bytes
    _key: ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | None = attrs.field(
        default=None, eq=False, hash=False, alias="_key"
    )

    def __attrs_post_init__(self) -> None:
        """Direct construction is checked like :meth:`from_spki` (key id recomputed).

        Raises:
            KeyMaterialError: Bad SPKI, scheme mismatch, or a key id that does not match.
        """
        if self._key is None:
            if not isinstance(self.keyid, str) or keyid_of(bytes(self.spki)) != self.keyid:
                raise KeyMaterialError("public key: keyid does not match its spki")
            object.__setattr__(self, "_key", _load_spki(self.spki, self.scheme))

    def __repr__(self) -> str:
        return f"PublicKey(keyid={self.keyid!r}, scheme={self.scheme!r})"

    @classmethod
    def from_spki(cls, der: bytes, scheme: str = DEFAULT_SCHEME) -> PublicKey:
        """Build a key from DER SubjectPublicKeyInfo bytes.

        Raises:
            KeyMaterialError: Unknown scheme, invalid or non-canonical DER, or the algorithm does
                not match the scheme.
        """
        key = _load_spki(der, scheme)
        return cls(keyid_of(der), scheme, bytes(der), _key=key)

    @classmethod
    def from_crypto(
        cls, key: ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | Any
    ) -> PublicKey:
        """Build a key from a ``cryptography`` public key object (scheme inferred).

        Raises:
            KeyMaterialError: Not an Ed25519 or ECDSA P-256 key.
        """
        if isinstance(key, ed25519.Ed25519PublicKey):
            scheme = ED25519
        elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
            scheme = ECDSA_P256
        else:
            raise KeyMaterialError(f"unsupported key type {type(key).__name__}")
        der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls.from_spki(der, scheme)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PublicKey:
        """Parse ``{"keyid", "scheme", "spki"}`` (or a ``dta.public-key`` document).

        The key id is recomputed from ``spki`` and must equal ``keyid``. Members other than the
        three fields are rejected, except ``_type`` (must be ``dta.public-key``),
        ``spec_version`` and ``owner`` of a public-key document. The input is not modified.

        Raises:
            KeyMaterialError: Missing/unknown members, bad base64 or DER, scheme mismatch, or a
                key id that does not match the SPKI.
        """
        if not isinstance(data, Mapping):
            raise KeyMaterialError("public key: expected a JSON object")
        extra = sorted(set(data) - {"keyid", "scheme", "spki"} - _DOC_MEMBERS)
        if extra:
            raise KeyMaterialError(f"public key: unknown member {extra[0]!r}")
        if "_type" in data and data["_type"] != PUBLIC_KEY_TYPE:
            raise KeyMaterialError(f"public key: _type must be {PUBLIC_KEY_TYPE!r}")
        missing = [m for m in ("keyid", "scheme", "spki") if m not in data]
        if missing:
            raise KeyMaterialError(f"public key: missing member {missing[0]!r}")
        keyid, scheme = data["keyid"], data["scheme"]
        if not isinstance(keyid, str) or not _KEYID.fullmatch(keyid):
            raise KeyMaterialError("public key: keyid must be 64 lowercase hex characters")
        if not isinstance(scheme, str):
            raise KeyMaterialError("public key: scheme must be a string")
        key = cls.from_spki(b64decode_strict(data["spki"], "public key spki"), scheme)
        if key.keyid != keyid:
            raise KeyMaterialError(
                f"public key: keyid {keyid[:16]}... does not match its spki ({key.keyid[:16]}...)"
            )
        return key

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"keyid", "scheme", "spki": base64}``."""
        return {"keyid": self.keyid, "scheme": self.scheme, "spki": b64encode(self.spki)}

    def to_document(self, owner: str | None = None) -> dict[str, Any]:
        """Return a ``dta.public-key`` document (schema ``urn:dta:schema:public-key:1``)."""
        doc: dict[str, Any] = {"_type": PUBLIC_KEY_TYPE, "spec_version": "1.0", **self.to_dict()}
        if owner is not None:
            doc["owner"] = owner
        return doc

    def raw(self) -> bytes:
        """Return the 32-byte raw Ed25519 public key.

        Raises:
            KeyMaterialError: The key is not an Ed25519 key.
        """
        if not isinstance(self._key, ed25519.Ed25519PublicKey):
            raise KeyMaterialError(f"key {self.keyid[:16]}... is not an Ed25519 key")
        return self._key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def crypto_key(self) -> ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey:
        """Return the ``cryptography`` public key object."""
        assert self._key is not None  # set by __attrs_post_init__
        return self._key

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Return whether ``signature`` is valid for ``data`` under this key's scheme.

        Never raises on a bad signature (any malformed signature is simply invalid).
        """
        if not isinstance(signature, bytes | bytearray) or not isinstance(data, bytes | bytearray):
            return False
        key = self._key
        try:
            if isinstance(key, ed25519.Ed25519PublicKey):
                if len(signature) != 64:
                    return False
                key.verify(bytes(signature), bytes(data))
                return True
            if isinstance(key, ec.EllipticCurvePublicKey):
                if not 8 <= len(signature) <= 72:
                    return False
                key.verify(bytes(signature), bytes(data), ec.ECDSA(hashes.SHA256()))
                return True
        except (InvalidSignature, ValueError):
            return False
        return False


@runtime_checkable
class Signer(Protocol):
    """Anything that can sign: a local key, an HSM, a cloud KMS.

    ``sign`` receives the exact bytes to sign (the DSSE PAE) and returns the signature in the
    key's scheme encoding (64 raw bytes for Ed25519, DER for ECDSA P-256 with SHA-256).
    """

    @property
    def public_key(self) -> PublicKey:
        """The key that verifies this signer's signatures."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` and return the signature bytes."""
        ...


class LocalSigner:
    """A :class:`Signer` holding a private key in memory.

    Attributes:
        private_key: The ``cryptography`` private key object.
    """

    __slots__ = ("_public", "private_key")

    def __init__(self, private_key: PrivateKey) -> None:
        """Wrap a private key.

        Raises:
            KeyMaterialError: Not an Ed25519 or ECDSA P-256 private key.
        """
        if isinstance(private_key, ec.EllipticCurvePrivateKey) and not isinstance(
            private_key.curve, ec.SECP256R1
        ):
            raise KeyMaterialError(f"unsupported curve {private_key.curve.name}; use P-256")
        if not isinstance(private_key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise KeyMaterialError(f"unsupported private key type {type(private_key).__name__}")
        self.private_key = private_key
        self._public = PublicKey.from_crypto(private_key.public_key())

    def __repr__(self) -> str:
        return f"LocalSigner(keyid={self._public.keyid!r}, scheme={self._public.scheme!r})"

    @property
    def public_key(self) -> PublicKey:
        """The matching public key."""
        return self._public

    @property
    def scheme(self) -> str:
        """The key's signature scheme."""
        return self._public.scheme

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` (Ed25519, or ECDSA P-256/SHA-256 with a DER signature)."""
        if isinstance(self.private_key, ed25519.Ed25519PrivateKey):
            return self.private_key.sign(bytes(data))
        return self.private_key.sign(bytes(data), ec.ECDSA(hashes.SHA256()))


def generate(scheme: str = DEFAULT_SCHEME) -> LocalSigner:
    """Generate a new key pair.

    Args:
        scheme: ``ed25519`` (default) or ``ecdsa-p256-sha256``.

    Raises:
        KeyMaterialError: Unknown scheme.
    """
    if scheme == ED25519:
        return LocalSigner(ed25519.Ed25519PrivateKey.generate())
    if scheme == ECDSA_P256:
        return LocalSigner(ec.generate_private_key(ec.SECP256R1()))
    raise KeyMaterialError(f"unsupported key scheme {scheme!r}; expected one of {SCHEMES}")
