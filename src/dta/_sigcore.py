"""DSSE pre-authentication encoding and registry-based signature counting.

Shared by :mod:`dta.envelope` (dta signed documents) and DSSE import/verification.

Rules this module enforces:

* What is signed is ``PAE(payloadType, body)`` exactly as DSSE v1 defines it:
  ``"DSSEv1" SP len(type) SP type SP len(body) SP body`` with decimal byte lengths.
* dta payload types are ``application/vnd.dta.<kind>+json`` for ``_type`` ``dta.<kind>``.
* Trust comes only from the registry: a signature's key id selects a registry entry, and that
  entry's key and scheme decide. Unknown key ids never verify; keys outside their validity window
  never verify.
* Thresholds and required owners count *distinct keys* with a valid signature; a second signature
  by an already-counted key is reported as ``duplicate-key`` and not counted.
* At most :data:`MAX_SIGNATURES` signatures are examined; more makes the document invalid.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Collection, Sequence
from typing import Any

import attrs

from dta._keys import ECDSA_P256, raw_ecdsa_to_der
from dta._registry import KeyRegistry, RegistryEntry
from dta.errors import KeyMaterialError, SchemaError, UsageError

__all__ = [
    "MAX_SIGNATURES",
    "OPAQUE_MESSAGE",
    "SignatureCheck",
    "VerifyResult",
    "check_signatures",
    "check_threshold",
    "final_result",
    "pae",
    "payload_type",
    "resolve_now",
    "verdict",
]

MAX_SIGNATURES = 64
OPAQUE_MESSAGE = "signature verification failed"
_KIND = re.compile(r"dta\.([a-z0-9][a-z0-9-]{0,62})")


def payload_type(doc_type: str) -> str:
    """Return the DSSE payload type for a dta ``_type``: ``application/vnd.dta.<kind>+json``.

    Raises:
        SchemaError: ``doc_type`` is not ``dta.<kind>``.
    """
    match = _KIND.fullmatch(doc_type) if isinstance(doc_type, str) else None
    if match is None:
        raise SchemaError("document has no valid dta _type", pointer="/signed/_type")
    return f"application/vnd.dta.{match.group(1)}+json"


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding of ``body`` under ``payload_type``.

    Raises:
        UsageError: ``payload_type`` is not a string or ``body`` is not bytes.
    """
    if not isinstance(payload_type, str) or not isinstance(body, bytes | bytearray):
        raise UsageError("pae needs a str payload type and bytes body")
    ptype = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(ptype), ptype, len(body), bytes(body))


@attrs.frozen
class SignatureCheck:
    """Outcome for one signature.

    Attributes:
        index: Position in the ``signatures`` list.
        keyid: The key id hint given with the signature (``None`` if absent).
        status: ``valid``, ``unknown-key``, ``bad-signature``, ``expired``, ``not-yet-valid`` or
            ``duplicate-key``.
        owner: Owner of the registry key that was tried, if any.
    """

    index: int
    keyid: str | None
    status: str
    owner: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "index": self.index,
            "keyid": self.keyid,
            "status": self.status,
            "owner": self.owner,
        }


@attrs.frozen
class VerifyResult:
    """Detail of a verification, for display. ``ok`` is the only verdict.

    Attributes:
        ok: Whether the document verified.
        reason: ``None`` when ok, else a short code (``unknown-member``, ``unknown-type``,
            ``unsupported-version``, ``type-mismatch``, ``malformed-document``,
            ``malformed-signature``, ``non-canonical``, ``too-many-signatures``,
            ``threshold-not-met``, ``missing-owner``).
        message: One human-readable line explaining ``reason``.
        doc_type: The document's ``_type`` if it could be read.
        payload_type: The DSSE payload type that was verified.
        digest: ``{"sha256": hex}`` of the verified canonical bytes (``None`` before hashing).
        threshold: Distinct keys required.
        valid_keyids: Distinct keys with a valid signature, in signature order.
        owners: Owners of those keys (sorted).
        missing_owners: Required owners without a valid signature (sorted).
        signatures: Per-signature outcomes.
        signed: The verified ``signed`` object parsed from the verified bytes (only when ok).
    """

    ok: bool
    reason: str | None
    message: str
    doc_type: str | None = None
    payload_type: str | None = None
    digest: dict[str, str] | None = None
    threshold: int = 1
    valid_keyids: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    missing_owners: tuple[str, ...] = ()
    signatures: tuple[SignatureCheck, ...] = ()
    signed: Any = attrs.field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Return a stable JSON-ready dict (without the signed body)."""
        return {
            "ok": self.ok,
            "reason": self.reason,
            "message": self.message,
            "type": self.doc_type,
            "payload_type": self.payload_type,
            "digest": self.digest,
            "threshold": self.threshold,
            "valid_keyids": list(self.valid_keyids),
            "owners": list(self.owners),
            "missing_owners": list(self.missing_owners),
            "signatures": [s.to_dict() for s in self.signatures],
        }


def check_threshold(threshold: Any) -> int:
    """Return a valid threshold.

    Raises:
        UsageError: Not an integer >= 1.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise UsageError("threshold must be an integer >= 1")
    return threshold


