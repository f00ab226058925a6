"""Signed documents: sign, verify, digest (implementation of :mod:`dta.envelope`).

A signed document is ``{"signed": {..., "_type": "dta.<kind>", "spec_version": "M.m"},
"signatures": [{"keyid": hex, "sig": base64}]}``.

Rules this module enforces:

* Checked before anything else: the document has exactly the members ``signed`` and
  ``signatures`` (signature wrapping), and ``signed._type`` / the major of ``spec_version`` name a
  packaged schema. Each signature entry has exactly ``keyid`` (64 lowercase hex) and ``sig``
  (canonical base64).
* Signatures are over ``PAE("application/vnd.dta.<kind>+json", canonical_bytes(signed))``.
* :func:`verify` returns the ``signed`` object parsed from the very bytes that were verified, or
  raises :class:`~dta.errors.SignatureError` with one opaque message; :func:`verify_result` gives
  the detail. Thresholds and required owners count distinct registry keys; key ids are hints.
* :func:`sign` never mutates its inputs, refuses a second signature by the same key, refuses bodies
  that would not verify (floats, non-JSON values), and checks the new signature before returning.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Collection, Mapping
from typing import Any

from dta._json import canonical_bytes, loads
from dta._keys import Signer, b64decode_strict, b64encode
from dta._registry import KeyRegistry
from dta._sigcore import (
    MAX_SIGNATURES,
    OPAQUE_MESSAGE,
    VerifyResult,
    check_signatures,
    check_threshold,
    final_result,
    pae,
    payload_type,
    resolve_now,
    verdict,
)
from dta.errors import (
    Error,
    JSONError,
    KeyMaterialError,
    SchemaError,
    SignatureError,
    UsageError,
)
from dta.schemas import schema_for_type

__all__ = [
    "add_signature",
    "check_type",
    "digest",
    "parse",
    "sign",
    "verify",
    "verify_result",
]

_KEYID = re.compile(r"[0-9a-f]{64}")
_MEMBERS = frozenset({"signed", "signatures"})
_SIG_MEMBERS = frozenset({"keyid", "sig"})


class _Malformed(SchemaError):
    """Internal: a structural problem, with the short reason code used by VerifyResult."""

    def __init__(self, reason: str, message: str, pointer: str) -> None:
        super().__init__(message, pointer=pointer)
        self.reason = reason


def check_type(signed: Any, pointer: str = "/signed") -> str:
    """Check ``_type`` / ``spec_version`` of a signed body; return its ``_type``.

    Raises:
        SchemaError: Not an object, or unknown type or major version.
    """
    if not isinstance(signed, Mapping):
        raise _Malformed("malformed-document", "signed must be a JSON object", pointer)
    try:
        schema_for_type(signed.get("_type"), signed.get("spec_version"), pointer=pointer)
    except SchemaError as exc:
        reason = "unsupported-version" if "spec_version" in str(exc) else "unknown-type"
        raise _Malformed(reason, str(exc).split(" (at ")[0], exc.pointer or pointer) from exc
    doc_type: str = signed["_type"]
    return doc_type


def parse(doc: Any) -> tuple[Mapping[str, Any], list[tuple[str, bytes]]]:
    """Check a signed document's structure; return ``signed`` and ``(keyid, sig bytes)`` pairs.

    Nothing is verified; this is the structural gate :func:`verify` applies first.

    Raises:
        SchemaError: Unknown members, unknown type/version, malformed signature entries (the
            message carries the JSON pointer).
    """
    if not isinstance(doc, Mapping):
        raise _Malformed("malformed-document", "signed document must be a JSON object", "")
    extra = sorted(set(doc) - _MEMBERS)
    if extra:
        raise _Malformed("unknown-member", f"unknown envelope member {extra[0]!r}", f"/{extra[0]}")
    if "signed" not in doc:
        raise _Malformed("malformed-document", "missing member 'signed'", "/signed")
    signed = doc["signed"]
    check_type(signed)
    raw = doc.get("signatures")
    if not isinstance(raw, list):
        raise _Malformed("malformed-signature", "signatures must be a list", "/signatures")
    if len(raw) > MAX_SIGNATURES:
        raise _Malformed(
            "too-many-signatures", f"more than {MAX_SIGNATURES} signatures", "/signatures"
        )
    pairs: list[tuple[str, bytes]] = []
    for index, entry in enumerate(raw):
        where = f"/signatures/{index}"
        if not isinstance(entry, Mapping) or set(entry) != _SIG_MEMBERS:
            raise _Malformed(
                "malformed-signature", "signature must have exactly keyid and sig", where
            )
        keyid = entry["keyid"]
        if not isinstance(keyid, str) or not _KEYID.fullmatch(keyid):
            raise _Malformed(
                "malformed-signature", "keyid must be 64 lowercase hex", f"{where}/keyid"
            )
        try:
            sig = b64decode_strict(entry["sig"], "sig")
        except KeyMaterialError as exc:
            raise _Malformed("malformed-signature", str(exc), f"{where}/sig") from exc
        if not 0 < len(sig) <= 512:
            raise _Malformed("malformed-signature", "sig has an impossible length", f"{where}/sig")
        pairs.append((keyid, sig))
    return signed, pairs


def _body(signed: Mapping[str, Any]) -> bytes:
    try:
        return canonical_bytes(signed)
    except JSONError as exc:
        raise _Malformed(
            "non-canonical", f"signed cannot be canonicalised: {exc}", "/signed"
        ) from exc


def digest(signed: Mapping[str, Any]) -> dict[str, str]:
    """Return ``{"sha256": hex}`` of ``canonical_bytes(signed)`` (the document's identity).

    Raises:
        CanonicalError: ``signed`` cannot be canonicalised.
    """
    return {"sha256": hashlib.sha256(canonical_bytes(signed)).hexdigest()}


def sign(
    signed: Mapping[str, Any],
    signer: Signer,
    *,
    envelope: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Sign a body, returning a new signed document.

    Args:
        signed: The body (``_type`` ``dta.<kind>``, ``spec_version``).
        signer: A :class:`dta.keys.Signer`.
        envelope: An existing signed document of the same body to add this signature to.

    Returns:
        A new ``{"signed", "signatures"}`` dict; the inputs are not modified.

    Raises:
        SchemaError: Unknown type/version, or a malformed ``envelope``.
        JSONError: The body is not strict JSON (floats, huge integers, non-JSON values).
        UsageError: ``envelope`` holds a different body, or already has this key's signature.
        KeyMaterialError: The signer returned a signature that does not verify.
    """
    doc_type = check_type(signed)
    body = canonical_bytes(signed)
    fresh = loads(body)  # also proves the body will parse again at verification
    existing: list[dict[str, str]] = []
    if envelope is not None:
        old_signed, pairs = parse(envelope)
        if canonical_bytes(old_signed) != body:
            raise UsageError("envelope holds a different signed body")
        existing = [{"keyid": k, "sig": b64encode(s)} for k, s in pairs]
    key = signer.public_key
    if any(entry["keyid"] == key.keyid for entry in existing):
        raise UsageError(f"document already has a signature by key {key.keyid[:16]}...")
    message = pae(payload_type(doc_type), body)
    sig = signer.sign(message)
    if not isinstance(sig, bytes) or not key.verify(sig, message):
        raise KeyMaterialError(f"signer {key.keyid[:16]}... produced an invalid signature")
    return {"signed": fresh, "signatures": [*existing, {"keyid": key.keyid, "sig": b64encode(sig)}]}


def add_signature(doc: Mapping[str, Any], signer: Signer) -> dict[str, Any]:
    """Return ``doc`` with one more signature (see :func:`sign`).

    Raises:
        SchemaError: ``doc`` is malformed.
        UsageError: ``doc`` already has a signature by this key.
        KeyMaterialError: The signer returned a signature that does not verify.
    """
    signed, _ = parse(doc)
    return sign(signed, signer, envelope=doc)


def verify_result(
    doc: Any,
    registry: KeyRegistry,
    *,
    threshold: int = 1,
    required_owners: Collection[str] | None = None,
    expected_type: str | None = None,
    now: dt.datetime | None = None,
) -> VerifyResult:
    """Verify a signed document and return the detail (never raises on a bad document).

    Args:
        doc: The parsed signed document.
        registry: Trusted keys; the only source of trust.
        threshold: Distinct valid keys required.
        required_owners: Owners that must each have at least one valid signature.
        expected_type: Required ``_type`` of the body, if any.
        now: Time for key validity windows (default: current UTC time).

    Raises:
        UsageError: Invalid ``threshold``, naive ``now`` or a registry of the wrong type.
    """
    threshold = check_threshold(threshold)
    when = resolve_now(now)
    if not isinstance(registry, KeyRegistry):
        raise UsageError("registry must be a dta.keys.KeyRegistry")
    try:
        signed, pairs = parse(doc)
        body = _body(signed)
    except _Malformed as exc:
        return VerifyResult(False, exc.reason, str(exc), threshold=threshold)
    doc_type: str = signed["_type"]
    if expected_type is not None and doc_type != expected_type:
        message = f"expected {expected_type}, got {doc_type}"
        return VerifyResult(False, "type-mismatch", message, doc_type=doc_type, threshold=threshold)
    ptype = payload_type(doc_type)
    checks, valid = check_signatures(pae(ptype, body), pairs, registry, now=when)
    reason, message, owners, missing = verdict(
        checks, valid, registry, threshold=threshold, required_owners=required_owners
    )
    verified = None
    if reason is None:
        try:
            verified = loads(body)
        except Error:
            reason, message = "non-canonical", "signed body does not parse strictly"
    return final_result(
        reason=reason,
        message=message,
        doc_type=doc_type,
        ptype=ptype,
        body=body,
        threshold=threshold,
        checks=checks,
        valid=valid,
        owners=owners,
        missing=missing,
        signed=verified,
    )


def verify(
    doc: Any,
    registry: KeyRegistry,
    *,
    threshold: int = 1,
    required_owners: Collection[str] | None = None,
    expected_type: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Verify a signed document; return its ``signed`` object parsed from the verified bytes.

    Args:
        doc: The parsed signed document.
        registry: Trusted keys; the only source of trust.
        threshold: Distinct valid keys required.
        required_owners: Owners that must each have at least one valid signature.
        expected_type: Required ``_type`` of the body, if any.
        now: Time for key validity windows (default: current UTC time).

    Raises:
        SignatureError: The document did not verify (one opaque message; see
            :func:`verify_result` for why).
        UsageError: Invalid ``threshold``, naive ``now`` or a registry of the wrong type.
    """
    result = verify_result(
        doc,
        registry,
        threshold=threshold,
        required_owners=required_owners,
        expected_type=expected_type,
        now=now,
    )
    if not result.ok or not isinstance(result.signed, dict):
        raise SignatureError(OPAQUE_MESSAGE)
    return result.signed
