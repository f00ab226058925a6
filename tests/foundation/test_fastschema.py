"""The compiled schema fast path never accepts what jsonschema rejects (differential tests)."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dta import envelope, keys, schemas
from dta._fastschema import Unsupported, compile_schema

SYNTH_ID = "urn:test:synthetic"
SYNTH: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SYNTH_ID,
    "type": "object",
    "required": ["a"],
    "additionalProperties": {"type": ["integer", "null"]},
    "patternProperties": {"^x-": {"type": "string", "maxLength": 3}},
    "minProperties": 1,
    "maxProperties": 6,
    "properties": {
        "a": {"enum": [1, "one", True, None, [1], {"k": 1}]},
        "b": {"const": 2},
        "c": {
            "type": "array",
            "prefixItems": [{"type": "string"}],
            "items": {"type": "integer"},
            "uniqueItems": True,
            "minItems": 1,
            "maxItems": 3,
        },
        "d": {"type": "string", "pattern": "^[a-c]+$", "minLength": 2},
        "e": {"type": "number", "minimum": 0, "exclusiveMaximum": 10, "multipleOf": 2},
        "f": {"oneOf": [{"type": "integer"}, {"type": "number", "maximum": 1}]},
        "g": {"anyOf": [{"type": "boolean"}, {"not": {"type": "string"}}]},
        "h": {"$ref": "#/$defs/tree"},
        "i": {"allOf": [{"type": "integer"}, {"exclusiveMinimum": 0}]},
        "zz": {
            "if": {"type": "array"},
            "then": {"maxItems": 1},
            "else": {"type": ["string", "object"], "required": ["k"]},
        },
        "x-b": {"if": {"type": "string"}, "else": {"const": None}},
    },
    "$defs": {
        "tree": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "v": {"type": "integer"},
                "kids": {"type": "array", "items": {"$ref": "#/$defs/tree"}},
            },
        }
    },
}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 12)
    | st.sampled_from([0.0, 1.0, 2.0, 0.5, 4.0, 11.0])
    | st.sampled_from(["", "a", "ab", "abc", "abd", "one", "x", "xyzw"])
)
values = st.recursive(
    scalars,
    lambda c: (
        st.lists(c, max_size=4)
        | st.dictionaries(st.sampled_from(["v", "kids", "k", "a", "x-1", "z"]), c, max_size=3)
    ),
    max_leaves=10,
)
documents = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h", "i", "x-a", "x-b", "zz"]),
    values,
    max_size=7,
)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _jsonschema(sid: str, resources: dict[str, Any]) -> jsonschema.Draft202012Validator:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    registry: Registry[Any] = Registry().with_resources(
        (k, Resource.from_contents(v, default_specification=DRAFT202012))
        for k, v in resources.items()
    )
    return jsonschema.Draft202012Validator(resources[sid], registry=registry)


SYNTH_FAST = compile_schema(SYNTH_ID, {SYNTH_ID: SYNTH})
SYNTH_SLOW = _jsonschema(SYNTH_ID, {SYNTH_ID: SYNTH})


@FUZZ
@given(documents)
def test_fast_path_agrees_with_jsonschema_on_synthetic_schema(doc: dict[str, Any]) -> None:
    """On a schema using every implemented keyword, fast and jsonschema agree exactly."""
    assert SYNTH_FAST(doc) == SYNTH_SLOW.is_valid(doc)


@pytest.mark.parametrize(
    ("doc", "valid"),
    [
        ({"a": True}, True),
        ({"a": 1.0}, True),
        ({"a": 0}, False),
        ({"a": [True]}, False),
        ({"a": 1, "c": ["s", 1, True]}, False),
        ({"a": 1, "c": ["s", 1, 1.0]}, False),
        ({"a": 1, "e": 4.0}, True),
        ({"a": 1, "f": 0.0}, False),
        ({"a": 1, "h": {"kids": [{"kids": [{"v": "x"}]}]}}, False),
        ({"a": 1, "x-a": "abcd"}, False),
        ({"a": 1, "zz": [1, 2]}, False),
        ({"a": 1, "zz": "s"}, True),
        ({"a": 1, "zz": {"v": 1}}, False),
    ],
)
def test_fast_path_edge_cases(doc: dict[str, Any], valid: bool) -> None:
    """Booleans are not numbers, 1.0 is an integer, refs recurse, patterns gate properties."""
    assert SYNTH_SLOW.is_valid(doc) is valid
    assert SYNTH_FAST(doc) is valid


def test_unsupported_keywords_fall_back() -> None:
    """A keyword the fast path does not implement makes compilation refuse."""
    for extra in ({"unevaluatedProperties": False}, {"$dynamicRef": "#x"}, {"contains": {}}):
        schema = {"$id": "urn:x", **extra}
        with pytest.raises(Unsupported):
            compile_schema("urn:x", {"urn:x": schema})


def _packaged() -> dict[str, Any]:
    return {sid: schemas.schema(sid) for sid in schemas.list_schemas()}


def _samples() -> list[Any]:
    signer = keys.generate("ecdsa-p256-sha256")
    reg = keys.KeyRegistry()
    reg.add(signer.public_key, "org:a")
    pub = signer.public_key.to_document("org:a")
    signed = envelope.sign(pub, signer)
    return [pub, reg.to_dict(), signed, envelope.to_dsse(signed)]


@st.composite
def mutations(draw: st.DrawFn) -> Any:
    """A packaged-type sample with one random edit somewhere in it."""
    doc = copy.deepcopy(draw(st.sampled_from(SAMPLES)))
    node = doc
    for _ in range(draw(st.integers(0, 3))):
        if isinstance(node, dict) and node:
            child = node[draw(st.sampled_from(sorted(node)))]
            if isinstance(child, dict | list) and child:
                node = child
    if isinstance(node, dict) and node:
        key = draw(st.sampled_from(sorted(node)))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            node[key] = draw(values)
        elif action == "delete":
            del node[key]
        else:
            node[draw(st.sampled_from(["extra", "x-a", key]))] = draw(values)
    elif isinstance(node, list):
        node.append(draw(values))
    return doc


SAMPLES = _samples()


@FUZZ
@given(mutations())
def test_fast_path_never_accepts_what_jsonschema_rejects(doc: Any) -> None:
    """For every packaged schema: fast says valid => jsonschema says valid."""
    resources = _packaged()
    for sid in resources:
        try:
            fast = compile_schema(sid, resources)
        except Unsupported:
            continue
        if fast(doc):
            assert _jsonschema(sid, resources).is_valid(doc), sid


def test_fast_path_accepts_valid_samples() -> None:
    """The fast path is actually used: it accepts valid documents of my types."""
    resources = _packaged()
    for doc in SAMPLES:
        if "payloadType" in doc:
            sid = schemas.schema_id("dsse")
        elif "signed" in doc:
            sid = schemas.schema_id("envelope")
        else:
            sid = schemas.schema_for_type(doc["_type"], doc["spec_version"])
        assert compile_schema(sid, resources)(doc), sid


def test_fast_path_agrees_with_jsonschema_on_all_examples(repo_root: Any) -> None:
    """Every sample document in examples/ gets the same verdict from both paths."""
    from dta import loads
    from dta.errors import Error

    resources = _packaged()
    checked = 0
    for path in sorted((repo_root / "examples").rglob("*.json")):
        try:
            doc = loads(path.read_bytes())
        except Error:
            continue
        if not isinstance(doc, dict):
            continue
        body = doc.get("signed", doc)
        try:
            sid = schemas.schema_for_type(body.get("_type"), body.get("spec_version"))
        except Error:
            continue
        fast = compile_schema(sid, resources)
        assert fast(body) == _jsonschema(sid, resources).is_valid(body), path
        checked += 1
    assert checked >= 3
