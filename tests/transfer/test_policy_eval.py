"""The strict ODRL-shaped evaluator: unknown or ill-typed rules are rejected at load time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dta._policy_eval import (
    Constraint,
    Rule,
    Vocabulary,
    compile_rules,
    format_duration,
    parse_duration,
)
from dta.errors import AgreementError

VOCAB = Vocabulary(("public", "internal", "confidential"), frozenset({"a", "b"}), frozenset({"p"}))


def c(left: str, op: str, right: object, action: str = "transfer") -> Constraint:
    return Constraint.from_dict(
        {"leftOperand": left, "operator": op, "rightOperand": right},
        VOCAB,
        action=action,
        where="c",
    )


def test_unknown_constraint_operator_rejected() -> None:
    """An operator outside the vocabulary is rejected when compiling."""
    with pytest.raises(AgreementError, match="unknown or unsupported operator 'matches'"):
        c("purpose", "matches", "p")


def test_operator_not_defined_for_operand_type_rejected() -> None:
    """An ordering operator on a purpose (string) is rejected."""
    with pytest.raises(AgreementError, match="operator 'lt'"):
        c("purpose", "lt", "p")


def test_unknown_left_operand_rejected() -> None:
    """A left operand outside the vocabulary is rejected."""
    with pytest.raises(AgreementError, match="unknown left operand 'industry'"):
        c("industry", "eq", "x")


def test_operand_not_applicable_to_action_rejected() -> None:
    """elapsedTime cannot constrain a transfer (it could never be evaluated)."""
    with pytest.raises(AgreementError, match="cannot constrain action 'transfer'"):
        c("elapsedTime", "lteq", "PT72H")


def test_unknown_action_rejected() -> None:
    """An action outside the vocabulary is rejected."""
    with pytest.raises(AgreementError, match="unknown action 'sell'"):
        Rule.from_dict({"action": "sell"}, "permission", VOCAB, "r")


def test_unknown_constraint_member_rejected() -> None:
    """Extra members on a constraint (e.g. ODRL unit) are rejected, not ignored."""
    with pytest.raises(AgreementError, match="unknown constraint member 'unit'"):
        Constraint.from_dict(
            {"leftOperand": "count", "operator": "lteq", "rightOperand": 5, "unit": "x"},
            VOCAB,
            action="transfer",
            where="c",
        )


def test_duty_outside_permission_rejected() -> None:
    """A duty may only be attached to a permission."""
    with pytest.raises(AgreementError, match="unknown rule member 'duty'"):
        Rule.from_dict({"action": "reIdentify", "duty": []}, "prohibition", VOCAB, "r")


@pytest.mark.parametrize(
    ("left", "op", "right", "message"),
    [
        ("level", "lteq", "secret", "unknown level"),
        ("dateTime", "lt", "yesterday", "RFC 3339"),
        ("dateTime", "lt", "2027-01-01T00:00:00+01:00", "RFC 3339"),
        ("count", "lteq", "5", "non-negative integer"),
        ("count", "lteq", True, "non-negative integer"),
        ("purpose", "eq", "marketing", "not a declared purpose"),
        ("recipient", "eq", "mallory", "not a party"),
        ("category", "isNoneOf", [], "non-empty list"),
        ("category", "isNoneOf", "x", "non-empty list"),
        ("category", "isAnyOf", ["x", "x"], "duplicate"),
        ("purpose", "eq", ["p"], "non-empty string"),
    ],
)
def test_ill_typed_right_operand_rejected(left: str, op: str, right: object, message: str) -> None:
    """A right operand of the wrong type, or one the agreement does not declare, is rejected."""
    with pytest.raises(AgreementError, match=message):
        c(left, op, right)


def test_bad_durations_rejected() -> None:
    """Year/month durations (ambiguous), empty and zero durations are rejected."""
    for text in ("P1Y", "P1M", "P", "PT", "P0D", "30 days", "P1DT"):
        with pytest.raises(AgreementError):
            parse_duration(text, "d")


def test_level_ceiling_orders_levels() -> None:
    """level lteq compares by the agreement's level order, not alphabetically."""
    ceiling = c("level", "lteq", "internal")
    assert ceiling.evaluate(0)
    assert ceiling.evaluate(1)
    assert not ceiling.evaluate(2)


def test_set_operators_semantics() -> None:
    """isPartOf is subset, isNoneOf disjoint, isAnyOf overlap, hasPart superset."""
    assert c("category", "isPartOf", ["x", "y"]).evaluate({"x"})
    assert not c("category", "isPartOf", ["x"]).evaluate({"x", "z"})
    assert c("category", "isNoneOf", ["z"]).evaluate({"x"})
    assert not c("category", "isNoneOf", ["x"]).evaluate({"x", "y"})
    assert c("category", "isAnyOf", ["x"]).evaluate({"x", "y"})
    assert not c("category", "isAnyOf", ["q"]).evaluate(set())
    assert c("category", "hasPart", ["x", "y"]).evaluate({"x", "y", "z"})


def test_datetime_constraint_compares_instants() -> None:
    """dateTime constraints compare aware datetimes."""
    deadline = c("dateTime", "lteq", "2029-06-30T00:00:00Z", action="delete")
    assert deadline.evaluate(datetime(2029, 6, 29, tzinfo=UTC))
    assert not deadline.evaluate(datetime(2029, 6, 30, 0, 0, 1, tzinfo=UTC))


def test_evaluating_with_wrong_type_raises() -> None:
    """Evaluation never coerces: a string for a level is an error."""
    with pytest.raises(AgreementError, match="must be level"):
        c("level", "lteq", "internal").evaluate("internal")


def test_rule_missing_context_value_raises() -> None:
    """A context that lacks an operand the rule needs is an error, not a silent pass."""
    rule = Rule.from_dict(
        {
            "action": "transfer",
            "constraint": [{"leftOperand": "purpose", "operator": "eq", "rightOperand": "p"}],
        },
        "permission",
        VOCAB,
        "r",
    )
    with pytest.raises(AgreementError, match="no value for 'purpose'"):
        rule.failures({})
    assert rule.applies({"purpose": "p"})


def test_policy_unknown_rule_kind_rejected() -> None:
    """A policy member other than permission/prohibition/obligation is rejected."""
    with pytest.raises(AgreementError, match="unknown policy member 'duty'"):
        compile_rules({"duty": []}, VOCAB, "policy")


def test_rule_round_trips_to_dict() -> None:
    """to_dict gives back what was compiled."""
    raw = {
        "uid": "r1",
        "action": "transfer",
        "assigner": "a",
        "assignee": "b",
        "constraint": [{"leftOperand": "category", "operator": "isNoneOf", "rightOperand": ["x"]}],
        "duty": [
            {
                "action": "delete",
                "constraint": [
                    {"leftOperand": "elapsedTime", "operator": "lteq", "rightOperand": "P30D"}
                ],
            }
        ],
    }
    assert Rule.from_dict(raw, "permission", VOCAB, "r").to_dict() == raw


@settings(max_examples=60, deadline=None)
@given(st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=10000)))
def test_duration_format_parse_round_trip(value: timedelta) -> None:
    """format_duration and parse_duration round-trip whole seconds."""
    value = timedelta(seconds=int(value.total_seconds()) or 1)
    assert parse_duration(format_duration(value), "d") == value
