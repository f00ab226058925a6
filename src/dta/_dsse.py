"""DSSE v1 envelopes: export, import and generic verification (part of :mod:`dta.envelope`).

A DSSE envelope is ``{"payload": base64, "payloadType": str, "signatures": [{"keyid"?, "sig"}]}``.

Rules this module enforces:

* Export: ``payload = base64(canonical_bytes(signed))``, ``payloadType`` from ``_type``; the dta
  signatures carry over unchanged (they already are DSSE signatures over the same PAE).
* Import: the envelope has exactly those three members, each signature exactly ``keyid`` and
  ``sig``; the payload must be strict JSON *and* byte-identical to its canonical form (so the
  signed bytes and the imported document cannot differ); ``payloadType`` must match ``_type``.
* Raw ``r||s`` ECDSA signatures (the DSSE spec example's encoding) are converted to DER on import
  only when the registry says the key is an ECDSA key; generic DSSE verification accepts both.
* Generic verification (:func:`verify_dsse`) follows the same trust rules as dta documents: keys
  from the registry only, distinct keys counted, validity windows checked, one opaque error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

from dta._envelope import parse
from dta._json import canonical_bytes, loads
from dta._keys import ECDSA_P256, b64decode_strict, b64encode, raw_ecdsa_to_der
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
    CanonicalError,
    JSONError,
    KeyMaterialError,
    SchemaError,
    SignatureError,
    UsageError,
)

__all__ = ["from_dsse", "to_dsse", "verify_dsse", "verify_dsse_result"]

_MEMBERS = frozenset({"payload", "payloadType", "signatures"})
_MAX_PAYLOAD = 64 * 1024 * 1024


def to_dsse(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Export a dta signed document as a DSSE v1 envelope (nothing is verified).

    Raises:
        SchemaError: The document is malformed.
        CanonicalError: ``signed`` cannot be canonicalised.
    """
    signed, pairs = parse(doc)
    return {
        "payload": b64encode(canonical_bytes(signed)),
        "payloadType": payload_type(signed["_type"]),
        "signatures": [{"keyid": keyid, "sig": b64encode(sig)} for keyid, sig in pairs],
    }


def _parse_dsse(env: Any, *, need_keyid: bool) -> tuple[str, bytes, list[tuple[str | None, bytes]]]:
    if not isinstance(env, Mapping):
        raise SchemaError("DSSE envelope must be a JSON object", pointer="")
    extra = sorted(set(env) - _MEMBERS)
    if extra:
        raise SchemaError(f"unknown DSSE envelope member {extra[0]!r}", pointer=f"/{extra[0]}")
    ptype = env.get("payloadType")
    if not isinstance(ptype, str) or not ptype or len(ptype) > 1024:
        raise SchemaError("payloadType must be a non-empty string", pointer="/payloadType")
    try:
        payload = b64decode_strict(env.get("payload"), "payload")
    except KeyMaterialError as exc:
        raise SchemaError(str(exc), pointer="/payload") from exc
    if len(payload) > _MAX_PAYLOAD:
        raise SchemaError("payload too large", pointer="/payload")
    raw = env.get("signatures")
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_SIGNATURES:
        raise SchemaError(
            f"signatures must be a list of 1 to {MAX_SIGNATURES} entries", pointer="/signatures"
        )
    pairs: list[tuple[str | None, bytes]] = []
    for index, entry in enumerate(raw):
        where = f"/signatures/{index}"
        allowed = {"keyid", "sig"}
        if not isinstance(entry, Mapping) or not set(entry) <= allowed or "sig" not in entry:
            raise SchemaError("signature must have sig and optionally keyid", pointer=where)
        keyid = entry.get("keyid")
        if keyid == "" and not need_keyid:
            keyid = None
        if (keyid is None and need_keyid) or (keyid is not None and not isinstance(keyid, str)):
            raise SchemaError("signature keyid must be a string", pointer=f"{where}/keyid")
        try:
            sig = b64decode_strict(entry["sig"], "sig")
        except KeyMaterialError as exc:
            raise SchemaError(str(exc), pointer=f"{where}/sig") from exc
        pairs.append((keyid, sig))
    return ptype, payload, pairs


