"""Canonical SubjectPublicKeyInfo shapes, checkable without loading a crypto library.

Rules this module enforces:

* For each scheme there is exactly one canonical DER SPKI layout: Ed25519 is the 12-byte
  AlgorithmIdentifier/BIT STRING header followed by the 32-byte key (44 bytes); ECDSA P-256 is the
  26-byte header (id-ecPublicKey, prime256v1) followed by an uncompressed point ``04||X||Y``
  (91 bytes). Anything else (compressed points, explicit curve parameters, BER lengths) is not
  canonical and would give one key a second key id.
* The key id is the lowercase hex SHA-256 of those bytes.

:mod:`dta._keys` applies these checks before the full cryptographic parse (which also checks the
point is on the curve); ``dta validate`` uses them alone so that it starts without loading
``cryptography``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

__all__ = ["SPKI_HEADERS", "key_object_error", "spki_shape_error"]

SPKI_HEADERS: dict[str, tuple[bytes, int]] = {
    "ed25519": (bytes.fromhex("302a300506032b6570032100"), 44),
    "ecdsa-p256-sha256": (
        bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d03010703420004"),
        91,
    ),
}


def spki_shape_error(spki: bytes, scheme: str) -> str | None:
    """Return why ``spki`` is not a canonical SPKI for ``scheme``, or ``None`` if it is."""
    expected = SPKI_HEADERS.get(scheme)
    if expected is None:
        return f"unsupported key scheme {scheme!r}"
    header, length = expected
    if len(spki) != length or not spki.startswith(header):
        return f"spki is not a canonical DER SubjectPublicKeyInfo of an {scheme} key"
    return None


def key_object_error(obj: Any) -> str | None:
    """Check a ``{keyid, scheme, spki}`` object's key id and SPKI shape (no curve checks).

    Returns:
        ``None`` if consistent, else a one-line reason.
    """
    if not isinstance(obj, dict):
        return "key is not an object"
    spki_text, scheme, keyid = obj.get("spki"), obj.get("scheme"), obj.get("keyid")
    if not isinstance(spki_text, str) or not isinstance(scheme, str):
        return "key needs string spki and scheme"
    try:
        spki = base64.b64decode(spki_text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return "spki is not valid base64"
    if base64.b64encode(spki).decode("ascii") != spki_text:
        return "spki is not canonical base64"
    shape = spki_shape_error(spki, scheme)
    if shape is not None:
        return shape
    if hashlib.sha256(spki).hexdigest() != keyid:
        return "keyid does not match its spki (must be hex SHA-256 of the DER SPKI)"
    return None
