"""Compliance history: evidence levels, checks from verified records, Beta reputation, hard gates.

Rules this module enforces:

* Input is a :class:`dta._reconcile.Reconciliation`: only records of logs that verified, only
  manifests and receipts whose signatures verified under the agreement. Nothing self-declared
  is scored.
* Evidence level per party: ``E0`` self-declared (no verified, signed log); ``E1`` the party's
  log verifies against a checkpoint signed with one of its agreement keys; ``E2`` additionally a
  counterparty cosigned a checkpoint consistent with the log and, if the party sent data, the
  counterparty's signed receipts match its manifests; ``E3`` additionally a third-party witness
  (named by the auditor, not a party) cosigned.
* Each check is an integer score 0-10 or ``inconclusive`` with the reason (never a guess):
  receipt match rate, duties met on time (``delete``/``return`` recorded before the deadline),
  volume caps respected, incidents notified within the agreement's ``notifyIncident`` time, log
  integrity, freshness of witnessing (``witnessAuditLog`` interval). Status: ``pass`` >= 8,
  ``warn`` >= 5, ``fail`` below.
* Reputation: Beta(alpha, beta) with alpha = 1 + sum of positive outcomes and beta = 1 + sum of
  negative outcomes, each weighted ``0.5 ** (age / half_life)``; it is always reported together
  with the failing checks, and it is advice only.
* Hard gates from the agreement (export-control categories, restricted-party flags) are
  evaluated separately; any gate that is not clear makes the verdict ``blocked`` whatever the
  scores say.
* Numbers in the output are integers or fixed-point decimal strings (signed documents carry no
  floats).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from dta._policy_eval import format_time, parse_duration, parse_time
from dta._reconcile import LogStatus, Reconciliation
from dta.errors import AgreementError

__all__ = [
    "CHECKS",
    "LEVELS",
    "Check",
    "Outcome",
    "beta_reputation",
    "evaluate",
    "evidence_level",
    "gates",
]

LEVELS = ("E0", "E1", "E2", "E3")
CHECKS = {
    "receipt-match": "Receipts match manifests",
    "duties-on-time": "Duties met on time (delete / return)",
    "volume-caps": "Volume caps respected",
    "incidents": "Incidents notified in time",
    "log-integrity": "Audit log integrity",
    "witness-freshness": "Freshness of witnessing",
}


@attrs.frozen
class Check:
    """One scored check: id, score 0-10 (None = inconclusive), reason and evidence counts."""

    id: str
    score: int | None
    reason: str
    evidence: Mapping[str, int] = attrs.field(factory=dict)

    @property
    def status(self) -> str:
        """``pass`` / ``warn`` / ``fail`` / ``inconclusive``."""
        if self.score is None:
            return "inconclusive"
        return "pass" if self.score >= 8 else "warn" if self.score >= 5 else "fail"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "title": CHECKS[self.id],
            "score": self.score,
            "status": self.status,
            "reason": self.reason,
            "evidence": dict(self.evidence),
        }


@attrs.frozen
class Outcome:
    """A verified positive or negative outcome at a time, for the reputation."""

    time: datetime
    positive: bool
    what: str


def _iso(value: timedelta) -> str:
    hours = int(value.total_seconds()) // 3600
    return f"{hours} hours" if hours < 72 or hours % 24 else f"{hours // 24} days"


def _score(good: int, total: int) -> int:
    return round(10 * good / total)


def _duration(value: Any) -> timedelta | None:
    try:
        return parse_duration(value, "duration")
    except AgreementError:
        return None


def _duty_time(rec: Reconciliation, action: str, operand: str) -> timedelta | None:
    found = [
        _duration(c["rightOperand"])
        for d in rec.agreement.duties()
        if d["action"] == action
        for c in d["constraints"]
        if c["leftOperand"] == operand
    ]
    values = [v for v in found if v is not None]
    return min(values) if values else None


def evidence_level(rec: Reconciliation, party: str) -> tuple[str, list[str]]:
    """The evidence level of a party's record and why.

    Returns:
        ``(level, reasons)``.
    """
    log = rec.log(party)
    if log is None:
        return "E0", ["no audit log presented: only self-declared"]
    if not log.ok:
        return "E0", ["the audit log does not verify: only self-declared"]
    if not any(cp.signed and cp.consistent for cp in log.checkpoints):
        return "E0", ["no checkpoint signed by the party's key matches its log"]
    reasons = ["hash-chained log verifies against a checkpoint signed with an agreement key"]
    counter = log.witnessed_size("counterparty")
    if counter == 0:
        return "E1", [*reasons, "no counterparty cosignature on a consistent checkpoint"]
    sent = [t for t in rec.transfers if t.sender == party]
    receipted = [t for t in sent if t.decision is not None and t.sent is not None]
    if sent and not receipted:
        return "E1", [*reasons, "none of its transfers is confirmed by a counterparty receipt"]
    reasons.append(f"counterparty cosigned {counter} records")
    if sent:
        reasons.append(f"{len(receipted)} of {len(sent)} sent transfers confirmed by receipts")
    third = log.witnessed_size("third-party")
    if third == 0:
        return "E2", [*reasons, "no third-party witness cosignature"]
    return "E3", [*reasons, f"third-party witness cosigned {third} records"]


def _receipt_match(rec: Reconciliation, party: str, out: list[Outcome]) -> Check:
    mine = [t for t in rec.transfers if party in (t.sender, t.recipient)]
    blamed = {d.manifest for d in rec.discrepancies if d.party == party}
    if not mine:
        return Check("receipt-match", None, "no verified transfer involves this party")
    good = [t for t in mine if t.manifest not in blamed]
    for t in mine:
        ok = t.manifest not in blamed
        out.append(Outcome(t.sent or t.created, ok, f"transfer {t.manifest}"))
    clean = sum(1 for t in mine if not t.codes)
    return Check(
        "receipt-match",
        _score(len(good), len(mine)),
        f"{len(good)} of {len(mine)} transfers without a discrepancy on this party's side "
        f"({clean} fully reconciled: sent, received, receipt, same digest)",
        {"transfers": len(mine), "matched": len(good), "reconciled": clean},
    )


def _duties(rec: Reconciliation, party: str, log: LogStatus | None, out: list[Outcome]) -> Check:
    duties = [
        d
        for d in rec.agreement.duties()
        if d["action"] in ("delete", "return") and d["assignee"] == party
    ]
    if not duties:
        return Check("duties-on-time", None, "the agreement gives this party no delete/return duty")
    received = [t for t in rec.transfers if t.recipient == party and t.received is not None]
    if not received:
        return Check("duties-on-time", None, "no verified transfer was received by this party")
    done: dict[tuple[str, str], datetime] = {}
    for r in log.records if log is not None else ():
        if r.get("action") in ("data.deleted", "data.returned") and r.get("actor") == party:
            digest = ((r.get("subject") or {}).get("digest") or {}).get("sha256")
            when = parse_time(r["time"], "time")
            key = (r["action"].split(".")[1], str(digest))
            done[key] = min(when, done.get(key, when))
    due = met = pending = 0
    next_deadline: datetime | None = None
    for duty in duties:
        verb = "deleted" if duty["action"] == "delete" else "returned"
        for t in received:
            deadline: datetime | None = None
            for c in duty["constraints"]:
                if c["leftOperand"] == "dateTime":
                    deadline = parse_time(c["rightOperand"], "dateTime")
                elif c["leftOperand"] == "elapsedTime" and t.received is not None:
                    span = _duration(c["rightOperand"])
                    deadline = t.received + span if span else None
            if deadline is None:
                continue
            done_at = done.get((verb, t.digest))
            if deadline > rec.now and done_at is None:
                pending += 1
                next_deadline = min(deadline, next_deadline or deadline)
                continue
            due += 1
            ok = done_at is not None and done_at <= deadline
            met += ok
            out.append(Outcome(done_at or deadline, ok, f"{verb} {t.manifest}"))
    if due == 0:
        nxt = f"; next deadline {format_time(next_deadline)}" if next_deadline else ""
        return Check(
            "duties-on-time",
            None,
            f"no deadline has passed yet ({pending} pending){nxt}",
            {"due": 0, "pending": pending},
        )
    return Check(
        "duties-on-time",
        _score(met, due),
        f"{met} of {due} due delete/return duties recorded before the deadline"
        + (f"; {pending} not yet due" if pending else ""),
        {"due": due, "met": met, "pending": pending},
    )


def _caps(rec: Reconciliation, party: str, out: list[Outcome]) -> Check:
    caps = [c for c in rec.agreement.volume_caps if c.sender in (None, party)]
    if not caps:
        return Check("volume-caps", None, "the agreement sets no volume cap on this party's sends")
    sent = [t for t in rec.transfers if t.sender == party and t.sent is not None]
    if not sent:
        return Check("volume-caps", None, "this party sent no verified transfer")
    checked = breaches = 0
    worst = ""
    for cap in caps:
        rows = sorted(
            (t for t in sent if cap.recipient in (None, t.recipient)), key=lambda t: t.created
        )
        start = 0
        window_total = 0  # subjects of rows created in (t - window, t]
        for t in rows:
            window_total += t.subjects.get(cap.category, 0)
            while rows[start].created <= t.created - cap.window:
                window_total -= rows[start].subjects.get(cap.category, 0)
                start += 1
            if cap.category not in t.subjects:
                continue
            checked += 1
            total = window_total
            if total > cap.max_subjects:
                breaches += 1
                worst = f"{total} {cap.category} subjects in the window ending {t.manifest}"
                out.append(Outcome(t.created, False, f"volume cap {cap.category}"))
    if checked == 0:
        return Check("volume-caps", 10, "no verified transfer carried a capped category", {})
    reason = f"{checked - breaches} of {checked} capped transfers within the caps"
    return Check(
        "volume-caps",
        _score(checked - breaches, checked),
        reason + (f"; exceeded: {worst}" if breaches else ""),
        {"checked": checked, "breaches": breaches},
    )


def _incidents(rec: Reconciliation, log: LogStatus | None, party: str, out: list[Outcome]) -> Check:
    limit = _duty_time(rec, "notifyIncident", "elapsedTime")
    if limit is None:
        return Check("incidents", None, "the agreement sets no incident-notification time")
    if log is None or not log.ok:
        return Check("incidents", None, "no verified log to read incident reports from")
    found = [
        r for r in log.records if r.get("action") == "incident.reported" and r["actor"] == party
    ]
    if not found:
        return Check(
            "incidents", None, "no incident recorded (no record does not prove no incident)"
        )
    on_time = 0
    for r in found:
        at = parse_time(r["time"], "time")
        detected = (r.get("details") or {}).get("detected")
        try:
            ok = at - parse_time(detected, "details/detected") <= limit
        except AgreementError:
            ok = False
        on_time += ok
        out.append(Outcome(at, ok, "incident notification"))
    return Check(
        "incidents",
        _score(on_time, len(found)),
        f"{on_time} of {len(found)} incidents notified within {_iso(limit)} of detection",
        {"incidents": len(found), "on_time": on_time},
    )


def _integrity(log: LogStatus | None, out: list[Outcome], now: datetime) -> Check:
    if log is None:
        return Check("log-integrity", 0, "no audit log presented")
    if not log.ok:
        out.append(Outcome(now, False, "log verification failed"))
        f = log.fault or {}
        return Check("log-integrity", 0, f"fault at record {f.get('index')}: {f.get('kind')}", {})
    bad = [cp for cp in log.checkpoints if not (cp.signed and cp.consistent)]
    good = len(log.checkpoints) - len(bad)
    counts = {"records": log.size, "checkpoints": len(log.checkpoints), "bad_checkpoints": len(bad)}
    if bad:
        out.append(Outcome(now, False, "bad checkpoint"))
        why = bad[0].error or "inconsistent with the log"
        return Check("log-integrity", 0, f"{len(bad)} checkpoint(s) rejected: {why}", counts)
    if good == 0:
        return Check(
            "log-integrity",
            5,
            f"{log.size} records chain correctly but no checkpoint anchors them",
            counts,
        )
    out.append(Outcome(now, True, "log verified"))
    return Check(
        "log-integrity",
        10,
        f"{log.size} records recomputed; chain, Merkle root and {good} signed checkpoint(s) agree",
        counts,
    )


def _freshness(rec: Reconciliation, log: LogStatus | None) -> Check:
    interval = _duty_time(rec, "witnessAuditLog", "timeInterval")
    if interval is None:
        return Check("witness-freshness", None, "the agreement sets no witnessing interval")
    if log is None or not log.ok:
        return Check("witness-freshness", 0, "no verified log to witness")
    cosigs = log.cosignatures()
    if not cosigs:
        return Check("witness-freshness", 0, "no valid cosignature on any checkpoint")
    latest = max(c.time for c in cosigs)
    age = max(rec.now - latest, timedelta(0))
    covered = log.witnessed_size()
    tail = log.size - covered
    score = 10 if age <= interval else max(0, round(10 * interval / age))
    return Check(
        "witness-freshness",
        score,
        f"last cosigned {format_time(latest)} ({age.days} days before the audit; interval "
        f"{interval.days} days); {covered} of {log.size} records witnessed",
        {"age_seconds": int(age.total_seconds()), "witnessed": covered, "unwitnessed": tail},
    )


def beta_reputation(
    outcomes: Sequence[Outcome], *, now: datetime, half_life: timedelta
) -> dict[str, Any]:
    """Beta reputation with exponential time decay.

    Returns:
        ``{"alpha", "beta"}`` as 3-decimal strings, ``score`` (expected value, percent 0-100),
        ``positive`` / ``negative`` outcome counts and ``half_life_days``.
    """
    alpha = beta = 1.0
    for o in outcomes:
        age = max((now - o.time).total_seconds(), 0.0)
        weight = 0.5 ** (age / half_life.total_seconds())
        if o.positive:
            alpha += weight
        else:
            beta += weight
    return {
        "alpha": f"{alpha:.3f}",
        "beta": f"{beta:.3f}",
        "score": round(100 * alpha / (alpha + beta)),
        "positive": sum(o.positive for o in outcomes),
        "negative": sum(not o.positive for o in outcomes),
        "half_life_days": max(1, round(half_life.total_seconds() / 86400)),
    }


def gates(rec: Reconciliation) -> list[dict[str, Any]]:
    """Hard gates recorded in the agreement and their status (never overridden by scores)."""
    body = rec.agreement.to_dict().get("gates") or {}
    out: list[dict[str, Any]] = []
    export = body.get("export_control") or {}
    prohibited = sorted(rec.agreement.gate_categories)
    if export or prohibited:
        hits = [t for t in rec.transfers if set(t.categories) & set(prohibited)]
        regimes = ", ".join(export.get("regimes") or []) or "export control"
        stopped = [
            (log.party, len((r.get("details") or {}).get("paths") or []))
            for log in rec.logs
            for r in log.records
            if r.get("action") == "x-dta.transfer-blocked" and r.get("actor") == log.party
        ]
        at_source = "".join(
            f"; {n} file(s) blocked at source by {party} (verified log record)"
            for party, n in stopped
        )
        out.append(
            {
                "gate": "export-control",
                "status": "violated" if hits else "clear",
                "detail": (
                    f"{len(hits)} verified transfer(s) carried prohibited categories"
                    if hits
                    else "no verified transfer carried "
                    + (", ".join(prohibited) or "a gated category")
                )
                + f" ({regimes})"
                + at_source,
                "manifests": [t.manifest for t in hits],
            }
        )
    for entry in body.get("restricted_parties") or []:
        flagged = (
            bool(entry.get("flagged")) or entry.get("party") in rec.agreement.restricted_parties
        )
        lists = ", ".join(entry.get("lists") or [])
        out.append(
            {
                "gate": "restricted-party",
                "party": entry.get("party"),
                "status": "flagged" if flagged else "clear",
                "detail": f"screened {entry.get('screened')} against {lists or 'no list'}: "
                + ("FLAGGED" if flagged else "not flagged"),
                "manifests": [],
            }
        )
    return out


def evaluate(rec: Reconciliation, *, half_life: timedelta) -> dict[str, Any]:
    """Evidence levels, checks and reputation per party, gates and the verdict.

    Raises:
        UsageError: ``half_life`` is not positive.
    """
    from dta.errors import UsageError

    if half_life <= timedelta(0):
        raise UsageError("half_life must be positive")
    parties: list[dict[str, Any]] = []
    for p in rec.agreement.parties:
        log = rec.log(p.id)
        outcomes: list[Outcome] = []
        checks = [
            _receipt_match(rec, p.id, outcomes),
            _duties(rec, p.id, log, outcomes),
            _caps(rec, p.id, outcomes),
            _incidents(rec, log, p.id, outcomes),
            _integrity(log, outcomes, rec.now),
            _freshness(rec, log),
        ]
        negative = {d.manifest for d in rec.discrepancies if d.party == p.id and d.manifest}
        level, reasons = evidence_level(rec, p.id)
        reputation = beta_reputation(outcomes, now=rec.now, half_life=half_life)
        reputation["failing_checks"] = [c.id for c in checks if c.status in ("warn", "fail")]
        parties.append(
            {
                "party": p.id,
                "legal_name": p.legal_name,
                "jurisdiction": p.jurisdiction,
                "evidence_level": level,
                "evidence_reasons": reasons,
                "checks": [c.to_dict() for c in checks],
                "reputation": reputation,
                "discrepant_transfers": len(negative),
            }
        )
    gate_list = gates(rec)
    if any(g["status"] != "clear" for g in gate_list):
        verdict = "blocked"
    elif rec.discrepancies or any(
        c["status"] == "fail" for party in parties for c in party["checks"]
    ):
        verdict = "discrepancies"
    else:
        verdict = "clean"
    return {"parties": parties, "gates": gate_list, "verdict": verdict}
