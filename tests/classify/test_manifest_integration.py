"""A classification report is what dta.manifest.build_manifest consumes (paths, levels, digests)."""

from __future__ import annotations

from pathlib import Path

from dta.classify import scan_paths
from dta.manifest import build_manifest


def test_report_drives_manifest_levels(tmp_path: Path) -> None:
    """Manifest items take level and categories from the report; the overall level is the max."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("release 2.4.1\n", encoding="utf-8")
    (tmp_path / "ids.csv").write_text("身份证号\n11010519491231002X\n", encoding="utf-8")
    report = scan_paths([tmp_path], key=b"manifest-test-key-0123")
    ref = {
        "id": "urn:uuid:00000000-0000-4000-8000-000000000000",
        "version": 1,
        "digest": {"sha256": "0" * 64},
    }
    body = build_manifest(
        tmp_path,
        agreement_ref=ref,
        sender="a",
        recipient="b",
        purpose="test",
        sequence=1,
        previous=None,
        classification=report,
    )
    items = {i["path"]: i for i in body["items"]}
    assert items["docs/notes.txt"]["level"] == "public"
    assert items["ids.csv"]["level"] == "restricted"
    assert "sensitive-pii" in items["ids.csv"]["categories"]
    assert body["level"] == "restricted"
    assert body["subjects"] == report["subjects"]
    assert body["policy"]["digest"] == report["policy"]["digest"]
