"""The shipped examples: default policy copy and sample report stay in sync with the package."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from dta import canonical_bytes, schemas
from dta._json import loads
from dta.classify import default_policy_bytes, load_policy


def test_example_policy_equals_packaged_default(repo_root: Path) -> None:
    """examples/classification/default-policy.json is the packaged default policy."""
    example = loads((repo_root / "examples/classification/default-policy.json").read_bytes())
    assert canonical_bytes(example) == canonical_bytes(loads(default_policy_bytes()))
    schemas.validate(example)


def test_sample_report_valid_and_current(repo_root: Path) -> None:
    """The sample report validates and equals a fresh scan of the sample tree."""
    path = repo_root / "examples/classification/sample-report.json"
    committed = loads(path.read_bytes())
    schemas.validate(committed)
    spec = importlib.util.spec_from_file_location(
        "make_classification_example", repo_root / "examples/classification/make_example.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fresh = json.loads(json.dumps(module.build()))
    assert fresh == committed
    assert committed["policy"]["digest"]["sha256"] == load_policy().digest
    assert committed["level"] == "restricted"
