"""Cross-party reconciliation: verify both audit logs, then match manifests, records and receipts.

Rules this module enforces:

* Trust comes from the signed agreement only: it is verified first (every party's signature; at
  ``now`` clamped into its validity window, so an expired agreement can still be audited), and
  every key used below (checkpoint keys, cosigners, manifest and receipt signers) is one of its
  parties' keys, except third-party witnesses, which the auditor names explicitly.
* Each party's log is recomputed from its stored lines (:func:`dta.audit.verify_lines`): chain,
  canonical form, indices and Merkle root, against every checkpoint that verifies with one of
  the party's Ed25519 keys. A log with any fault contributes **no** records: nothing unverified
  is reconciled or scored. Cosignatures are verified per signature line against the
  counterparties' Ed25519 keys and the auditor's third-party witnesses, and must not be
  timestamped after ``now``.
* Manifests count only if their signatures meet the agreement's threshold for their level, the
  members reconciliation reads have the right types, and they are bound to this agreement (id and
  digest); receipts only if signed by the manifest recipient's key and well-typed likewise.
  Anything else is listed as ``unverified-document`` and ignored.
* Matching is by manifest digest (never by signature bytes). Discrepancy codes:
  ``unacknowledged`` (sent, no receipt), ``digest-mismatch`` (a record or receipt names the
  manifest id with another digest), ``receipt-without-send`` (a receipt or received record for
  a manifest the sender's verified log never shows as sent), ``late`` (receipt after the
  acknowledgement deadline: the manifest's ``expires`` or, if earlier, the send time plus the
  auditor's ``ack_window``; the agreement has no acknowledgement term of its own),
  ``rejected`` (receipt decision), ``record-missing-on-one-side`` (a receipt exists but one log
  lacks its ``transfer.received`` / ``transfer.accepted|rejected`` record), ``manifest-missing``
  (a logged send whose signed manifest was not presented), ``log-unverified`` and
  ``unverified-document``.
* ``now`` is passed in; nothing reads the clock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from dta._agreement_model import Agreement, digest_of
from dta._agreement_sign import verify_agreement
from dta._json import loads_canonical
from dta._policy_eval import format_time, parse_time
from dta._reconcile_docs import verified_manifests, verified_receipts
from dta._reconcile_model import (
    CheckpointStatus,
    Cosig,
    Discrepancy,
    LogStatus,
    PartyLog,
    Reconciliation,
    TransferRow,
    _t,
)
from dta.audit import AuditLog, Checkpoint, verify_checkpoint, verify_lines
from dta.audit.checkpoint import cosigner_verifier, verify_cosignatures
from dta.audit.note import Note
from dta.errors import AgreementError, Error, StorageError, UsageError
from dta.keys import PublicKey

__all__ = [
    "CODES",
    "CheckpointStatus",
    "Cosig",
    "Discrepancy",
    "LogStatus",
    "PartyLog",
    "Reconciliation",
    "TransferRow",
    "reconcile",
]

CODES = (
    "unacknowledged",
    "digest-mismatch",
    "receipt-without-send",
    "late",
    "rejected",
    "record-missing-on-one-side",
    "manifest-missing",
    "log-unverified",
    "unverified-document",
)
# Records the compliance checks need; other lines are verified but not kept.
_KEEP = tuple(
    f'"action":"{a}"'.encode()
    for a in (
        "transfer.sent",
        "transfer.received",
        "transfer.accepted",
        "transfer.rejected",
        "data.deleted",
        "data.returned",
        "incident.reported",
        "x-dta.transfer-blocked",
    )
)


def _time(value: Any, where: str) -> datetime | None:
    try:
        return parse_time(value, where)
    except AgreementError:
        return None


def _ed25519_keys(agreement: Agreement, party: str) -> list[PublicKey]:
    found = agreement.party(party)
    if found is None:
        return []
    return [pk.key for pk in found.keys if pk.key.scheme == "ed25519"]


def _verify_agreement(doc: Any, now: datetime) -> tuple[Agreement, str | None]:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("signed"), Mapping):
        raise AgreementError("agreement: expected a signed dta.agreement document")
    claimed = Agreement.from_dict(doc["signed"])
    when = min(max(now, claimed.not_before), claimed.not_after)
    note = None
    if when != now:
        state = "not yet valid" if now < claimed.not_before else "expired"
        note = f"agreement {state} at the audit time; signatures checked at {format_time(when)}"
    return verify_agreement(doc, now=when), note


def _cosigs(
    note_text: str,
    candidates: Sequence[tuple[str, str | None, PublicKey]],
    now: datetime,
) -> tuple[list[Cosig], str | None]:
    found: list[Cosig] = []
    errors: list[str] = []
    for sig in Note.from_text(note_text).signatures:
        for kind, party, key in candidates:
            verifier = cosigner_verifier(key, sig.name)
            if verifier.key_id != sig.key_id:
                continue
            try:
                (good,) = verify_cosignatures(note_text, [verifier], not_after=now)
            except Error as exc:
                errors.append(f"cosignature by {sig.name}: {exc}")
                break
            found.append(Cosig(good.name, kind, party, good.time))
            break
    return found, "; ".join(errors) or None


def _verify_log(
    agreement: Agreement,
    entry: PartyLog,
    third: Mapping[str, PublicKey],
    now: datetime,
) -> LogStatus:
    keys = _ed25519_keys(agreement, entry.party)
    candidates: list[tuple[str, str | None, PublicKey]] = [
        ("counterparty", p.id, k)
        for p in agreement.parties
        if p.id != entry.party
        for k in _ed25519_keys(agreement, p.id)
    ]
    candidates += [("third-party", None, k) for k in third.values()]
    origin = entry.origin
    verified: list[tuple[int, Checkpoint, str]] = []
    statuses: list[CheckpointStatus | None] = []
    for pos, note in enumerate(entry.checkpoints):
        cp: Checkpoint | None = None
        error = "not signed by any Ed25519 key of " + entry.party
        for key in keys:
            try:
                cp = verify_checkpoint(note, key, origin=origin)
                break
            except Error as exc:
                error = f"checkpoint {pos}: {exc}"
        if cp is None:
            statuses.append(CheckpointStatus(None, None, False, False, (), error))
            continue
        origin = cp.origin
        verified.append((pos, cp, note))
        statuses.append(None)
    kept: list[dict[str, Any]] = []

    def tap(lines: Iterable[bytes]) -> Iterator[bytes]:
        for line in lines:
            if any(marker in line for marker in _KEEP):
                with contextlib.suppress(Error):  # the verifier reports a malformed line
                    rec = loads_canonical(line)
                    by = (rec.get("details") or {}).get("by", entry.party)
                    if rec.get("actor") == entry.party and by == entry.party:
                        kept.append(rec)  # only the party's own steps are evidence
            yield line

    try:
        with AuditLog.open(entry.log, readonly=True) as log:
            report = verify_lines(tap(log.store.lines()), [cp for _, cp, _ in verified])
    except StorageError as exc:
        raise StorageError(f"log of {entry.party} ({entry.log}): {exc}") from exc
    fault = report.fault.to_dict() if report.fault is not None else None
    matched = set(report.checkpoints)
    for pos, cp, note in verified:
        cosigs, cosig_error = _cosigs(note, candidates, now)
        consistent = report.ok and cp.size in matched
        statuses[pos] = CheckpointStatus(
            cp.size, cp.root.hex(), True, consistent, tuple(cosigs), cosig_error
        )
    return LogStatus(
        entry.party,
        entry.log,
        origin,
        report.ok,
        report.size,
        None if report.root is None else report.root.hex(),
        fault,
        tuple(s for s in statuses if s is not None),
        tuple(kept) if report.ok else (),
    )


def _index(
    logs: Sequence[LogStatus],
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(action, party) -> verified records of steps the party itself took, from its own log."""
    idx: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for status in logs:
        for rec in status.records:
            by = (rec.get("details") or {}).get("by", status.party)
            if rec.get("actor") == status.party and by == status.party:
                idx.setdefault((rec["action"], status.party), []).append(rec)
    return idx


