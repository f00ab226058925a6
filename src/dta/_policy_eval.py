"""Strict, typed, ODRL-shaped policy rules: compile at load time, evaluate without surprises.

Rules this module enforces:

* A rule is an ODRL-shaped ``permission``, ``prohibition`` or ``obligation`` (a permission may carry
  ``duty`` rules) with an ``action`` from a closed vocabulary (:data:`ACTIONS`) and ``constraint``
  entries ``{"leftOperand", "operator", "rightOperand"}``. Unknown members, actions, left operands
  and operators are rejected when the agreement is loaded (:class:`~dta.errors.AgreementError`
  naming the JSON path), never silently ignored at evaluation time.
* Every left operand has exactly one type (:data:`OPERANDS`); every operator is allowed only for
  some types; the right operand is parsed to that type at load time (RFC 3339 ``Z`` times, ISO 8601
  durations without years or months, levels from the agreement's ordered level list, party and
  purpose identifiers that the agreement declares).
* Each action admits only the left operands that can be known when it is evaluated (a ``transfer``
  permission may constrain purpose, level, categories, ...; ``notifyIncident`` only elapsed time).
* Evaluation is total: a context that lacks a value the rule needs raises AgreementError (a caller
  bug), a value of the wrong type raises AgreementError, and every result is a plain bool.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

import attrs

from dta.errors import AgreementError

__all__ = [
    "ACTIONS",
    "OPERANDS",
    "OPERATORS",
    "RULE_KINDS",
    "Constraint",
    "Kind",
    "Rule",
    "Vocabulary",
    "compile_rules",
    "format_duration",
    "format_time",
    "parse_duration",
    "parse_time",
]


class Kind(Enum):
    """The type of a left operand."""

    STRING = "string"
    PARTY = "party"
    PURPOSE = "purpose"
    LEVEL = "level"
    SET = "set"
    DATETIME = "dateTime"
    DURATION = "duration"
    INTEGER = "integer"


#: left operand -> its type. Names follow the ODRL 2.2 vocabulary where one exists.
OPERANDS: dict[str, Kind] = {
    "purpose": Kind.PURPOSE,
    "dateTime": Kind.DATETIME,
    "elapsedTime": Kind.DURATION,
    "timeInterval": Kind.DURATION,
    "count": Kind.INTEGER,
    "spatial": Kind.STRING,
    "fileFormat": Kind.STRING,
    "recipient": Kind.PARTY,
    "sender": Kind.PARTY,
    "level": Kind.LEVEL,
    "category": Kind.SET,
}

_LIST_OPS = frozenset({"isAnyOf", "isNoneOf", "isPartOf", "hasPart"})
_ORDER_OPS = ("eq", "neq", "lt", "lteq", "gt", "gteq")

#: type -> operators it admits.
OPERATORS: dict[Kind, frozenset[str]] = {
    Kind.STRING: frozenset({"eq", "neq", "isAnyOf", "isNoneOf"}),
    Kind.PARTY: frozenset({"eq", "neq", "isAnyOf", "isNoneOf"}),
    Kind.PURPOSE: frozenset({"eq", "neq", "isAnyOf", "isNoneOf"}),
    Kind.LEVEL: frozenset({*_ORDER_OPS, "isAnyOf", "isNoneOf"}),
    Kind.DATETIME: frozenset({"eq", "lt", "lteq", "gt", "gteq"}),
    Kind.DURATION: frozenset({"eq", "lt", "lteq", "gt", "gteq"}),
    Kind.INTEGER: frozenset(_ORDER_OPS),
    Kind.SET: frozenset({"isPartOf", "isNoneOf", "isAnyOf", "hasPart"}),
}

#: action -> the left operands a constraint on it may use.
ACTIONS: dict[str, frozenset[str]] = {
    "transfer": frozenset(
        {"purpose", "dateTime", "level", "category", "fileFormat", "recipient", "sender", "count"}
    ),
    "use": frozenset({"purpose", "dateTime", "spatial", "elapsedTime"}),
    "store": frozenset({"spatial", "elapsedTime", "dateTime"}),
    "onwardTransfer": frozenset({"spatial", "purpose", "dateTime", "level", "category"}),
    "reIdentify": frozenset({"dateTime", "category"}),
    "publish": frozenset({"dateTime", "level", "category"}),
    "commercialize": frozenset({"dateTime"}),
    "delete": frozenset({"dateTime", "elapsedTime"}),
    "return": frozenset({"dateTime", "elapsedTime"}),
    "notifyIncident": frozenset({"elapsedTime"}),
    "keepAuditLog": frozenset({"timeInterval", "elapsedTime"}),
    "witnessAuditLog": frozenset({"timeInterval"}),
}

RULE_KINDS = ("permission", "prohibition", "obligation")

_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
_DURATION = re.compile(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")


def parse_time(value: Any, where: str) -> datetime:
    """Parse an RFC 3339 UTC time ending in ``Z``.

    Raises:
        AgreementError: Not a string of that form, or not a real date.
    """
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        raise AgreementError(f"{where}: expected an RFC 3339 UTC time ending in Z")
    try:
        return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)
    except ValueError as exc:
        raise AgreementError(f"{where}: not a valid date/time: {value}") from exc


def format_time(value: datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with ``Z`` (seconds precision)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_duration(value: Any, where: str) -> timedelta:
    """Parse an ISO 8601 duration of weeks, days, hours, minutes, seconds (no years or months).

    Raises:
        AgreementError: Not such a duration, or zero.
    """
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None or value in ("P", "PT") or value.endswith("T") or not any(match.groups()):
        raise AgreementError(f"{where}: expected an ISO 8601 duration such as P30D or PT72H")
    weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    try:
        result = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError as exc:
        raise AgreementError(f"{where}: duration too large") from exc
    if result <= timedelta(0):
        raise AgreementError(f"{where}: duration must be positive")
    return result


def format_duration(value: timedelta) -> str:
    """Format a positive timedelta as an ISO 8601 duration (days and seconds parts)."""
    days, seconds = value.days, value.seconds
    text = "P" + (f"{days}D" if days else "")
    if seconds:
        text += "T" + (f"{seconds // 3600}H" if seconds // 3600 else "")
        text += f"{seconds % 3600 // 60}M" if seconds % 3600 // 60 else ""
        text += f"{seconds % 60}S" if seconds % 60 else ""
    return text


@attrs.frozen
class Vocabulary:
    """What an agreement declares, against which rules are compiled.

    Attributes:
        levels: Classification levels, lowest first.
        parties: Party identifiers.
        purposes: Purpose identifiers.
    """

    levels: tuple[str, ...]
    parties: frozenset[str]
    purposes: frozenset[str]


def _scalar(kind: Kind, value: Any, vocab: Vocabulary, where: str) -> Any:
    if kind is Kind.DATETIME:
        return parse_time(value, where)
    if kind is Kind.DURATION:
        return parse_duration(value, where)
    if kind is Kind.INTEGER:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise AgreementError(f"{where}: expected a non-negative integer")
        return value
    if not isinstance(value, str) or not value:
        raise AgreementError(f"{where}: expected a non-empty string")
    if kind is Kind.LEVEL:
        if value not in vocab.levels:
            raise AgreementError(f"{where}: unknown level {value!r}")
        return vocab.levels.index(value)
    if kind is Kind.PARTY and value not in vocab.parties:
        raise AgreementError(f"{where}: {value!r} is not a party of the agreement")
    if kind is Kind.PURPOSE and value not in vocab.purposes:
        raise AgreementError(f"{where}: {value!r} is not a declared purpose")
    return value


@attrs.frozen
class Constraint:
    """One typed constraint ``leftOperand operator rightOperand``.

    Attributes:
        left: The left operand name (a key of :data:`OPERANDS`).
        operator: The operator name.
        right: The right operand parsed to the operand's type (levels as their rank; lists as
            frozensets).
        raw: The right operand exactly as written (for ``to_dict``).
    """

    left: str
    operator: str
    right: Any
    raw: Any

    @classmethod
    def from_dict(cls, data: Any, vocab: Vocabulary, *, action: str, where: str) -> Constraint:
        """Compile a constraint, checking operand, operator and right-operand type.

        Raises:
            AgreementError: Unknown member, operand or operator; operand not allowed for the
                action; right operand of the wrong type or not declared by the agreement.
        """
        if not isinstance(data, Mapping):
            raise AgreementError(f"{where}: a constraint must be an object")
        unknown = sorted(set(data) - {"leftOperand", "operator", "rightOperand"})
        if unknown:
            raise AgreementError(f"{where}: unknown constraint member {unknown[0]!r}")
        for member in ("leftOperand", "operator", "rightOperand"):
            if member not in data:
                raise AgreementError(f"{where}: missing {member}")
        left, operator, raw = data["leftOperand"], data["operator"], data["rightOperand"]
        if not isinstance(left, str) or left not in OPERANDS:
            raise AgreementError(f"{where}/leftOperand: unknown left operand {left!r}")
        if left not in ACTIONS[action]:
            raise AgreementError(
                f"{where}/leftOperand: {left!r} cannot constrain action {action!r}"
            )
        kind = OPERANDS[left]
        if not isinstance(operator, str) or operator not in OPERATORS[kind]:
            raise AgreementError(
                f"{where}/operator: unknown or unsupported operator {operator!r} for {left!r}"
            )
        rwhere = f"{where}/rightOperand"
        if operator in _LIST_OPS:
            if not isinstance(raw, list) or not raw:
                raise AgreementError(f"{rwhere}: {operator} needs a non-empty list")
            if len({str(v) for v in raw}) != len(raw):
                raise AgreementError(f"{rwhere}: duplicate values")
            element = Kind.STRING if kind is Kind.SET else kind
            right: Any = frozenset(
                _scalar(element, v, vocab, f"{rwhere}/{i}") for i, v in enumerate(raw)
            )
        else:
            right = _scalar(kind, raw, vocab, rwhere)
        return cls(left, operator, right, raw)

    def to_dict(self) -> dict[str, Any]:
        """Return the constraint as written."""
        raw = list(self.raw) if isinstance(self.raw, list) else self.raw
        return {"leftOperand": self.left, "operator": self.operator, "rightOperand": raw}

    def evaluate(self, value: Any) -> bool:
        """Return whether ``value`` (of the operand's type; levels as rank) satisfies this.

        Raises:
            AgreementError: ``value`` has the wrong type for the operand.
        """
        kind = OPERANDS[self.left]
        if kind is Kind.SET:
            if not isinstance(value, frozenset | set | tuple | list):
                raise AgreementError(f"value for {self.left!r} must be a set")
            items = frozenset(value)
            if self.operator == "isPartOf":
                return bool(items <= self.right)
            if self.operator == "isNoneOf":
                return not items & self.right
            if self.operator == "isAnyOf":
                return bool(items & self.right)
            if self.operator == "hasPart":
                return bool(self.right <= items)
            raise AgreementError(f"operator {self.operator!r} not defined for sets")
        _check_type(kind, value, self.left)
        if self.operator == "isAnyOf":
            return value in self.right
        if self.operator == "isNoneOf":
            return value not in self.right
        if self.operator == "eq":
            return bool(value == self.right)
        if self.operator == "neq":
            return bool(value != self.right)
        if self.operator == "lt":
            return bool(value < self.right)
        if self.operator == "lteq":
            return bool(value <= self.right)
        if self.operator == "gt":
            return bool(value > self.right)
        if self.operator == "gteq":
            return bool(value >= self.right)
        raise AgreementError(f"operator {self.operator!r} not defined")

    def describe(self) -> str:
        """Return a short readable form, e.g. ``level lteq 'confidential'``."""
        return f"{self.left} {self.operator} {self.raw!r}"


def _check_type(kind: Kind, value: Any, left: str) -> None:
    expected: type | tuple[type, ...]
    if kind is Kind.DATETIME:
        expected = datetime
    elif kind is Kind.DURATION:
        expected = timedelta
    elif kind in (Kind.INTEGER, Kind.LEVEL):
        expected = int
    else:
        expected = str
    if not isinstance(value, expected) or isinstance(value, bool):
        raise AgreementError(f"value for {left!r} must be {kind.value}")


@attrs.frozen
class Rule:
    """An ODRL-shaped rule.

    Attributes:
        kind: ``permission``, ``prohibition`` or ``obligation`` (``duty`` inside a permission).
        action: A key of :data:`ACTIONS`.
        assigner: Party granting or requiring (optional).
        assignee: Party the rule applies to (optional; absent means every party).
        constraints: All must hold for the rule to apply (ODRL AND semantics).
        duties: Duties attached to a permission.
        uid: Optional identifier.
        description: Optional human text.
    """

    kind: str
    action: str
    assigner: str | None = None
    assignee: str | None = None
    constraints: tuple[Constraint, ...] = ()
    duties: tuple[Rule, ...] = ()
    uid: str | None = None
    description: str | None = None

    @classmethod
    def from_dict(cls, data: Any, kind: str, vocab: Vocabulary, where: str) -> Rule:
        """Compile a rule.

        Raises:
            AgreementError: Unknown member or action, a party that is not in the agreement, a
                duty outside a permission, or any bad constraint (see :class:`Constraint`).
        """
        if not isinstance(data, Mapping):
            raise AgreementError(f"{where}: a rule must be an object")
        allowed = {"uid", "action", "assigner", "assignee", "constraint", "description"}
        if kind == "permission":
            allowed.add("duty")
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise AgreementError(f"{where}: unknown rule member {unknown[0]!r}")
        action = data.get("action")
        if not isinstance(action, str) or action not in ACTIONS:
            raise AgreementError(f"{where}/action: unknown action {action!r}")
        parties: dict[str, str | None] = {}
        for role in ("assigner", "assignee"):
            value = data.get(role)
            if value is not None and (not isinstance(value, str) or value not in vocab.parties):
                raise AgreementError(f"{where}/{role}: {value!r} is not a party of the agreement")
            parties[role] = value
        for member in ("uid", "description"):
            if member in data and not isinstance(data[member], str):
                raise AgreementError(f"{where}/{member}: expected a string")
        raw_constraints = data.get("constraint", [])
        if not isinstance(raw_constraints, list):
            raise AgreementError(f"{where}/constraint: expected a list")
        constraints = tuple(
            Constraint.from_dict(c, vocab, action=action, where=f"{where}/constraint/{i}")
            for i, c in enumerate(raw_constraints)
        )
        raw_duties = data.get("duty", [])
        if not isinstance(raw_duties, list):
            raise AgreementError(f"{where}/duty: expected a list")
        duties = tuple(
            cls.from_dict(d, "obligation", vocab, f"{where}/duty/{i}")
            for i, d in enumerate(raw_duties)
        )
        return cls(
            kind,
            action,
            parties["assigner"],
            parties["assignee"],
            constraints,
            duties,
            data.get("uid"),
            data.get("description"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the rule in its JSON form (only members that are set)."""
        out: dict[str, Any] = {}
        if self.uid is not None:
            out["uid"] = self.uid
        out["action"] = self.action
        if self.assigner is not None:
            out["assigner"] = self.assigner
        if self.assignee is not None:
            out["assignee"] = self.assignee
        if self.constraints:
            out["constraint"] = [c.to_dict() for c in self.constraints]
        if self.duties:
            out["duty"] = [d.to_dict() for d in self.duties]
        if self.description is not None:
            out["description"] = self.description
        return out

    def failures(self, context: Mapping[str, Any]) -> list[Constraint]:
        """Return the constraints that ``context`` (operand -> value) does not satisfy.

        Raises:
            AgreementError: The context lacks an operand a constraint needs, or a value has the
                wrong type.
        """
        failed = []
        for constraint in self.constraints:
            if constraint.left not in context:
                raise AgreementError(
                    f"cannot evaluate {constraint.describe()}: no value for {constraint.left!r}"
                )
            if not constraint.evaluate(context[constraint.left]):
                failed.append(constraint)
        return failed

    def applies(self, context: Mapping[str, Any]) -> bool:
        """Return whether every constraint holds (ODRL: the rule is in effect).

        Raises:
            AgreementError: As :meth:`failures`.
        """
        return not self.failures(context)


def compile_rules(data: Any, vocab: Vocabulary, where: str) -> dict[str, tuple[Rule, ...]]:
    """Compile an ODRL-shaped policy object ``{permission, prohibition, obligation}``.

    Raises:
        AgreementError: Unknown member or any bad rule.
    """
    if not isinstance(data, Mapping):
        raise AgreementError(f"{where}: expected an object")
    unknown = sorted(set(data) - {*RULE_KINDS, "profile", "uid"})
    if unknown:
        raise AgreementError(f"{where}: unknown policy member {unknown[0]!r}")
    out: dict[str, tuple[Rule, ...]] = {}
    for kind in RULE_KINDS:
        raw = data.get(kind, [])
        if not isinstance(raw, Sequence) or isinstance(raw, str):
            raise AgreementError(f"{where}/{kind}: expected a list")
        out[kind] = tuple(
            Rule.from_dict(r, kind, vocab, f"{where}/{kind}/{i}") for i, r in enumerate(raw)
        )
    return out
