"""Reconciliation data model: inputs (:class:`PartyLog`) and results (logs, transfers, findings).

Rules this module enforces: models are frozen; ``to_dict`` gives the JSON shape used in the
``dta.compliance-report`` (times as RFC 3339 ``Z`` strings, digests as DigestSets); verified
records stay out of the JSON (``LogStatus.records``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from dta._agreement_model import Agreement
from dta._policy_eval import format_time

__all__ = [
    "CheckpointStatus",
    "Cosig",
    "Discrepancy",
    "LogStatus",
    "PartyLog",
    "Reconciliation",
    "TransferRow",
]


@attrs.frozen
class PartyLog:
    """One party's audit log as handed to the auditor.

    Attributes:
        party: Party id in the agreement.
        log: Path or URL of the log (opened read-only with ``AuditLog.open``).
        checkpoints: Signed checkpoint notes (with any cosignature lines), oldest first.
        origin: Expected checkpoint origin (default: whatever the first checkpoint says).
    """

    party: str
    log: str
    checkpoints: tuple[str, ...] = ()
    origin: str | None = None


@attrs.frozen
class Cosig:
    """A verified cosignature: witness key name, kind, owning party (if any) and time."""

    name: str
    kind: str  # "counterparty" | "third-party"
    party: str | None
    time: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "kind": self.kind, "party": self.party, "time": _t(self.time)}


@attrs.frozen
class CheckpointStatus:
    """A checkpoint as verified: size, root, whether the log key signed it, its cosignatures."""

    size: int | None
    root: str | None
    signed: bool
    consistent: bool
    cosignatures: tuple[Cosig, ...]
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "size": self.size,
            "root": self.root,
            "signed": self.signed,
            "consistent": self.consistent,
            "cosignatures": [c.to_dict() for c in self.cosignatures],
            "error": self.error,
        }


@attrs.frozen
class LogStatus:
    """Verification of one party's log; ``records`` holds the verified records checks use."""

    party: str
    url: str
    origin: str | None
    ok: bool
    size: int
    root: str | None
    fault: dict[str, Any] | None
    checkpoints: tuple[CheckpointStatus, ...]
    records: tuple[dict[str, Any], ...] = attrs.field(repr=False, eq=False)

    def cosignatures(self) -> list[Cosig]:
        """Cosignatures on checkpoints that are signed and consistent with the verified log."""
        return [
            c for cp in self.checkpoints if cp.signed and cp.consistent for c in cp.cosignatures
        ]

    def witnessed_size(self, kind: str | None = None) -> int:
        """Largest verified checkpoint size with a cosignature (of ``kind`` if given)."""
        sizes = [
            cp.size or 0
            for cp in self.checkpoints
            if cp.signed
            and cp.consistent
            and any(kind is None or c.kind == kind for c in cp.cosignatures)
        ]
        return max(sizes, default=0)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (without the records)."""
        return {
            "party": self.party,
            "url": self.url,
            "origin": self.origin,
            "ok": self.ok,
            "size": self.size,
            "root": self.root,
            "fault": self.fault,
            "checkpoints": [c.to_dict() for c in self.checkpoints],
            "witnessed_size": self.witnessed_size(),
        }


@attrs.frozen
class Discrepancy:
    """One reconciliation finding: code, message, and the manifest id / party it concerns."""

    code: str
    message: str
    manifest: str | None = None
    party: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``manifest``/``party`` only when set)."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.manifest is not None:
            out["manifest"] = self.manifest
        if self.party is not None:
            out["party"] = self.party
        return out


@attrs.frozen
class TransferRow:
    """One verified manifest and what both logs and the receipts say about it."""

    manifest: str
    digest: str
    sender: str
    recipient: str
    level: str
    categories: tuple[str, ...]
    subjects: Mapping[str, int]
    files: int
    bytes: int
    created: datetime
    deadline: datetime
    sent: datetime | None
    received: datetime | None
    receipt_time: datetime | None
    decision: str | None
    codes: tuple[str, ...]

    @property
    def status(self) -> str:
        """``reconciled`` when no discrepancy, else the first code."""
        return self.codes[0] if self.codes else "reconciled"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "manifest": self.manifest,
            "digest": {"sha256": self.digest},
            "sender": self.sender,
            "recipient": self.recipient,
            "level": self.level,
            "categories": list(self.categories),
            "files": self.files,
            "bytes": self.bytes,
            "created": _t(self.created),
            "deadline": _t(self.deadline),
            "sent": _t(self.sent),
            "received": _t(self.received),
            "receipt": _t(self.receipt_time),
            "decision": self.decision,
            "status": self.status,
            "codes": list(self.codes),
        }


@attrs.frozen
class Reconciliation:
    """The result of :func:`reconcile` (input to the compliance evaluation)."""

    agreement: Agreement
    agreement_note: str | None
    now: datetime
    ack_window: timedelta | None
    logs: tuple[LogStatus, ...]
    transfers: tuple[TransferRow, ...]
    discrepancies: tuple[Discrepancy, ...]
    third_party_witnesses: tuple[str, ...]
    documents: Mapping[str, int]

    def log(self, party: str) -> LogStatus | None:
        """The status of a party's log, or None if it was not presented."""
        return next((s for s in self.logs if s.party == party), None)


def _t(value: datetime | None) -> str | None:
    return None if value is None else format_time(value)
