"""Audit records: the model, the action vocabulary and the one-line wire form.

Rules this module enforces:

* A record is exactly the members ``_type`` (``"dta.audit-record"``), ``spec_version`` (``"1.0"``),
  ``index`` (0-based), ``time`` (RFC 3339 UTC with ``Z``), ``actor`` (party id), ``action``,
  ``subject`` (``{"_type", "id", "digest": {"sha256"}}``), ``agreement`` (``{"id", "digest"}`` or
  ``null``), ``details`` (an object, possibly empty) and ``prev`` (lowercase hex leaf hash of record
  ``index - 1``; 64 ``0`` characters at index 0). No other member is allowed.
* Its line is ``canonical_bytes(record)`` (RFC 8785) without a newline, at most 65,535 bytes.
  Leaf hash = ``SHA-256(0x00 || line)`` (RFC 9162): the same hash is the chain link and the leaf.
* ``action`` is one of :data:`ACTIONS` (the documented core vocabulary) or a namespaced custom
  action ``x-<namespace>.<name>[.<name>...]`` (lowercase letters, digits, ``-``/``_``), e.g.
  ``x-acme.model.trained``; anything else is rejected.
* ``details`` holds any canonical-JSON-safe value (no floats, integers within +-(2**53-1)).
* Bad events and records raise :class:`dta.errors.SchemaError` naming the member.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from dta._json import canonical_bytes
from dta.errors import CanonicalError, SchemaError

__all__ = [
    "ACTIONS",
    "GENESIS_PREV",
    "MAX_LINE",
    "RECORD_TYPE",
    "SPEC_VERSION",
    "AuditRecord",
    "build_line",
    "check_action",
    "check_record",
    "format_time",
]

RECORD_TYPE = "dta.audit-record"
SPEC_VERSION = "1.0"
MAX_LINE = 65_535
GENESIS_PREV = "0" * 64

#: Core action vocabulary: action -> what it records.
ACTIONS: dict[str, str] = {
    "agreement.proposed": "an agreement draft was sent to the partners",
    "agreement.signed": "a party signed the agreement (subject: the agreement)",
    "agreement.amended": "an amendment took effect (subject: the amended agreement)",
    "agreement.suspended": "the agreement was suspended",
    "agreement.terminated": "the agreement was terminated",
    "transfer.requested": "a transfer was requested (subject: the request or manifest)",
    "transfer.agreed": "a transfer was approved under the agreement",
    "transfer.sent": "a signed manifest and its data were sent (subject: the manifest)",
    "transfer.received": "data and manifest were received (subject: the manifest)",
    "transfer.accepted": "the recipient accepted the transfer (subject: the receipt)",
    "transfer.rejected": "the recipient rejected the transfer (subject: the receipt)",
    "transfer.suspended": "a transfer was suspended",
    "transfer.resumed": "a suspended transfer was resumed",
    "transfer.terminated": "a transfer was terminated",
    "data.classified": "data was classified (subject: the classification report)",
    "data.accessed": "transferred data was accessed",
    "data.deleted": "transferred data was deleted",
    "data.returned": "transferred data was returned to the sender",
    "incident.reported": "a security or compliance incident was reported",
    "key.added": "a key was added to a registry",
    "key.rotated": "a key was rotated",
    "key.revoked": "a key was revoked",
    "checkpoint.published": "a log checkpoint was published",
    "checkpoint.witnessed": "a partner's checkpoint was witnessed (subject: the checkpoint)",
    "log.repaired": "a torn log tail was moved aside by an explicit repair",
}

_CUSTOM = re.compile(r"x-[a-z0-9]+(?:-[a-z0-9]+)*(?:\.[a-z][a-z0-9_-]{0,63}){1,4}\Z")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_TEXT = re.compile(r"[^\x00-\x1f\x7f]{1,1024}\Z")
_MEMBERS = frozenset(
    {"_type", "spec_version", "index", "time", "actor", "action"}
    | {"subject", "agreement", "details", "prev"}
)
_MAX_INDEX = (1 << 53) - 1


def check_action(action: object) -> str:
    """Return ``action`` if it is a core or namespaced custom action.

    Raises:
        SchemaError: unknown action.
    """
    if isinstance(action, str) and (action in ACTIONS or _CUSTOM.match(action)):
        return action
    raise SchemaError(
        f"action {action!r} is not in the audit vocabulary (custom actions: x-<ns>.<name>)",
        pointer="/action",
    )


def format_time(now: datetime | None = None) -> str:
    """RFC 3339 UTC time with ``Z`` and microseconds (the current time when ``now`` is None).

    Raises:
        SchemaError: ``now`` is naive.
    """
    when = datetime.now(UTC) if now is None else now
    if when.tzinfo is None:
        raise SchemaError("time must be timezone-aware", pointer="/time")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text(value: object, pointer: str) -> str:
    if isinstance(value, str) and _TEXT.match(value):
        return value
    raise SchemaError("must be a non-empty string without control characters", pointer=pointer)


def _digest(value: object, pointer: str) -> None:
    if not isinstance(value, dict) or value.keys() != {"sha256"}:
        raise SchemaError('must be {"sha256": <hex>}', pointer=pointer)
    if not isinstance(value["sha256"], str) or not _HEX64.match(value["sha256"]):
        raise SchemaError("must be 64 lowercase hex characters", pointer=pointer + "/sha256")


def _check_time(value: object) -> None:
    if not isinstance(value, str) or not _TIME.match(value):
        raise SchemaError("must be RFC 3339 UTC time ending in Z", pointer="/time")
    try:
        datetime.fromisoformat(value[:19])
    except ValueError as exc:
        raise SchemaError("is not a valid date and time", pointer="/time") from exc


def _check_refs(rec: Mapping[str, Any]) -> None:
    subject = rec.get("subject")
    if not isinstance(subject, dict) or subject.keys() != {"_type", "id", "digest"}:
        raise SchemaError('must be {"_type", "id", "digest"}', pointer="/subject")
    _text(subject["_type"], "/subject/_type")
    _text(subject["id"], "/subject/id")
    _digest(subject["digest"], "/subject/digest")
    agreement = rec.get("agreement")
    if agreement is not None:
        if not isinstance(agreement, dict) or agreement.keys() != {"id", "digest"}:
            raise SchemaError('must be {"id", "digest"} or null', pointer="/agreement")
        _text(agreement["id"], "/agreement/id")
        _digest(agreement["digest"], "/agreement/digest")


def check_record(rec: object) -> dict[str, Any]:
    """Check every rule of a parsed record (not its chain position) and return it.

    Raises:
        SchemaError: a member is missing, extra or malformed (the pointer names it).
    """
    if not isinstance(rec, dict):
        raise SchemaError("audit record must be a JSON object")
    if rec.keys() != _MEMBERS:
        extra = sorted(rec.keys() - _MEMBERS)
        missing = sorted(_MEMBERS - rec.keys())
        raise SchemaError(f"audit record members: missing {missing}, unexpected {extra}")
    if rec["_type"] != RECORD_TYPE:
        raise SchemaError(f"_type must be {RECORD_TYPE!r}", pointer="/_type")
    if rec["spec_version"] != SPEC_VERSION:
        raise SchemaError(
            f"unsupported spec_version {rec['spec_version']!r}", pointer="/spec_version"
        )
    index = rec["index"]
    if type(index) is not int or not 0 <= index <= _MAX_INDEX:
        raise SchemaError("must be a non-negative integer", pointer="/index")
    _check_time(rec["time"])
    _text(rec["actor"], "/actor")
    check_action(rec["action"])
    _check_refs(rec)
    if not isinstance(rec["details"], dict):
        raise SchemaError("must be a JSON object", pointer="/details")
    prev = rec["prev"]
    if not isinstance(prev, str) or not _HEX64.match(prev):
        raise SchemaError("must be 64 lowercase hex characters", pointer="/prev")
    return rec


def build_line(
    event: Mapping[str, Any], index: int, prev: bytes, *, now: datetime | None = None
) -> bytes:
    """Build the canonical line of the record for ``event`` at ``index`` after leaf ``prev``.

    Args:
        event: ``actor``, ``action``, ``subject``; optional ``agreement``, ``details``, ``time``.
        index: The record's index.
        prev: Leaf hash (32 bytes) of record ``index - 1``; 32 zero bytes at index 0.
        now: Time to stamp when the event has no ``time``.

    Returns:
        The record's canonical bytes (no newline).

    Raises:
        SchemaError: the event is malformed, or the line is over 65,535 bytes.
    """
    if not isinstance(event, Mapping):
        raise SchemaError("audit event must be an object")
    allowed = {"actor", "action", "subject", "agreement", "details", "time"}
    unknown = sorted(set(event) - allowed)
    if unknown:
        raise SchemaError(f"audit event has unexpected members {unknown}")
    for name in ("actor", "action", "subject"):
        if name not in event:
            raise SchemaError(f"audit event is missing {name!r}", pointer=f"/{name}")
    details = event.get("details")
    record = {
        "_type": RECORD_TYPE,
        "spec_version": SPEC_VERSION,
        "index": index,
        "time": event["time"] if event.get("time") is not None else format_time(now),
        "actor": event["actor"],
        "action": event["action"],
        "subject": event["subject"],
        "agreement": event.get("agreement"),
        "details": {} if details is None else details,
        "prev": prev.hex(),
    }
    check_record(record)
    try:
        line = canonical_bytes(record)
    except CanonicalError as exc:
        raise SchemaError(f"audit event is not canonical-JSON-safe: {exc}") from exc
    if len(line) > MAX_LINE:
        raise SchemaError(f"audit record is {len(line)} bytes; the limit is {MAX_LINE}")
    return line


@attrs.frozen
class AuditRecord:
    """One parsed, checked audit record (see the module rules)."""

    index: int
    time: str
    actor: str
    action: str
    subject: dict[str, Any]
    agreement: dict[str, Any] | None
    details: dict[str, Any]
    prev: str

    @classmethod
    def from_dict(cls, doc: object) -> AuditRecord:
        """Build from a parsed record (the input is not mutated or kept).

        Raises:
            SchemaError: the record breaks a rule.
        """
        rec = check_record(doc)
        copy: dict[str, Any] = _deep_copy(rec)
        return cls(
            index=copy["index"],
            time=copy["time"],
            actor=copy["actor"],
            action=copy["action"],
            subject=copy["subject"],
            agreement=copy["agreement"],
            details=copy["details"],
            prev=copy["prev"],
        )

    def to_dict(self) -> dict[str, Any]:
        """The record as a new JSON object."""
        return {
            "_type": RECORD_TYPE,
            "spec_version": SPEC_VERSION,
            "index": self.index,
            "time": self.time,
            "actor": self.actor,
            "action": self.action,
            "subject": _deep_copy(self.subject),
            "agreement": _deep_copy(self.agreement),
            "details": _deep_copy(self.details),
            "prev": self.prev,
        }

    def line(self) -> bytes:
        """The canonical line (no newline)."""
        return canonical_bytes(self.to_dict())

    def leaf_hash(self) -> bytes:
        """RFC 9162 leaf hash of :meth:`line`."""
        return hashlib.sha256(b"\x00" + self.line()).digest()


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value
