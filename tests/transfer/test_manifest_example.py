"""The sample transfer in examples/transfer validates and matches its data directory."""

from __future__ import annotations

from pathlib import Path

from dta import loads, schemas
from dta.manifest import verify_tree


def test_example_manifest_validates_and_matches_its_tree(repo_root: Path) -> None:
    """examples/transfer/manifest.json passes its schema and verify_tree on data/."""
    here = repo_root / "examples" / "transfer"
    body = loads((here / "manifest.json").read_bytes())
    schemas.validate(body)
    check = verify_tree(body, here / "data")
    assert check.ok, check.findings
    assert check.files == 3


def test_example_manifest_items_follow_the_report(repo_root: Path) -> None:
    """Each item's level and categories are the report entry's for the same path."""
    here = repo_root / "examples" / "transfer"
    body = loads((here / "manifest.json").read_bytes())
    report = {e["path"]: e for e in loads((here / "report.json").read_bytes())["files"]}
    for item in body["items"]:
        entry = report[item["path"]]
        assert (item["level"], item["categories"]) == (entry["level"], entry["categories"])
        assert item["digest"]["sha256"] == entry["sha256"]
    assert body["policy"] == loads((here / "report.json").read_bytes())["policy"]