def from_dsse(env: Mapping[str, Any], *, registry: KeyRegistry | None = None) -> dict[str, Any]:
    """Import a DSSE envelope carrying a dta document as a dta signed document.

    Nothing is verified (use :func:`dta.envelope.verify` on the result).

    Args:
        env: The parsed DSSE envelope.
        registry: If given, 64-byte raw ``r||s`` signatures by registered ECDSA keys are
            converted to DER.

    Raises:
        SchemaError: Malformed envelope, missing key ids, or payloadType not matching ``_type``.
        JSONError: The payload is not strict JSON.
        CanonicalError: The payload bytes are not canonical (RFC 8785).
    """
    ptype, payload, pairs = _parse_dsse(env, need_keyid=True)
    try:
        signed = loads(payload)
    except JSONError as exc:
        raise JSONError(f"DSSE payload is not strict JSON: {exc}") from exc
    if canonical_bytes(signed) != payload:
        raise CanonicalError("DSSE payload bytes are not canonical JSON (RFC 8785)")
    if not isinstance(signed, dict):
        raise SchemaError("DSSE payload is not a JSON object", pointer="/payload")
    expected = payload_type(signed.get("_type", ""))
    if ptype != expected:
        raise SchemaError(f"payloadType {ptype!r} does not match _type", pointer="/payloadType")
    signatures = []
    for keyid, sig in pairs:
        entry = registry.get(keyid) if registry is not None and keyid is not None else None
        if entry is not None and entry.key.scheme == ECDSA_P256 and len(sig) == 64:
            signatures.append({"keyid": keyid, "sig": b64encode(raw_ecdsa_to_der(sig))})
        else:
            signatures.append({"keyid": keyid, "sig": b64encode(sig)})
    doc = {"signed": signed, "signatures": signatures}
    parse(doc)  # the imported document must be a well-formed dta document
    return doc


def verify_dsse_result(
    env: Any,
    registry: KeyRegistry,
    *,
    threshold: int = 1,
    required_owners: Collection[str] | None = None,
    expected_payload_type: str | None = None,
    now: dt.datetime | None = None,
) -> VerifyResult:
    """Verify any DSSE envelope against the registry and return the detail.

    ``signed`` of the result is the verified payload *bytes* when ok. ECDSA signatures may be
    DER or raw ``r||s``; a missing key id means every registry key is tried.

    Raises:
        UsageError: Invalid ``threshold``, naive ``now`` or a registry of the wrong type.
    """
    threshold = check_threshold(threshold)
    when = resolve_now(now)
    if not isinstance(registry, KeyRegistry):
        raise UsageError("registry must be a dta.keys.KeyRegistry")
    try:
        ptype, payload, pairs = _parse_dsse(env, need_keyid=False)
    except SchemaError as exc:
        return VerifyResult(False, "malformed-document", str(exc), threshold=threshold)
    if expected_payload_type is not None and ptype != expected_payload_type:
        return VerifyResult(
            False,
            "type-mismatch",
            f"payloadType is not {expected_payload_type}",
            threshold=threshold,
        )
    checks, valid = check_signatures(pae(ptype, payload), pairs, registry, now=when, raw_ecdsa=True)
    reason, message, owners, missing = verdict(
        checks, valid, registry, threshold=threshold, required_owners=required_owners
    )
    return final_result(
        reason=reason,
        message=message,
        doc_type=None,
        ptype=ptype,
        body=payload,
        threshold=threshold,
        checks=checks,
        valid=valid,
        owners=owners,
        missing=missing,
        signed=payload if reason is None else None,
    )


def verify_dsse(
    env: Any,
    registry: KeyRegistry,
    *,
    threshold: int = 1,
    required_owners: Collection[str] | None = None,
    expected_payload_type: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[str, bytes]:
    """Verify any DSSE envelope; return ``(payloadType, payload bytes)`` that were verified.

    Raises:
        SignatureError: It did not verify (opaque; see :func:`verify_dsse_result`).
        UsageError: Invalid ``threshold``, naive ``now`` or a registry of the wrong type.
    """
    result = verify_dsse_result(
        env,
        registry,
        threshold=threshold,
        required_owners=required_owners,
        expected_payload_type=expected_payload_type,
        now=now,
    )
    if not result.ok or not isinstance(result.signed, bytes) or result.payload_type is None:
        raise SignatureError(OPAQUE_MESSAGE)
    return result.payload_type, result.signed
