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
from typing import Any, NamedTuple

import attrs

from dta._json import MAX_DEPTH, canonical_bytes, loads_canonical
from dta._json_walk import levels as _levels
from dta.audit._actions import ACTIONS
from dta.audit._record_bytes import MAX_LINE, line_fast_ok, line_fast_ok_cached, line_index_prev
from dta.errors import CanonicalError, JSONError, SchemaError

__all__ = [
    "ACTIONS",
    "GENESIS_PREV",
    "MAX_LINE",
    "RECORD_TYPE",
    "SPEC_VERSION",
    "AuditRecord",
    "PreparedRecord",
    "build_line",
    "check_action",
    "check_record",
    "format_time",
    "prepare_record",
    "record_line",
]

RECORD_TYPE = "dta.audit-record"
SPEC_VERSION = "1.0"
GENESIS_PREV = "0" * 64


_CUSTOM = re.compile(r"x-[a-z0-9]+(?:-[a-z0-9]+)*(?:\.[a-z][a-z0-9_-]{0,63}){1,4}\Z")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_TEXT = re.compile(r"[^\x00-\x1f\x7f]{1,1024}\Z")
_MEMBERS = frozenset(
    {"_type", "spec_version", "index", "time", "actor", "action"}
    | {"subject", "agreement", "details", "prev"}
)
_MAX_INDEX = (1 << 53) - 1
_MAX_INDEX_DIGITS = len(str(_MAX_INDEX))


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
    when = when.astimezone(UTC)
    if when.year >= 1000:  # the same text as strftime, which does not zero-pad years < 1000
        return when.isoformat(timespec="microseconds")[:-6] + "Z"  # "+00:00" -> "Z"
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


_SUBJECT_KEYS = frozenset({"_type", "id", "digest"})
_AGREEMENT_KEYS = frozenset({"id", "digest"})
_DIGEST_KEYS = frozenset({"sha256"})
_iso = datetime.fromisoformat


def _text_ok(s: Any) -> bool:
    return type(s) is str and 0 < len(s) <= 1024 and s.isprintable()


def _hex_ok(s: Any) -> bool:
    # 64 characters that decode to 32 bytes leave no room for whitespace; lower() bans A-F.
    return type(s) is str and len(s) == 64 and len(_fromhex(s)) == 32 and s == s.lower()


_fromhex = bytes.fromhex
_time_match = _TIME.match


def _time_ok(t: Any) -> bool:
    if type(t) is not str or not _time_match(t):
        return False
    _iso(t[:19])  # ValueError for an impossible date or time
    return True


def _digest_ok(d: Any) -> bool:
    return type(d) is dict and d.keys() == _DIGEST_KEYS and _hex_ok(d["sha256"])


def _fast_ok(rec: Any) -> bool:
    """True if ``rec`` certainly passes every check (the verifier's hot path); else False.

    Stricter than the full check in places (printable text only); False sends the record to
    the full check, which decides and names the failing member.
    """
    try:
        if not (
            type(rec) is dict
            and rec.keys() == _MEMBERS
            and rec["_type"] == RECORD_TYPE
            and rec["spec_version"] == SPEC_VERSION
            and type(rec["index"]) is int
            and 0 <= rec["index"] <= _MAX_INDEX
            and rec["action"] in ACTIONS
            and _text_ok(rec["actor"])
            and type(rec["details"]) is dict
            and _hex_ok(rec["prev"])
            and _time_ok(rec["time"])
        ):
            return False
        s = rec["subject"]
        if not (
            type(s) is dict
            and s.keys() == _SUBJECT_KEYS
            and _text_ok(s["_type"])
            and _text_ok(s["id"])
            and _digest_ok(s["digest"])
        ):
            return False
        a = rec["agreement"]
        return a is None or (
            type(a) is dict
            and a.keys() == _AGREEMENT_KEYS
            and _text_ok(a["id"])
            and _digest_ok(a["digest"])
        )
    except (ValueError, TypeError, KeyError, IndexError):
        return False


def check_record(rec: object) -> dict[str, Any]:
    """Check every rule of a parsed record (not its chain position) and return it.

    Raises:
        SchemaError: a member is missing, extra or malformed (the pointer names it).
    """
    if _fast_ok(rec):
        return rec  # type: ignore[return-value]
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


_EVENT_MEMBERS = frozenset({"actor", "action", "subject", "agreement", "details", "time"})
_REQUIRED = ("actor", "action", "subject")


def _check_event(event: object) -> None:
    """Raise the SchemaError for an event that is not a Mapping of the allowed members."""
    if not isinstance(event, Mapping):
        raise SchemaError("audit event must be an object")
    unknown = sorted(set(event) - _EVENT_MEMBERS)
    if unknown:
        raise SchemaError(f"audit event has unexpected members {unknown}")
    for name in _REQUIRED:
        if name not in event:
            raise SchemaError(f"audit event is missing {name!r}", pointer=f"/{name}")


