"""Transfer life cycle: a strict state machine whose every transition is an audit-log record.

Rules this module enforces:

* States: REQUESTED -> AGREED -> SENT -> RECEIVED -> ACCEPTED | REJECTED; any non-final state may
  go to SUSPENDED (and back to the state it left with ``resume``) or to TERMINATED. ACCEPTED,
  REJECTED and TERMINATED are final. Anything else raises :class:`~dta.errors.TransferStateError`
  and nothing is logged.
* Every transition is appended to the acting party's audit log *before* the in-memory state
  changes, as ``{"actor", "action": "transfer.<state>", "subject": {"_type", "id", "digest"},
  "agreement": {"id", "digest"}, "details": {"transfer", "from", "to", "by", ...}, "time"}``;
  ``by`` is the party that performed the step (the sender for ``sent``, the recipient for
  ``received``/``accepted``/``rejected``), so both partners' logs tell the same story.
* Documents must fit: the manifest is for this agreement, direction and purpose; the received
  manifest is the one sent (same digest); the receipt names that manifest digest, is signed off
  by the recipient, and its decision matches ``accept``/``reject``.
* The state is reconstructable from the log alone (:func:`replay`); an illegal sequence in a log
  is reported with the record index.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import attrs

from dta._agreement_model import Agreement, digest_of
from dta._policy_eval import format_time
from dta.errors import TransferStateError, UsageError

__all__ = ["FINAL", "TRANSITIONS", "EventLog", "State", "Transfer", "TransferStatus", "replay"]


class State(StrEnum):
    """Transfer states (values are the audit action suffixes)."""

    REQUESTED = "requested"
    AGREED = "agreed"
    SENT = "sent"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


FINAL = frozenset({State.ACCEPTED, State.REJECTED, State.TERMINATED})
_ACTIVE = (State.REQUESTED, State.AGREED, State.SENT, State.RECEIVED)

#: (from, to) pairs that are legal; resume (SUSPENDED -> the state it left) is checked separately.
TRANSITIONS: frozenset[tuple[State | None, State]] = frozenset(
    {
        (None, State.REQUESTED),
        (State.REQUESTED, State.AGREED),
        (State.AGREED, State.SENT),
        (State.SENT, State.RECEIVED),
        (State.RECEIVED, State.ACCEPTED),
        (State.RECEIVED, State.REJECTED),
        *((s, State.SUSPENDED) for s in _ACTIVE),
        *((s, State.TERMINATED) for s in (*_ACTIVE, State.SUSPENDED)),
    }
)


class EventLog(Protocol):
    """What a transfer needs from ``dta.audit.AuditLog``."""

    def append(self, event: Mapping[str, Any]) -> tuple[int, bytes]:
        """Append one event durably; return its index and leaf hash."""
        ...


@attrs.frozen
class TransferStatus:
    """A transfer's state as reconstructed from a log.

    Attributes:
        id: Transfer id.
        state: Current state.
        resume_to: The state a suspended transfer returns to (None unless suspended).
        agreement: ``{"id", "digest"}`` of the agreement.
        sender: Sending party.
        recipient: Receiving party.
        manifest: ``{"id", "digest"}`` of the manifest once sent.
        receipt: ``{"id", "digest"}`` of the receipt once accepted or rejected.
        history: ``(index, action, time, by)`` per transition.
    """

    id: str
    state: State
    resume_to: State | None
    agreement: dict[str, Any]
    sender: str
    recipient: str
    manifest: dict[str, Any] | None = None
    receipt: dict[str, Any] | None = None
    history: tuple[tuple[int | None, str, str | None, str | None], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "id": self.id,
            "state": self.state.value,
            "resume_to": None if self.resume_to is None else self.resume_to.value,
            "agreement": self.agreement,
            "sender": self.sender,
            "recipient": self.recipient,
            "manifest": self.manifest,
            "receipt": self.receipt,
            "history": [
                {"index": i, "action": a, "time": t, "by": b} for i, a, t, b in self.history
            ],
        }


def _check(current: State | None, target: State, resume_to: State | None) -> None:
    if (current, target) in TRANSITIONS:
        return
    if current is State.SUSPENDED and target is resume_to:
        return
    name = "none" if current is None else current.value
    raise TransferStateError(f"illegal transfer transition {name} -> {target.value}")


def _body(doc: Any, kind: str) -> Mapping[str, Any]:
    inner = doc.get("signed") if isinstance(doc, Mapping) and "signed" in doc else doc
    if not isinstance(inner, Mapping) or inner.get("_type") != f"dta.{kind}":
        raise TransferStateError(f"transfer: expected a dta.{kind} document")
    return inner


class Transfer:
    """One party's view of one transfer; every step is appended to that party's log."""

    def __init__(self, agreement: Agreement, actor: str, log: EventLog, status: TransferStatus):
        """Wrap an existing status; use :meth:`request` or :meth:`from_log`."""
        self.agreement = agreement
        self.actor = actor
        self.log = log
        self.status = status

    @property
    def state(self) -> State:
        """The current state."""
        return self.status.state

    @property
    def id(self) -> str:
        """The transfer id."""
        return self.status.id

    @classmethod
    def request(
        cls,
        agreement: Agreement,
        actor: str,
        log: EventLog,
        *,
        sender: str,
        recipient: str,
        transfer_id: str | None = None,
        now: datetime | None = None,
    ) -> Transfer:
        """Start a transfer (REQUESTED) and log ``transfer.requested``.

        Raises:
            TransferStateError: Actor, sender or recipient is not a party, or the agreement
                permits no transfer in that direction.
        """
        for who in (actor, sender, recipient):
            if agreement.party(who) is None:
                raise TransferStateError(f"transfer: {who!r} is not a party of the agreement")
        if agreement.transfer_permission(sender, recipient) is None:
            raise TransferStateError(f"transfer: no permission for {sender} -> {recipient}")
        status = TransferStatus(
            transfer_id or f"urn:uuid:{uuid.uuid4()}",
            State.REQUESTED,
            None,
            {"id": agreement.id, "digest": agreement.digest},
            sender,
            recipient,
        )
        transfer = cls(agreement, actor, log, status)
        transfer._log(
            None, State.REQUESTED, subject=transfer._agreement_subject(), by=actor, now=now
        )
        return transfer

    @classmethod
    def from_log(
        cls,
        agreement: Agreement,
        actor: str,
        log: EventLog,
        records: Iterable[Any],
        transfer_id: str,
    ) -> Transfer:
        """Rebuild a transfer from its log records to continue it.

        Raises:
            TransferStateError: The transfer is not in the records, the records are illegal,
                or it belongs to another agreement.
        """
        status = replay(records).get(transfer_id)
        if status is None:
            raise TransferStateError(f"transfer {transfer_id} not found in the log")
        if status.agreement.get("id") != agreement.id:
            raise TransferStateError(f"transfer {transfer_id} belongs to another agreement")
        return cls(agreement, actor, log, status)

    def _agreement_subject(self) -> dict[str, Any]:
        return {"_type": "dta.agreement", "id": self.agreement.id, "digest": self.agreement.digest}

    def _log(
        self,
        current: State | None,
        target: State,
        *,
        subject: Mapping[str, Any],
        by: str,
        now: datetime | None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        _check(current, target, self.status.resume_to)
        if now is None:
            now = datetime.now(UTC)
        elif now.tzinfo is None:
            raise UsageError("now must be timezone-aware")
        details = {
            "transfer": self.status.id,
            "from": None if current is None else current.value,
            "to": target.value,
            "by": by,
            "sender": self.status.sender,
            "recipient": self.status.recipient,
            **(extra or {}),
        }
        action = (
            "transfer.resumed"
            if current is State.SUSPENDED and target in _ACTIVE
            else (f"transfer.{target.value}")
        )
        index, _ = self.log.append(
            {
                "actor": self.actor,
                "action": action,
                "subject": dict(subject),
                "agreement": {"id": self.agreement.id, "digest": self.agreement.digest},
                "details": details,
                "time": format_time(now),
            }
        )
        self.status = _advance(
            self.status,
            current,
            target,
            subject=subject,
            index=index,
            action=action,
            now=now,
            by=by,
        )

    def agree(self, *, now: datetime | None = None) -> None:
        """REQUESTED -> AGREED (both sides hold the verified agreement).

        Raises:
            TransferStateError: Illegal from the current state.
        """
        self._log(
            self.state, State.AGREED, subject=self._agreement_subject(), by=self.actor, now=now
        )

    def _manifest_subject(self, manifest_doc: Any) -> dict[str, Any]:
        body = _body(manifest_doc, "manifest")
        raw = body.get("agreement")
        ref: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        if ref.get("id") != self.agreement.id or ref.get("digest") != self.agreement.digest:
            raise TransferStateError("transfer: manifest is bound to another agreement")
        if (body.get("sender"), body.get("recipient")) != (
            self.status.sender,
            self.status.recipient,
        ):
            raise TransferStateError("transfer: manifest is for another direction")
        return {"_type": "dta.manifest", "id": body.get("id"), "digest": digest_of(body)}

    def send(self, manifest_doc: Any, *, now: datetime | None = None) -> None:
        """AGREED -> SENT with the signed manifest as subject.

        Raises:
            TransferStateError: Illegal transition, or the manifest does not fit the transfer.
        """
        subject = self._manifest_subject(manifest_doc)
        self._log(self.state, State.SENT, subject=subject, by=self.status.sender, now=now)

    def receive(self, manifest_doc: Any, *, now: datetime | None = None) -> None:
        """SENT -> RECEIVED; the manifest must be the one that was sent.

        Raises:
            TransferStateError: Illegal transition, or a different manifest.
        """
        subject = self._manifest_subject(manifest_doc)
        if self.status.manifest is not None and self.status.manifest != {
            "id": subject["id"],
            "digest": subject["digest"],
        }:
            raise TransferStateError("transfer: received manifest differs from the one sent")
        self._log(self.state, State.RECEIVED, subject=subject, by=self.status.recipient, now=now)

    def _finish(self, receipt_doc: Any, decision: str, now: datetime | None) -> None:
        body = _body(receipt_doc, "receipt")
        if body.get("decision") != decision:
            raise TransferStateError(f"transfer: receipt decision is not {decision!r}")
        if body.get("manifest") != self.status.manifest:
            raise TransferStateError("transfer: receipt names another manifest")
        subject = {"_type": "dta.receipt", "id": body.get("id"), "digest": digest_of(body)}
        target = State.ACCEPTED if decision == "accepted" else State.REJECTED
        extra = {"discrepancies": len(body.get("discrepancies") or [])}
        self._log(
            self.state, target, subject=subject, by=self.status.recipient, now=now, extra=extra
        )

    def accept(self, receipt_doc: Any, *, now: datetime | None = None) -> None:
        """RECEIVED -> ACCEPTED with the accepted receipt as subject.

        Raises:
            TransferStateError: Illegal transition, or the receipt does not fit.
        """
        self._finish(receipt_doc, "accepted", now)

    def reject(self, receipt_doc: Any, *, now: datetime | None = None) -> None:
        """RECEIVED -> REJECTED with the rejecting receipt as subject.

        Raises:
            TransferStateError: Illegal transition, or the receipt does not fit.
        """
        self._finish(receipt_doc, "rejected", now)

    def _current_subject(self) -> Mapping[str, Any]:
        if self.status.manifest is not None:
            return {"_type": "dta.manifest", **self.status.manifest}
        return self._agreement_subject()

    def suspend(self, reason: str, *, now: datetime | None = None) -> None:
        """Suspend an active transfer (e.g. an incident under investigation).

        Raises:
            TransferStateError: The transfer is final or already suspended.
        """
        subject = self._current_subject()
        self._log(
            self.state,
            State.SUSPENDED,
            subject=subject,
            by=self.actor,
            now=now,
            extra={"reason": reason},
        )

    def resume(self, *, now: datetime | None = None) -> None:
        """Return a suspended transfer to the state it left.

        Raises:
            TransferStateError: The transfer is not suspended.
        """
        if self.state is not State.SUSPENDED or self.status.resume_to is None:
            raise TransferStateError(f"illegal transfer transition {self.state.value} -> resume")
        subject = self._current_subject()
        self._log(self.state, self.status.resume_to, subject=subject, by=self.actor, now=now)

    def terminate(self, reason: str, *, now: datetime | None = None) -> None:
        """End a transfer that is not final.

        Raises:
            TransferStateError: The transfer is already final.
        """
        subject = self._current_subject()
        self._log(
            self.state,
            State.TERMINATED,
            subject=subject,
            by=self.actor,
            now=now,
            extra={"reason": reason},
        )


def _advance(
    status: TransferStatus,
    current: State | None,
    target: State,
    *,
    subject: Mapping[str, Any],
    index: int | None,
    action: str,
    now: datetime | str | None,
    by: str | None,
) -> TransferStatus:
    ref = {"id": subject.get("id"), "digest": subject.get("digest")}
    changes: dict[str, Any] = {"state": target}
    changes["resume_to"] = current if target is State.SUSPENDED else None
    if target in (State.SENT, State.RECEIVED) and status.manifest is None:
        changes["manifest"] = ref
    if target in (State.ACCEPTED, State.REJECTED):
        changes["receipt"] = ref
    when = format_time(now) if isinstance(now, datetime) else now
    changes["history"] = (*status.history, (index, action, when, by))
    return attrs.evolve(status, **changes)


def replay(records: Iterable[Any]) -> dict[str, TransferStatus]:
    """Reconstruct every transfer's state from audit records (in log order).

    Records whose action does not start with ``transfer.`` are ignored.

    Raises:
        TransferStateError: A record is malformed or makes an illegal transition (message
            names the record index).
    """
    out: dict[str, TransferStatus] = {}
    for position, record in enumerate(records):
        if not isinstance(record, Mapping):
            continue
        action = record.get("action")
        if not isinstance(action, str) or not action.startswith("transfer."):
            continue
        index = record.get("index", position)
        details = record.get("details")
        subject = record.get("subject")
        if not isinstance(details, Mapping) or not isinstance(subject, Mapping):
            raise TransferStateError(f"audit record {index}: transfer record without details")
        try:
            tid = details["transfer"]
            target = State(details["to"])
            status = out.get(tid)
            current = None if status is None else status.state
            _check(current, target, None if status is None else status.resume_to)
            if status is None:
                agreement = record.get("agreement")
                status = TransferStatus(
                    tid,
                    target,
                    None,
                    dict(agreement) if isinstance(agreement, Mapping) else {},
                    str(details["sender"]),
                    str(details["recipient"]),
                )
            out[tid] = _advance(
                status,
                current,
                target,
                subject=subject,
                index=index,
                action=action,
                now=record.get("time"),
                by=details.get("by"),
            )
        except (KeyError, ValueError, TypeError, TransferStateError) as exc:
            raise TransferStateError(f"audit record {index}: bad transfer record: {exc}") from exc
    return out
