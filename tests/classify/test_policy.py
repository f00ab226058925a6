"""Policy loading, checking and rule evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dta import schemas
from dta._json import loads
from dta.classify import default_policy_bytes, load_policy, scan_text
from dta.errors import ClassificationError, InputError, JSONError, SchemaError


def _doc() -> dict:
    return loads(default_policy_bytes())


def test_default_policy_valid_and_ordered() -> None:
    """The packaged policy validates and orders public < internal < confidential < restricted."""
    policy = load_policy()
    schemas.validate(policy.to_dict())
    assert policy.levels == ("public", "internal", "confidential", "restricted")
    assert [policy.level_info(lv)["tlp"] for lv in policy.levels] == [
        "TLP:CLEAR",
        "TLP:GREEN",
        "TLP:AMBER",
        "TLP:AMBER+STRICT",
    ]
    assert len(policy.digest) == 64


def test_to_dict_is_a_copy() -> None:
    """to_dict never hands out the policy's own document."""
    policy = load_policy()
    doc = policy.to_dict()
    doc["name"] = "changed"
    assert policy.to_dict()["name"] == "dta-default"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["levels"].append(dict(d["levels"][0])), "duplicate level"),
        (lambda d: d["rules"][0].__setitem__("level", "secret"), "undeclared level"),
        (lambda d: d["rules"][0].__setitem__("categories", ["nope"]), "undeclared category"),
        (lambda d: d["rules"][0]["finding"].__setitem__("type", "dna"), "unknown type"),
        (lambda d: d["rules"].append(dict(d["rules"][0])), "duplicate rule id"),
        (lambda d: d.__setitem__("default_level", "top"), "undeclared level"),
    ],
)
def test_inconsistent_policy_rejected(tmp_path: Path, mutate: object, message: str) -> None:
    """Undeclared or duplicated names are ClassificationErrors naming the file and field."""
    doc = _doc()
    mutate(doc)  # type: ignore[operator]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ClassificationError, match=message) as info:
        load_policy(path)
    assert str(path) in str(info.value)


def test_schema_violation_and_bad_json(tmp_path: Path) -> None:
    """A policy breaking the schema, bad JSON, or a missing file raise typed errors."""
    doc = _doc()
    doc["levels"][0]["tlp"] = "TLP:PURPLE"
    bad = tmp_path / "s.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(SchemaError):
        load_policy(bad)
    dup = tmp_path / "d.json"
    dup.write_text('{"a": 1, "a": 2}', encoding="utf-8")
    with pytest.raises(JSONError):
        load_policy(dup)
    with pytest.raises(InputError):
        load_policy(tmp_path / "missing.json")


def test_custom_rule_min_count_and_likelihood(tmp_path: Path) -> None:
    """A custom rule fires only at its minimum count and likelihood."""
    doc = _doc()
    doc["rules"] = [
        {
            "id": "many-ips",
            "finding": {"type": "ipv4", "min_count": 3, "min_likelihood": "VERY_LIKELY"},
            "level": "restricted",
            "categories": ["network"],
        }
    ]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    policy = load_policy(path)
    two = scan_text("server 10.0.0.1 and server 10.0.0.2", policy=policy, key=b"k" * 16)
    three = scan_text(
        "server 10.0.0.1\nserver 10.0.0.2\nserver 10.0.0.3", policy=policy, key=b"k" * 16
    )
    assert two["level"] == "public"
    assert three["level"] == "restricted"
    assert three["policy"]["digest"]["sha256"] == policy.digest
