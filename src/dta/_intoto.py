"""in-toto attestations: a manifest or a receipt as an in-toto Statement v1 in a DSSE envelope.

Rules this module enforces:

* A manifest Statement has one subject per item (``name`` = the item's safe relative path,
  ``digest`` = its DigestSet), ``predicateType`` :data:`MANIFEST_PREDICATE` and a predicate that
  holds everything else (the manifest body without the per-item digests, plus the manifest's own
  digest), so nothing of the manifest is lost and no item is named twice.
* A receipt Statement has exactly one subject: the manifest (``name`` = manifest id, ``digest`` =
  manifest digest); ``predicateType`` :data:`RECEIPT_PREDICATE`; the predicate is the receipt body.
* Statements are serialised with ``canonical_bytes`` and signed over DSSE
  ``PAE("application/vnd.in-toto+json", payload)``, so standard DSSE/in-toto tooling verifies them.
* :func:`verify_statement` returns the Statement parsed from the verified payload bytes only.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from dta._agreement_model import digest_of
from dta._json import canonical_bytes, loads
from dta.errors import Error, KeyMaterialError, ReceiptError

__all__ = [
    "MANIFEST_PREDICATE",
    "PAYLOAD_TYPE",
    "RECEIPT_PREDICATE",
    "STATEMENT_TYPE",
    "export_dsse",
    "manifest_statement",
    "receipt_statement",
    "verify_statement",
]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
MANIFEST_PREDICATE = "https://dta.dev/manifest/v1"
RECEIPT_PREDICATE = "https://dta.dev/receipt/v1"


def _body(doc: Any, kind: str) -> Mapping[str, Any]:
    inner = doc.get("signed") if isinstance(doc, Mapping) and "signed" in doc else doc
    if not isinstance(inner, Mapping) or inner.get("_type") != f"dta.{kind}":
        raise ReceiptError(f"in-toto export: expected a dta.{kind} document")
    return inner


def manifest_statement(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Return the in-toto Statement v1 of a manifest (signed document or body).

    Raises:
        ReceiptError: Not a manifest, or an item without a path or sha256 digest.
    """
    body = _body(doc, "manifest")
    subjects = []
    items = []
    items_raw = body.get("items", [])
    for i, item in enumerate(items_raw if isinstance(items_raw, list) else []):
        digest = item.get("digest") if isinstance(item, Mapping) else None
        if (
            not isinstance(item, Mapping)
            or not isinstance(item.get("path"), str)
            or not isinstance(digest, Mapping)
            or not isinstance(digest.get("sha256"), str)
        ):
            raise ReceiptError(f"in-toto export: items/{i} has no path and sha256 digest")
        subjects.append({"name": item["path"], "digest": dict(digest)})
        items.append({k: v for k, v in item.items() if k != "digest"})
    predicate = loads(canonical_bytes({k: v for k, v in body.items() if k != "items"}))
    predicate["items"] = loads(canonical_bytes(items))
    predicate["manifest_digest"] = digest_of(body)
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": MANIFEST_PREDICATE,
        "predicate": predicate,
    }


def receipt_statement(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Return the in-toto Statement v1 of a receipt; its subject is the manifest it names.

    Raises:
        ReceiptError: Not a receipt, or its manifest reference is malformed.
    """
    body = _body(doc, "receipt")
    manifest = body.get("manifest")
    if (
        not isinstance(manifest, Mapping)
        or not isinstance(manifest.get("id"), str)
        or not isinstance(manifest.get("digest"), Mapping)
    ):
        raise ReceiptError("in-toto export: receipt has no manifest id and digest")
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": manifest["id"], "digest": dict(manifest["digest"])}],
        "predicateType": RECEIPT_PREDICATE,
        "predicate": loads(canonical_bytes(body)),
    }


def export_dsse(statement: Mapping[str, Any], signer: Any) -> dict[str, Any]:
    """Sign a Statement into a DSSE envelope ``{payloadType, payload, signatures}``.

    Args:
        statement: An in-toto Statement v1.
        signer: A ``dta.keys.Signer``.

    Raises:
        ReceiptError: ``statement`` is not an in-toto Statement v1.
        KeyMaterialError: The signer produced a signature that does not verify.
    """
    from dta.envelope import pae

    _check_statement(statement)
    payload = canonical_bytes(statement)
    message = pae(PAYLOAD_TYPE, payload)
    sig = signer.sign(message)
    if not signer.public_key.verify(sig, message):
        raise KeyMaterialError("signer produced an invalid signature")
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [
            {"keyid": signer.public_key.keyid, "sig": base64.b64encode(sig).decode("ascii")}
        ],
    }


def verify_statement(env: Any, registry: Any, *, threshold: int = 1, now: Any = None) -> Any:
    """Verify a DSSE envelope carrying an in-toto Statement; return the verified Statement.

    Raises:
        SignatureError: The envelope does not verify with ``registry`` to ``threshold``.
        ReceiptError: The verified payload is not an in-toto Statement v1.
    """
    from dta.envelope import verify_dsse

    _, payload = verify_dsse(
        env, registry, threshold=threshold, expected_payload_type=PAYLOAD_TYPE, now=now
    )
    try:
        statement = loads(payload)
    except Error as exc:
        raise ReceiptError(f"in-toto statement payload is not strict JSON: {exc}") from exc
    _check_statement(statement)
    return statement


def _check_statement(statement: Any) -> None:
    if not isinstance(statement, Mapping) or statement.get("_type") != STATEMENT_TYPE:
        raise ReceiptError(f"not an in-toto Statement ({STATEMENT_TYPE})")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise ReceiptError("in-toto Statement needs at least one subject")
    for i, subject in enumerate(subjects):
        if (
            not isinstance(subject, Mapping)
            or not isinstance(subject.get("name"), str)
            or not isinstance(subject.get("digest"), Mapping)
            or not subject["digest"]
        ):
            raise ReceiptError(f"in-toto Statement subject/{i} needs name and digest")
    if not isinstance(statement.get("predicateType"), str):
        raise ReceiptError("in-toto Statement needs a predicateType")
