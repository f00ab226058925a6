"""Compliance: cross-party reconciliation and a signed, schema'd compliance report.

Rules this module enforces (details in :mod:`dta._reconcile` and :mod:`dta._history`):

* :func:`reconcile` verifies the agreement, recomputes both parties' logs against their signed
  checkpoints, verifies cosignatures, manifests and receipts with the agreement's keys, and
  matches every sent manifest to a received record and a receipt with the same digest. Only
  verified records are used; everything else is a listed discrepancy.
* :func:`build_report` turns a reconciliation into a ``dta.compliance-report`` body (evidence
  levels, checks 0-10 or inconclusive, Beta reputation next to the failing checks, hard gates
  reported separately and deciding the verdict on their own); :func:`sign_report` signs it with
  the auditor's key via :func:`dta.envelope.sign` after validating it against its schema;
  :func:`verify_report` checks it against the auditor key the reader trusts.
* :func:`render_html` makes one self-contained HTML page (inline CSS and SVG, no scripts, every
  text escaped) from a signed or unsigned report.
* ``now`` is always passed in.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from dta import envelope, schemas
from dta._history import CHECKS, LEVELS, evaluate
from dta._policy_eval import format_time
from dta._reconcile import (
    CODES,
    Discrepancy,
    LogStatus,
    PartyLog,
    Reconciliation,
    TransferRow,
    reconcile,
)
from dta._report_html import render_html
from dta.errors import UsageError
from dta.keys import KeyRegistry, PublicKey, Signer

__all__ = [
    "CHECKS",
    "CODES",
    "DEFAULT_HALF_LIFE",
    "LEVELS",
    "REPORT_TYPE",
    "Discrepancy",
    "LogStatus",
    "PartyLog",
    "Reconciliation",
    "TransferRow",
    "build_report",
    "format_duration",
    "reconcile",
    "render_html",
    "sign_report",
    "summarize",
    "verify_report",
]

REPORT_TYPE = "dta.compliance-report"
DEFAULT_HALF_LIFE = timedelta(days=180)


def format_duration(value: timedelta) -> str:
    """ISO 8601 duration in days / hours / minutes / seconds (``P7D``, ``PT72H``, ``P1DT2H``)."""
    total = int(value.total_seconds())
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    out = "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")
    return out if out != "P" else "PT0S"


def build_report(
    rec: Reconciliation,
    *,
    auditor: str,
    auditor_key: PublicKey,
    half_life: timedelta = DEFAULT_HALF_LIFE,
) -> dict[str, Any]:
    """Build the unsigned ``dta.compliance-report`` body.

    Args:
        rec: The reconciliation.
        auditor: Auditor's name or organisation (shown in the report).
        auditor_key: The key that will sign the report (named in the body).
        half_life: Half-life of the reputation's time decay.

    Returns:
        The report body (validated against its schema).

    Raises:
        UsageError: ``half_life`` not positive or ``auditor`` empty.
        SchemaError: The body does not validate (a bug).
    """
    if not auditor:
        raise UsageError("auditor name must not be empty")
    evaluation = evaluate(rec, half_life=half_life)
    by_code = Counter(d.code for d in rec.discrepancies)
    by_level = Counter(t.level for t in rec.transfers)
    by_status = Counter(t.status for t in rec.transfers)
    a = rec.agreement
    body: dict[str, Any] = {
        "_type": REPORT_TYPE,
        "spec_version": "1.0",
        "id": f"urn:uuid:{uuid.uuid4()}",
        "created": format_time(rec.now),
        "auditor": {"name": auditor, "key": auditor_key.to_dict()},
        "agreement": {
            "id": a.id,
            "version": a.version,
            "digest": a.digest,
            "title": str(a.to_dict().get("title") or ""),
            "valid": {
                "not_before": format_time(a.not_before),
                "not_after": format_time(a.not_after),
            },
            "note": rec.agreement_note,
        },
        "parameters": {
            "half_life": format_duration(half_life),
            "ack_window": None if rec.ack_window is None else format_duration(rec.ack_window),
            "third_party_witnesses": list(rec.third_party_witnesses),
        },
        "summary": {
            "transfers": len(rec.transfers),
            "reconciled": by_status.get("reconciled", 0),
            "discrepancies": len(rec.discrepancies),
            "by_code": dict(sorted(by_code.items())),
            "by_level": dict(sorted(by_level.items())),
            "by_status": dict(sorted(by_status.items())),
            "documents": dict(rec.documents),
        },
        "verdict": evaluation["verdict"],
        "gates": evaluation["gates"],
        "parties": evaluation["parties"],
        "logs": [s.to_dict() for s in rec.logs],
        "transfers": [t.to_dict() for t in rec.transfers],
        "discrepancies": [d.to_dict() for d in rec.discrepancies],
    }
    schemas.validate(body)
    return body


def sign_report(body: Mapping[str, Any], signer: Signer) -> dict[str, Any]:
    """Validate and sign a report body with the auditor's key.

    Raises:
        SchemaError: The body does not validate.
        UsageError: The signer is not the key named in the body.
    """
    schemas.validate(body)
    named = (body.get("auditor") or {}).get("key") or {}
    if named.get("keyid") != signer.public_key.keyid:
        raise UsageError("report: the signer is not the auditor key named in the report")
    return envelope.sign(body, signer)


def verify_report(
    doc: Any, auditor_key: PublicKey, *, now: datetime | None = None
) -> dict[str, Any]:
    """Verify a signed report with the auditor key the reader trusts; return the body.

    Raises:
        SignatureError: Not signed by ``auditor_key``.
        SchemaError: The verified body does not validate.
    """
    reg = KeyRegistry()
    reg.add(auditor_key, "auditor")
    body = envelope.verify(doc, reg, expected_type=REPORT_TYPE, now=now)
    schemas.validate(body)
    return body


def summarize(doc: Mapping[str, Any]) -> Sequence[str]:
    """Short human lines for a report (signed or not), for terminals."""
    body = doc.get("signed", doc)
    s = body["summary"]
    lines = [
        f"verdict: {body['verdict']}",
        f"transfers: {s['transfers']} ({s['reconciled']} reconciled), "
        f"discrepancies: {s['discrepancies']}",
    ]
    for d in body["discrepancies"][:20]:
        lines.append(f"  [{d['code']}] {d['message']}")
    for g in body["gates"]:
        lines.append(f"gate {g['gate']}: {g['status']} - {g['detail']}")
    for p in body["parties"]:
        rep = p["reputation"]
        failing = ", ".join(rep["failing_checks"]) or "none"
        lines.append(
            f"{p['party']}: evidence {p['evidence_level']}, reputation {rep['score']}% "
            f"(alpha {rep['alpha']}, beta {rep['beta']}); failing checks: {failing}"
        )
        for c in p["checks"]:
            score = "-" if c["score"] is None else f"{c['score']}/10"
            lines.append(f"  {c['id']:<18} {score:>6}  {c['status']:<12} {c['reason']}")
    return lines
