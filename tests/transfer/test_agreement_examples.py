"""The signed samples in examples/agreement validate and verify (see make_example.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dta import keys, loads, schemas
from dta.agreement import new_agreement, verify_agreement
from dta.errors import SchemaError

AT = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def sample(repo_root: Path, name: str) -> Any:
    return loads((repo_root / "examples" / "agreement" / name).read_bytes())


def test_sample_agreement_and_amendment_verify(repo_root: Path) -> None:
    """Version 1 verifies with pinned keys; version 2 verifies as its amendment."""
    v1, v2 = (
        sample(repo_root, "agreement.signed.json"),
        sample(repo_root, "amendment-v2.signed.json"),
    )
    pinned = keys.KeyRegistry.from_dict(sample(repo_root, "keys.json"))
    for doc in (v1, v2):
        schemas.validate(doc)
    first = verify_agreement(v1, now=AT, trusted=pinned)
    second = verify_agreement(v2, now=AT, previous=v1, trusted=pinned)
    assert (first.version, second.version) == (1, 2)
    assert second.previous == first.digest
    assert {p.jurisdiction for p in first.parties} == {"US-MI", "CN-JS"}


def test_sample_spec_template_builds_once_keys_are_filled(repo_root: Path) -> None:
    """The template has every member a real agreement needs (keys are filled by the script)."""
    spec = sample(repo_root, "spec.template.json")
    assert all(p["keys"] == [] for p in spec["parties"])
    with pytest.raises(SchemaError, match="keys"):
        new_agreement(spec)
