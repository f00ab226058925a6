"""Hostile manifest bodies (validly signed) never crash check_manifest: always a Decision."""

from __future__ import annotations

import contextlib
from typing import Any

from agreement_helpers import NOW, World
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dta.agreement import Decision, check_manifest
from dta.errors import Error

WORLD = World()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = [
    "agreement",
    "sender",
    "recipient",
    "purpose",
    "created",
    "expires",
    "sequence",
    "previous",
    "items",
    "level",
    "categories",
    "subjects",
    "policy",
    "id",
]
ITEM_FIELDS = ["path", "level", "categories", "media_type", "digest", "size"]


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.tuples(st.sampled_from(FIELDS + ITEM_FIELDS), json_values), min_size=1, max_size=3)
)
def test_hostile_manifest_fields_give_a_decision(mutations: list[tuple[str, Any]]) -> None:
    """Any value in any field yields a Decision (or a typed dta error), never a crash."""
    body = WORLD.manifest()
    for field, value in mutations:
        items = body.get("items")
        if field in ITEM_FIELDS:
            if isinstance(items, list) and items and isinstance(items[0], dict):
                items[0][field] = value
        else:
            body[field] = value
    try:
        doc = WORLD.sign_manifest(body)
    except Error:
        return  # not signable (e.g. non-canonical value): nothing to check
    decision = check_manifest(WORLD.agreement, doc, now=NOW)
    assert isinstance(decision, Decision)
    if decision.allowed:
        assert decision.reasons == ()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


AGREEMENT_PATHS = _paths(WORLD.body)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(AGREEMENT_PATHS), json_values)
def test_hostile_agreement_values_raise_typed_errors(path: tuple[Any, ...], value: Any) -> None:
    """Any value replaced anywhere in an agreement body gives a model or a typed dta error."""
    import copy

    from dta.agreement import Agreement

    body = copy.deepcopy(WORLD.body)
    target = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with contextlib.suppress(Error):
        Agreement.from_dict(body)