def resolve_now(now: dt.datetime | None) -> dt.datetime:
    """Return ``now`` or the current UTC time.

    Raises:
        UsageError: ``now`` is naive.
    """
    if now is None:
        return dt.datetime.now(dt.UTC)
    if not isinstance(now, dt.datetime) or now.utcoffset() is None:
        raise UsageError("now must be a timezone-aware datetime")
    return now


def _verify_one(entry: RegistryEntry, sig: bytes, message: bytes, *, raw_ecdsa: bool) -> bool:
    if entry.key.verify(sig, message):
        return True
    if raw_ecdsa and entry.key.scheme == ECDSA_P256 and len(sig) == 64:
        try:
            return entry.key.verify(raw_ecdsa_to_der(sig), message)
        except KeyMaterialError:
            return False
    return False


def check_signatures(
    message: bytes,
    signatures: Sequence[tuple[str | None, bytes]],
    registry: KeyRegistry,
    *,
    now: dt.datetime,
    raw_ecdsa: bool = False,
) -> tuple[list[SignatureCheck], list[str]]:
    """Check each ``(keyid hint, signature)`` over ``message`` against the registry.

    A ``None`` key id (allowed by DSSE) is tried against every registry key valid at ``now``
    that has not been counted yet.

    Returns:
        Per-signature checks and the distinct valid key ids in order.
    """
    checks: list[SignatureCheck] = []
    valid: list[str] = []
    for index, (hint, sig) in enumerate(signatures):
        if hint is None:
            status, owner = "unknown-key", None
            for entry in registry:
                if entry.key.keyid in valid or entry.status_at(now) is not None:
                    continue
                if _verify_one(entry, sig, message, raw_ecdsa=raw_ecdsa):
                    valid.append(entry.key.keyid)
                    status, owner = "valid", entry.owner
                    break
            checks.append(SignatureCheck(index, None, status, owner))
            continue
        found = registry.get(hint)
        if found is None:
            checks.append(SignatureCheck(index, hint, "unknown-key"))
            continue
        window = found.status_at(now)
        if window is not None:
            checks.append(SignatureCheck(index, hint, window, found.owner))
        elif found.key.keyid in valid:
            checks.append(SignatureCheck(index, hint, "duplicate-key", found.owner))
        elif _verify_one(found, sig, message, raw_ecdsa=raw_ecdsa):
            valid.append(found.key.keyid)
            checks.append(SignatureCheck(index, hint, "valid", found.owner))
        else:
            checks.append(SignatureCheck(index, hint, "bad-signature", found.owner))
    return checks, valid


def verdict(
    checks: list[SignatureCheck],
    valid: list[str],
    registry: KeyRegistry,
    *,
    threshold: int,
    required_owners: Collection[str] | None,
) -> tuple[str | None, str, tuple[str, ...], tuple[str, ...]]:
    """Decide from the checks: (reason, message, owners, missing owners)."""
    owners = tuple(sorted({e.owner for k in valid if (e := registry.get(k)) is not None}))
    missing = tuple(sorted(set(required_owners or ()) - set(owners)))
    if len(valid) < threshold:
        bad = sorted({c.status for c in checks if c.status != "valid"})
        detail = f" ({', '.join(bad)})" if bad else ""
        return (
            "threshold-not-met",
            f"{len(valid)} of {threshold} required distinct valid signatures{detail}",
            owners,
            missing,
        )
    if missing:
        return "missing-owner", f"no valid signature by {', '.join(missing)}", owners, missing
    return None, f"verified by {len(valid)} distinct key(s)", owners, missing


def final_result(
    *,
    reason: str | None,
    message: str,
    doc_type: str | None,
    ptype: str,
    body: bytes,
    threshold: int,
    checks: list[SignatureCheck],
    valid: list[str],
    owners: tuple[str, ...],
    missing: tuple[str, ...],
    signed: Any,
) -> VerifyResult:
    """Build the result of a completed signature check (shared by dta and DSSE envelopes)."""
    return VerifyResult(
        ok=reason is None,
        reason=reason,
        message=message,
        doc_type=doc_type,
        payload_type=ptype,
        digest={"sha256": hashlib.sha256(body).hexdigest()},
        threshold=threshold,
        valid_keyids=tuple(valid),
        owners=owners,
        missing_owners=missing,
        signatures=tuple(checks),
        signed=signed,
    )