def _by(records: Iterable[dict[str, Any]], field: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        subject = rec.get("subject") or {}
        key = subject.get("id") if field == "id" else (subject.get("digest") or {}).get("sha256")
        if isinstance(key, str):
            out.setdefault(key, rec)
    return out


def _match(
    manifests: Mapping[str, tuple[Mapping[str, Any], Any]],
    receipts: Sequence[Mapping[str, Any]],
    logs: Sequence[LogStatus],
    *,
    ack_window: timedelta | None,
    now: datetime,
    out: list[Discrepancy],
) -> list[TransferRow]:
    idx = _index(logs)
    present = {s.party for s in logs if s.ok}

    def records(action: str, party: str) -> list[dict[str, Any]]:
        return idx.get((action, party), [])

    receipt_by_digest: dict[str, Mapping[str, Any]] = {}
    receipt_by_id: dict[str, Mapping[str, Any]] = {}
    for r in receipts:
        receipt_by_digest.setdefault(r["manifest"]["digest"]["sha256"], r)
        receipt_by_id.setdefault(r["manifest"]["id"], r)
    parties = {p for body, _ in manifests.values() for p in (body["sender"], body["recipient"])}
    parties |= {s.party for s in logs}
    sent_d = {p: _by(records("transfer.sent", p), "digest") for p in parties}
    sent_i = {p: _by(records("transfer.sent", p), "id") for p in parties}
    recv_d = {p: _by(records("transfer.received", p), "digest") for p in parties}
    recv_i = {p: _by(records("transfer.received", p), "id") for p in parties}
    outcome = {
        p: _by(records("transfer.accepted", p) + records("transfer.rejected", p), "digest")
        for p in parties
    }
    rows: list[TransferRow] = []
    for digest, (m, _) in sorted(manifests.items(), key=lambda kv: (kv[1][0]["created"], kv[0])):
        mid, s, r = m["id"], m["sender"], m["recipient"]
        codes: list[str] = []

        def flag(
            code: str,
            message: str,
            party: str | None = None,
            codes: list[str] = codes,
            mid: str = mid,
        ) -> None:
            codes.append(code)
            out.append(Discrepancy(code, message, mid, party))

        sent_rec = sent_d[s].get(digest)
        recv_rec = recv_d[r].get(digest)
        receipt = receipt_by_digest.get(digest)
        if sent_rec is None and mid in sent_i[s]:
            flag("digest-mismatch", f"{s} logged manifest {mid} with another digest", s)
        if recv_rec is None and mid in recv_i[r]:
            flag("digest-mismatch", f"{r} logged receiving {mid} with another digest", r)
        if receipt is None and mid in receipt_by_id:
            flag("digest-mismatch", f"the receipt for {mid} names another digest", r)
        sent = _time(sent_rec["time"], "time") if sent_rec else None
        created = parse_time(m["created"], "manifest/created")
        deadline = parse_time(m["expires"], "manifest/expires")
        if ack_window is not None:
            deadline = min(deadline, (sent or created) + ack_window)
        received = _time(recv_rec["time"], "time") if recv_rec else None
        rtime = _time(receipt["received"], "received") if receipt else None
        if sent_rec is None and (recv_rec is not None or receipt is not None):
            why = "its log is not verified" if s not in present else "no transfer.sent record"
            flag("receipt-without-send", f"{r} acknowledged {mid} but {s}: {why}", s)
        elif sent_rec is None:
            flag("record-missing-on-one-side", f"{s}'s log has no transfer.sent for {mid}", s)
        if receipt is None and sent_rec is not None:
            state = "received but not receipted" if recv_rec else "no receipt"
            if now > deadline or recv_rec is None:
                flag("unacknowledged", f"{mid} sent to {r}: {state}", r)
        if receipt is not None and recv_rec is None:
            flag("record-missing-on-one-side", f"{r}'s log has no transfer.received for {mid}", r)
        if receipt is not None:
            rd = digest_of(receipt)["sha256"]
            if rd not in outcome[r]:
                flag(
                    "record-missing-on-one-side",
                    f"{r}'s log does not record its {receipt['decision']} receipt for {mid}",
                    r,
                )
            if rtime is not None and rtime > deadline:
                flag("late", f"{mid} receipted {_t(rtime)}, after the deadline {_t(deadline)}", r)
            if receipt["decision"] == "rejected":
                reasons = ", ".join(d["code"] for d in receipt["discrepancies"][:5])
                flag("rejected", f"{r} rejected {mid} ({reasons})", s)
        rows.append(
            TransferRow(
                mid,
                digest,
                s,
                r,
                str(m["level"]),
                tuple(m.get("categories") or ()),
                dict(m.get("subjects") or {}),
                int(m["totals"]["files"]),
                int(m["totals"]["bytes"]),
                created,
                deadline,
                sent,
                received,
                rtime,
                None if receipt is None else str(receipt["decision"]),
                tuple(dict.fromkeys(codes)),
            )
        )
    known_ids = {body["id"] for body, _ in manifests.values()}
    for digest, r in receipt_by_digest.items():
        if digest not in manifests and r["manifest"]["id"] not in known_ids:
            out.append(
                Discrepancy(
                    "receipt-without-send",
                    f"receipt {r['id']} names manifest {r['manifest']['id']}, which was never "
                    "presented or logged as sent",
                    r["manifest"]["id"],
                    r["sender"],
                )
            )
    for party in sorted(parties):
        for digest, rec in sent_d[party].items():
            if digest not in manifests:
                mid = rec["subject"].get("id")
                out.append(
                    Discrepancy(
                        "manifest-missing",
                        f"{party} logged sending {mid} but its signed manifest was not presented",
                        mid,
                        party,
                    )
                )
    return rows


def reconcile(
    agreement_doc: Mapping[str, Any],
    logs: Sequence[PartyLog],
    *,
    manifests: Sequence[Mapping[str, Any]] = (),
    receipts: Sequence[Mapping[str, Any]] = (),
    witnesses: Mapping[str, PublicKey] | None = None,
    ack_window: timedelta | None = None,
    now: datetime,
) -> Reconciliation:
    """Reconcile both parties' logs, manifests and receipts under a signed agreement.

    Args:
        agreement_doc: The signed agreement (every party's signature is required).
        logs: One :class:`PartyLog` per party (each party at most once).
        manifests: Signed manifests presented to the auditor.
        receipts: Signed receipts presented to the auditor.
        witnesses: Trusted third-party witnesses: key name -> Ed25519 public key.
        ack_window: Auditor's acknowledgement window (the manifest's ``expires`` always applies).
        now: The audit time (aware).

    Returns:
        The reconciliation.

    Raises:
        UsageError: ``now`` is naive, a party is unknown or given twice.
        AgreementError, SignatureError, SchemaError: the agreement does not verify.
        StorageError: a log cannot be opened or read.
    """
    if now.tzinfo is None:
        raise UsageError("now must be timezone-aware")
    agreement, note = _verify_agreement(agreement_doc, now)
    seen: set[str] = set()
    for entry in logs:
        if agreement.party(entry.party) is None:
            raise UsageError(f"log for {entry.party!r}: not a party of the agreement")
        if entry.party in seen:
            raise UsageError(f"log for {entry.party!r} given twice")
        seen.add(entry.party)
    third = dict(witnesses or {})
    for name, key in third.items():
        if any(key.keyid == pk.key.keyid for p in agreement.parties for pk in p.keys):
            raise UsageError(f"witness {name}: a party's key cannot be a third-party witness")
    out: list[Discrepancy] = []
    statuses = tuple(_verify_log(agreement, e, third, now) for e in logs)
    for st in statuses:
        if not st.ok:
            f = st.fault or {}
            out.append(
                Discrepancy(
                    "log-unverified",
                    f"{st.party}'s log failed verification at record {f.get('index')}: "
                    f"{f.get('kind')} ({f.get('message')}); none of its records are used",
                    None,
                    st.party,
                )
            )
    good_manifests = verified_manifests(agreement, manifests, out)
    good_receipts = verified_receipts(agreement, receipts, out)
    rows = _match(good_manifests, good_receipts, statuses, ack_window=ack_window, now=now, out=out)
    return Reconciliation(
        agreement,
        note,
        now,
        ack_window,
        statuses,
        tuple(rows),
        tuple(out),
        tuple(sorted(third)),
        {
            "manifests": len(manifests),
            "manifests_verified": len(good_manifests),
            "receipts": len(receipts),
            "receipts_verified": len(good_receipts),
        },
    )
