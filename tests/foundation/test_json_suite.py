"""JSONTestSuite: every n_ file rejected, y_/i_ files parsed or rejected with a typed error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import dta
from dta.errors import JSONError

# Collection needs the file names; same location rule as the ``vectors`` fixture.
_ROOT = Path(__file__).resolve().parents[2]
_VECTORS = Path(os.environ.get("DTA_VECTORS", _ROOT.parent / "shared" / "vectors"))
SUITE_FILES = sorted(p.name for p in (_VECTORS / "json-test-suite" / "test_parsing").glob("*.json"))


def _suite(vectors: Path) -> Path:
    return vectors / "json-test-suite" / "test_parsing"


def test_suite_is_complete(vectors: Path) -> None:
    """The shared copy of the suite has all 318 parsing cases, 188 of them n_."""
    names = sorted(p.name for p in _suite(vectors).glob("*.json"))
    assert len(names) == 318
    assert sum(n.startswith("n_") for n in names) == 188


@pytest.mark.parametrize("name", [n for n in SUITE_FILES if n.startswith("n_")])
def test_suite_invalid_document_rejected(vectors: Path, name: str) -> None:
    """Every n_ case is rejected with JSONError (floats allowed or not)."""
    data = (_suite(vectors) / name).read_bytes()
    for allow in (False, True):
        with pytest.raises(JSONError):
            dta.loads(data, allow_floats=allow)
        with pytest.raises(JSONError):
            dta.loads_canonical(data, allow_floats=allow)


@pytest.mark.parametrize("name", [n for n in SUITE_FILES if not n.startswith("n_")])
def test_suite_valid_or_implementation_defined_document_parsed_or_typed_error(
    vectors: Path, name: str
) -> None:
    """y_ and i_ cases parse, or are refused by a strict rule with JSONError only."""
    data = (_suite(vectors) / name).read_bytes()
    for allow in (False, True):
        try:
            value = dta.loads(data, allow_floats=allow)
        except JSONError:
            continue
        assert dta.loads(dta.canonical_bytes(value), allow_floats=allow) == value
    for allow in (False, True):
        try:
            dta.loads_canonical(data, allow_floats=allow)
        except JSONError:
            continue
