"""Reconciliation inputs: verify presented manifests and receipts under the agreement's keys.

Rules this module enforces: a manifest counts only if its signatures meet the agreement's
threshold for its level (keys of its sender party only), the members reconciliation reads have the
right types, and it is bound to this agreement (id and digest); a receipt only if signed by a key
of its recipient party, well-typed and naming this agreement. Anything else becomes an
``unverified-document`` discrepancy and is ignored. Key validity windows are checked at the
document's own time (``created`` / ``received``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from dta import envelope
from dta._agreement_model import Agreement, digest_of
from dta._agreement_sign import registry
from dta._policy_eval import parse_time
from dta._reconcile_model import Discrepancy
from dta.errors import AgreementError, Error, UsageError

__all__ = ["verified_manifests", "verified_receipts"]


def _time(value: Any, where: str) -> datetime | None:
    try:
        return parse_time(value, where)
    except AgreementError:
        return None


_DIGEST = re.compile(r"[0-9a-f]{64}\Z")
# member path -> required type, for the members reconciliation reads (full schema validation
# of every document would cost more than its signature check; these are all that is used).
_MANIFEST_SHAPE: tuple[tuple[tuple[str, ...], type], ...] = (
    (("id",), str),
    (("sender",), str),
    (("recipient",), str),
    (("created",), str),
    (("expires",), str),
    (("level",), str),
    (("categories",), list),
    (("subjects",), dict),
    (("totals", "files"), int),
    (("totals", "bytes"), int),
)
_RECEIPT_SHAPE: tuple[tuple[tuple[str, ...], type], ...] = (
    (("id",), str),
    (("sender",), str),
    (("recipient",), str),
    (("received",), str),
    (("decision",), str),
    (("discrepancies",), list),
    (("manifest", "id"), str),
    (("manifest", "digest", "sha256"), str),
)


def _shape(body: Mapping[str, Any], shape: Any, kind: str) -> None:
    for path, kind_type in shape:
        value: Any = body
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if not isinstance(value, kind_type) or isinstance(value, bool):
            raise UsageError(f"{kind}/{'/'.join(path)}: missing or not a {kind_type.__name__}")
    if kind == "receipt":
        if not _DIGEST.match(body["manifest"]["digest"]["sha256"]):
            raise UsageError("receipt/manifest/digest/sha256: not a lowercase SHA-256 hex digest")
        if body["decision"] not in ("accepted", "rejected"):
            raise UsageError("receipt/decision: not accepted or rejected")
        if not all(
            isinstance(d, Mapping) and isinstance(d.get("code"), str) for d in body["discrepancies"]
        ):
            raise UsageError("receipt/discrepancies: entries need a code")
    else:
        if not all(isinstance(c, str) for c in body["categories"]):
            raise UsageError("manifest/categories: not strings")
        if not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for v in body["subjects"].values()
        ):
            raise UsageError("manifest/subjects: counts must be integers >= 0")


def _registries(agreement: Agreement) -> dict[str, Any]:
    """One key registry per party (keys of that party only), built once."""
    return {p.id: registry(agreement, owners={p.id}) for p in agreement.parties}


def verified_manifests(
    agreement: Agreement, docs: Sequence[Any], out: list[Discrepancy]
) -> dict[str, tuple[Mapping[str, Any], Any]]:
    result: dict[str, tuple[Mapping[str, Any], Any]] = {}
    regs = _registries(agreement)
    for pos, doc in enumerate(docs):
        claimed = doc.get("signed") if isinstance(doc, Mapping) else None
        label = claimed.get("id") if isinstance(claimed, Mapping) else None
        try:
            if not isinstance(claimed, Mapping) or claimed.get("_type") != "dta.manifest":
                raise UsageError("not a signed dta.manifest")
            sender, level = claimed.get("sender"), claimed.get("level")
            if not isinstance(sender, str) or agreement.party(sender) is None:
                raise UsageError(f"sender {sender!r} is not a party")
            threshold = agreement.signatures_required.get(str(level), 1)
            when = _time(claimed.get("created"), "manifest/created")
            body = envelope.verify(
                doc,
                regs[sender],
                threshold=threshold,
                expected_type="dta.manifest",
                now=when,
            )
            _shape(body, _MANIFEST_SHAPE, "manifest")
            ref = body.get("agreement") or {}
            if ref.get("id") != agreement.id or ref.get("digest") != agreement.digest:
                raise UsageError("bound to another agreement or version")
            if _time(body.get("created"), "created") is None:
                raise UsageError("created is not an RFC 3339 time")
        except Error as exc:
            out.append(
                Discrepancy("unverified-document", f"manifest #{pos}: {exc}", label or None, None)
            )
            continue
        result[digest_of(body)["sha256"]] = (body, doc)
    return result


def verified_receipts(
    agreement: Agreement, docs: Sequence[Any], out: list[Discrepancy]
) -> list[Mapping[str, Any]]:
    result: list[Mapping[str, Any]] = []
    regs = _registries(agreement)
    for pos, doc in enumerate(docs):
        claimed = doc.get("signed") if isinstance(doc, Mapping) else None
        try:
            if not isinstance(claimed, Mapping) or claimed.get("_type") != "dta.receipt":
                raise UsageError("not a signed dta.receipt")
            recipient = claimed.get("recipient")
            if not isinstance(recipient, str) or agreement.party(recipient) is None:
                raise UsageError(f"recipient {recipient!r} is not a party")
            when = _time(claimed.get("received"), "receipt/received")
            body = envelope.verify(
                doc,
                regs[recipient],
                expected_type="dta.receipt",
                now=when,
            )
            _shape(body, _RECEIPT_SHAPE, "receipt")
            if body.get("agreement") != {"id": agreement.id, "digest": agreement.digest}:
                raise UsageError("names another agreement or version")
            if when is None:
                raise UsageError("received is not an RFC 3339 time")
        except Error as exc:
            out.append(Discrepancy("unverified-document", f"receipt #{pos}: {exc}"))
            continue
        result.append(body)
    return result
