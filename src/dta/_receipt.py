"""Receipts: the recipient's countersigned verdict on a received transfer.

Rules this module enforces:

* A receipt names the manifest by id and digest (never by signature bytes), the agreement by id
  and digest, sender and recipient copied from the manifest, the receive time, and a decision:
  ``accepted`` exactly when there is no discrepancy, ``rejected`` otherwise.
* Discrepancies come from the tree check (missing, extra, modified, size, unsafe entries, each
  with its path) and from the agreement decision (one per reason, with its field).
* Only the manifest's recipient may create a receipt for it, and :func:`verify_receipt` accepts
  only signatures by keys the agreement registers for that recipient party.
* :func:`verify_receipt` returns the body parsed from the verified bytes after checking that it
  names exactly this manifest and agreement and that decision and discrepancies agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from dta._agreement_model import Agreement, digest_of
from dta._agreement_sign import registry
from dta._decision import Decision
from dta._policy_eval import format_time
from dta.errors import Error, ReceiptError, UsageError

__all__ = ["RECEIPT_TYPE", "create_receipt", "tree_discrepancies", "verify_receipt"]

RECEIPT_TYPE = "dta.receipt"


def _manifest_body(doc: Any) -> Mapping[str, Any]:
    inner = doc.get("signed") if isinstance(doc, Mapping) else None
    if not isinstance(inner, Mapping) or inner.get("_type") != "dta.manifest":
        raise ReceiptError("receipt: expected a signed dta.manifest document")
    return inner


def _entries(tree_check: Any) -> Iterable[Any]:
    if tree_check is None:
        return ()
    if isinstance(tree_check, Mapping):
        source: Any = tree_check
    elif hasattr(tree_check, "to_dict"):
        source = tree_check.to_dict()
    else:
        source = None
    for name in ("discrepancies", "problems", "issues", "entries"):
        value = source.get(name) if isinstance(source, Mapping) else getattr(tree_check, name, None)
        if value is not None:
            return list(value)
    if isinstance(tree_check, Iterable) and not isinstance(tree_check, str | bytes | Mapping):
        return list(tree_check)
    return ()


def _field(entry: Any, *names: str) -> Any:
    for name in names:
        value = entry.get(name) if isinstance(entry, Mapping) else getattr(entry, name, None)
        if value is not None:
            return value
    return None


def tree_discrepancies(tree_check: Any) -> list[dict[str, Any]]:
    """Turn a tree check (``dta.manifest.TreeCheck``, its dict, or a list of entries) into
    receipt discrepancies ``{"code": "tree-<kind>", "message", "path"}``.

    Entries are read by attribute or key: ``kind``/``code``/``reason`` for the kind, ``message``
    or ``reason`` for the text, ``path`` for the path. A failed check without entries gives one
    ``tree-check-failed`` discrepancy.
    """
    out: list[dict[str, Any]] = []
    for entry in _entries(tree_check):
        kind = str(_field(entry, "kind", "code", "reason") or "mismatch")
        code = kind if kind.startswith("tree-") else f"tree-{kind}"
        message = str(_field(entry, "message", "reason", "detail") or kind)
        item: dict[str, Any] = {"code": code, "message": message}
        path = _field(entry, "path")
        if isinstance(path, str) and path:
            item["path"] = path
        out.append(item)
    ok = _field(tree_check, "ok") if tree_check is not None else None
    if ok is False and not out:
        out.append({"code": "tree-check-failed", "message": "the received tree did not verify"})
    return out


def create_receipt(
    manifest_doc: Mapping[str, Any],
    tree_check: Any,
    decision: Decision | None,
    *,
    recipient: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Build the receipt body for a received manifest (sign it with ``dta.envelope.sign``).

    Args:
        manifest_doc: The signed manifest as received.
        tree_check: Result of ``dta.manifest.verify_tree`` (or None if not checked).
        decision: Result of :func:`dta.agreement.check_manifest` (or None if not checked).
        recipient: The party creating the receipt; must be the manifest's recipient.
        now: Receive time (default: now).

    Raises:
        ReceiptError: Not a manifest, or ``recipient`` is not its recipient.
        UsageError: ``now`` is naive.
    """
    claimed = _manifest_body(manifest_doc)
    verified = decision.manifest if decision is not None else None
    body: Mapping[str, Any] = verified if verified is not None else claimed
    if body.get("recipient") != recipient:
        raise ReceiptError(
            f"receipt: {recipient!r} is not the recipient of manifest {body.get('id')!r}"
        )
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise UsageError("now must be timezone-aware")
    discrepancies = tree_discrepancies(tree_check)
    if decision is not None:
        discrepancies += [r.to_dict() for r in decision.reasons]
    ref = body.get("agreement")
    agreement: Mapping[str, Any] = ref if isinstance(ref, Mapping) else {}
    try:
        manifest_digest = digest_of(body)
    except Error as exc:
        raise ReceiptError(f"receipt: manifest cannot be canonicalised: {exc}") from exc
    return {
        "_type": RECEIPT_TYPE,
        "spec_version": "1.0",
        "id": f"urn:uuid:{uuid.uuid4()}",
        "manifest": {"id": body.get("id"), "digest": manifest_digest},
        "agreement": {"id": agreement.get("id"), "digest": agreement.get("digest")},
        "sender": body.get("sender"),
        "recipient": recipient,
        "received": format_time(now),
        "decision": "rejected" if discrepancies else "accepted",
        "discrepancies": discrepancies,
    }


def verify_receipt(
    doc: Any,
    agreement: Agreement,
    manifest_doc: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Verify a signed receipt for a manifest under an agreement; return the verified body.

    Raises:
        SignatureError: Not signed by a key of the manifest's recipient party.
        ReceiptError: The receipt names another manifest or agreement, other parties, or its
            decision contradicts its discrepancies.
        UsageError: ``agreement`` is not an Agreement.
    """
    from dta import envelope, schemas

    if not isinstance(agreement, Agreement):
        raise UsageError("verify_receipt: agreement must be a dta.agreement.Agreement")
    manifest = _manifest_body(manifest_doc)
    recipient = manifest.get("recipient")
    if not isinstance(recipient, str) or agreement.party(recipient) is None:
        raise ReceiptError(f"receipt: manifest recipient {recipient!r} is not a party")
    body = envelope.verify(
        doc, registry(agreement, owners={recipient}), expected_type=RECEIPT_TYPE, now=now
    )
    try:
        schemas.validate(body)
    except Error as exc:
        raise ReceiptError(f"receipt: {exc}") from exc
    expected = {"id": manifest.get("id"), "digest": digest_of(manifest)}
    if body["manifest"] != expected:
        raise ReceiptError("receipt/manifest: names a different manifest (id or digest)")
    if body["agreement"] != {"id": agreement.id, "digest": agreement.digest}:
        raise ReceiptError("receipt/agreement: names a different agreement or version")
    for role in ("sender", "recipient"):
        if body[role] != manifest.get(role):
            raise ReceiptError(f"receipt/{role}: does not match the manifest")
    if (body["decision"] == "accepted") != (not body["discrepancies"]):
        raise ReceiptError("receipt/decision: contradicts its discrepancies")
    return body