def prepare_record(event: Mapping[str, Any], *, now: datetime | None = None) -> PreparedRecord:
    """Check ``event`` and return its record with index 0 and genesis ``prev`` (to be set later).

    The record is serialised once, here, so later changes by the caller cannot alter it.

    Which lines a verifier accepts is decided without re-parsing the line (docs/adr/0096):
    ``canonical_bytes`` returned the RFC 8785 form of the record, and the C type walk finds only
    exact ``dict``/``list``/``tuple``/``str``/``int``/``bool``/``None`` on at most ``MAX_DEPTH``
    levels (no float, nothing JSON lacks). Such a line is strict, canonical JSON whose value
    equals the record, so ``loads_canonical`` accepts it and returns that value, and the record
    rules give the same verdict on the record as on the parsed line: the verifier's byte check
    (``line_fast_ok_cached``, valid because the line is the record's canonical form), else
    :func:`check_record`. Anything the walk refuses (floats, Mapping or str subclasses, very
    deep values) takes the parsing path below, which decides and names the problem.

    Args:
        event: ``actor``, ``action``, ``subject``; optional ``agreement``, ``details``, ``time``.
        now: Time to stamp when the event has no ``time``.

    Returns:
        The record's canonical bytes with index and prev left to :meth:`PreparedRecord.line`.

    Raises:
        SchemaError: the event is malformed, not canonical-JSON-safe, or its record would be
            over 65,535 bytes.
    """
    if type(event) is not dict or not event.keys() <= _EVENT_MEMBERS:
        _check_event(event)
    try:
        actor, action, subject = event["actor"], event["action"], event["subject"]
    except KeyError:
        _check_event(event)  # names the missing member
        raise
    get = event.get
    time = get("time")
    details = get("details")
    record = {
        "_type": RECORD_TYPE,
        "spec_version": SPEC_VERSION,
        "index": 0,
        "time": format_time(now) if time is None else time,
        "actor": actor,
        "action": action,
        "subject": subject,
        "agreement": get("agreement"),
        "details": {} if details is None else details,
        "prev": GENESIS_PREV,
    }
    try:
        template = canonical_bytes(record)
    except CanonicalError:
        return _prepare_parsed(record)  # names the problem
    if (
        0 < _levels(record, MAX_DEPTH, False) <= MAX_DEPTH
        and len(template) + _MAX_INDEX_DIGITS - 1 <= MAX_LINE
    ):
        if not line_fast_ok_cached(template, record):
            check_record(record)
        cut = template.rfind(_SLOT)
        return PreparedRecord(template[:cut], template[cut + len(_SLOT) :])
    return _prepare_parsed(record)


def _prepare_parsed(record: dict[str, Any]) -> PreparedRecord:
    """:func:`prepare_record` for a record the type walk did not clear: parse and check its line.

    Raises:
        SchemaError: the record is malformed, not canonical-JSON-safe or too long.
    """
    # Exactly what a verifier accepts: its byte check (no parsing), else strict canonical
    # parsing and its record checks.
    try:
        template = record_line(record, 0, bytes(32))
        proved = line_index_prev(template) is not None
        parsed = None if proved else loads_canonical(template, max_size=MAX_LINE)
    except (SchemaError, JSONError) as exc:
        check_record(record)  # a precise message for a malformed member, if that is the cause
        raise SchemaError(f"audit event is not canonical-JSON-safe: {exc}") from exc
    if not proved and not line_fast_ok(template, parsed):
        check_record(record)
    longest = len(template) + _MAX_INDEX_DIGITS - 1  # index 0 -> the largest index
    if longest > MAX_LINE:
        raise SchemaError(f"audit record is {longest} bytes; the limit is {MAX_LINE}")
    cut = template.rfind(_SLOT)
    return PreparedRecord(template[:cut], template[cut + len(_SLOT) :])


_SLOT = b'"index":0,"prev":"' + GENESIS_PREV.encode() + b'"'
_INDEX = b'"index":'
_PREV = b',"prev":"'
_QUOTE = b'"'
_join = b"".join


class PreparedRecord(NamedTuple):
    """A checked record's canonical bytes with its ``index`` and ``prev`` still open.

    In canonical (sorted) member order ``index`` and ``prev`` are adjacent and follow
    ``details``; nothing after them (``spec_version``, ``subject``, ``time``) can hold an object
    member, so the *last* ``"index":0,"prev":"000..."`` in the template is the record's own.
    Replacing its values by another integer and another 64-character lowercase hex string keeps
    the line canonical (same names, same order; neither value needs an escape).
    """

    head: bytes
    tail: bytes

    def line(self, index: int, prev: bytes) -> bytes:
        """The canonical line at ``index`` after leaf ``prev``.

        Raises:
            SchemaError: the line would be over 65,535 bytes.
        """
        line = _join(
            (self.head, _INDEX, b"%d" % index, _PREV, prev.hex().encode(), _QUOTE, self.tail)
        )
        if len(line) > MAX_LINE:
            raise SchemaError(f"audit record is {len(line)} bytes; the limit is {MAX_LINE}")
        return line


def record_line(record: dict[str, Any], index: int, prev: bytes) -> bytes:
    """Set ``index`` and ``prev`` of a record dict and return its canonical line.

    Raises:
        SchemaError: the line is not canonical-JSON-safe or over 65,535 bytes.
    """
    record["index"] = index
    record["prev"] = prev.hex()
    try:
        line = canonical_bytes(record)
    except CanonicalError as exc:
        raise SchemaError(f"audit event is not canonical-JSON-safe: {exc}") from exc
    if len(line) > MAX_LINE:
        raise SchemaError(f"audit record is {len(line)} bytes; the limit is {MAX_LINE}")
    return line


def build_line(
    event: Mapping[str, Any], index: int, prev: bytes, *, now: datetime | None = None
) -> bytes:
    """Build the canonical line of the record for ``event`` at ``index`` after leaf ``prev``.

    Raises:
        SchemaError: the event is malformed, or the line is over 65,535 bytes.
    """
    return prepare_record(event, now=now).line(index, prev)


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
