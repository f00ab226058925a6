"""RFC 8785 vectors through dta.loads + dta.canonical_bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

import dta


def _cases(vectors: Path) -> list[str]:
    return sorted(p.name for p in (vectors / "jcs" / "input").glob("*.json"))


@pytest.mark.parametrize(
    "name",
    ["arrays.json", "french.json", "structures.json", "unicode.json", "values.json", "weird.json"],
)
def test_jcs_vector_canonical_bytes_exact(vectors: Path, name: str) -> None:
    """Each shared RFC 8785 vector canonicalises to exactly its expected bytes."""
    assert name in _cases(vectors)
    value = dta.loads((vectors / "jcs" / "input" / name).read_bytes(), allow_floats=True)
    assert dta.canonical_bytes(value) == (vectors / "jcs" / "output" / name).read_bytes()
