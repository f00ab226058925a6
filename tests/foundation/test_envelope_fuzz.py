"""Fuzzing envelope verification and DSSE import: only dta.errors may escape."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dta import envelope, keys, loads
from dta.errors import Error

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
_ED = keys.generate()
_EC = keys.generate("ecdsa-p256-sha256")
REG = keys.KeyRegistry()
REG.add(_ED.public_key, "alice")
REG.add(_EC.public_key, "bob")
BODY = {"_type": "dta.key-registry", "spec_version": "1.0", "keys": [_ED.public_key.to_dict()]}
VALID = envelope.add_signature(envelope.sign(BODY, _ED), _EC)
DSSE = envelope.to_dsse(VALID)

json_scalars = st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.text(max_size=12)
json_values = st.recursive(
    json_scalars | st.floats(allow_nan=True),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """A copy of ``base`` with one to three random edits (replace, delete, insert)."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            return draw(json_values)
        path = draw(st.sampled_from(paths))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "delete", "insert", "string"]))
        last = path[-1]
        if action == "replace":
            parent[last] = draw(json_values)
        elif action == "delete":
            del parent[last]
        elif action == "insert" and isinstance(parent, dict):
            parent[draw(st.text(max_size=6))] = draw(json_values)
        elif action == "insert":
            parent.insert(last, draw(json_values))
        elif isinstance(parent[last], str) and parent[last]:
            text = parent[last]
            i = draw(st.integers(0, len(text) - 1))
            parent[last] = text[:i] + draw(st.characters(max_codepoint=0x2FF)) + text[i + 1 :]
    return doc


def _only_dta_errors(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except Error:
        return None


@FUZZ
@given(json_values)
def test_verify_random_values_only_raise_dta_errors(value: Any) -> None:
    """verify on arbitrary JSON-like values raises only dta errors."""
    assert _only_dta_errors(envelope.verify, value, REG, now=NOW) is None
    assert not envelope.verify_result(value, REG, now=NOW).ok


@FUZZ
@given(mutated(VALID))
def test_verify_mutated_documents_only_raise_dta_errors(doc: Any) -> None:
    """verify on mutated valid documents returns the exact body or raises a dta error."""
    got = _only_dta_errors(envelope.verify, doc, REG, now=NOW)
    assert got is None or got == BODY


@FUZZ
@given(mutated(DSSE))
def test_dsse_import_and_verify_of_mutations_only_raise_dta_errors(env: Any) -> None:
    """from_dsse and verify_dsse on mutated envelopes raise only dta errors."""
    doc = _only_dta_errors(envelope.from_dsse, env, registry=REG)
    if doc is not None:
        got = _only_dta_errors(envelope.verify, doc, REG, now=NOW)
        assert got is None or got == BODY
    _only_dta_errors(envelope.verify_dsse, env, REG, now=NOW)


@FUZZ
@given(st.binary(max_size=300) | st.builds(lambda b: b"{" + b, st.binary(max_size=200)))
def test_random_bytes_through_loads_and_verify_only_raise_dta_errors(data: bytes) -> None:
    """Random bytes parsed and verified raise only dta errors."""
    value = _only_dta_errors(loads, data)
    assert _only_dta_errors(envelope.verify, value, REG, now=NOW) is None
