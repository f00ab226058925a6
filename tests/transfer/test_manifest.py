"""build_manifest and verify_tree: body shape, classification, hostile trees and manifests."""

from __future__ import annotations

import copy
import hashlib
import os
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from agreement_helpers import CN, NOW, US, World

from dta import agreement, canonical_bytes, envelope, loads, schemas
from dta.errors import InputError, ManifestError, UsageError
from dta.manifest import (
    TreeCheck,
    UnsafeTreeError,
    build_manifest,
    media_type,
    verify_tree,
)

REF = {"id": "urn:uuid:6f1c2a9e-4b7d-4c1e-9a53-2d8e7f0b1c44", "version": 1}
REF["digest"] = {"sha256": "ab" * 32}  # type: ignore[assignment]

FILES = {
    "meters/2026-q4.csv": b"meter,kwh\n1,2\n",
    "contacts/facility-managers.csv": b"name,email\nA,a@example.org\n",
    "README.md": b"# sample\n",
    "weather/b/obs.parquet": b"PAR1" + b"\0" * 100,
}


def _tree(root: Path, files: dict[str, bytes] = FILES) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _report(files: dict[str, bytes] = FILES, **changes: Any) -> dict[str, Any]:
    entries = []
    for rel, data in files.items():
        personal = rel.startswith("contacts/")
        entries.append(
            {
                "path": rel,
                "status": "scanned",
                "level": "confidential" if personal else "internal",
                "categories": ["personal.contact"] if personal else ["building.metering"],
                "findings": {"email": 1} if personal else {},
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    report = {
        "_type": "dta.classification-report",
        "files": entries,
        "level": "confidential",
        "categories": ["building.metering", "personal.contact"],
        "subjects": {"personal.contact": 1},
        "policy": {"digest": {"sha256": "cd" * 32}},
    }
    report.update(changes)
    return report


def _build(root: Path, **options: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "agreement_ref": REF,
        "sender": US,
        "recipient": CN,
        "purpose": "building-energy-modelling",
        "sequence": 1,
        "previous": None,
        "classification": None,
        "default_level": "internal",
        "now": NOW,
    }
    args.update(options)
    return build_manifest(root, **args)


def test_manifest_body_shape_matches_contract(tmp_path: Path) -> None:
    """The body has exactly the contract's members and validates against its schema."""
    body = _build(_tree(tmp_path), classification=_report(), default_level=None)
    schemas.validate(body)
    assert set(body) == {
        "_type", "spec_version", "id", "agreement", "sender", "recipient", "purpose", "created",
        "expires", "sequence", "previous", "items", "totals", "level", "categories", "subjects",
        "policy",
    }  # fmt: skip
    assert body["created"] == "2027-03-01T12:00:00Z"
    assert body["expires"] == "2027-03-08T12:00:00Z"
    assert body["totals"] == {"files": 4, "bytes": sum(len(d) for d in FILES.values())}
    assert body["level"] == "confidential"
    assert body["categories"] == ["building.metering", "personal.contact"]
    assert body["subjects"] == {"personal.contact": 1}
    assert body["policy"] == {"digest": {"sha256": "cd" * 32}}
    item = next(i for i in body["items"] if i["path"] == "contacts/facility-managers.csv")
    data = FILES["contacts/facility-managers.csv"]
    assert item == {
        "path": "contacts/facility-managers.csv",
        "size": len(data),
        "digest": {"sha256": hashlib.sha256(data).hexdigest()},
        "media_type": "text/csv",
        "level": "confidential",
        "categories": ["personal.contact"],
        "findings": {"email": 1},
    }


def test_items_sorted_by_utf8_bytes(tmp_path: Path) -> None:
    """Items are in UTF-8 byte order ('a-c' < 'a/b' < 'a~', 'Z' < 'a' < 'é')."""
    names = {"a/b": b"1", "a-c": b"2", "a~": b"3", "Z": b"4", "é": b"5", "ab": b"6"}
    body = _build(_tree(tmp_path, names))
    paths = [i["path"] for i in body["items"]]
    assert paths == sorted(names, key=lambda p: p.encode())
    assert paths == ["Z", "a-c", "a/b", "ab", "a~", "é"]


def test_same_tree_same_items_whatever_the_workers(tmp_path: Path) -> None:
    """One and two hashing threads give identical canonical items."""
    _tree(tmp_path, {f"d{i % 4}/f{i:03d}": os.urandom(i * 50) for i in range(60)})
    one = _build(tmp_path, workers=1)
    two = _build(tmp_path, workers=2)
    assert canonical_bytes(one["items"]) == canonical_bytes(two["items"])


def test_media_types_deterministic() -> None:
    """Media types come from a fixed table, never from the machine's mime.types."""
    assert media_type("a/b.csv") == "text/csv"
    assert media_type("x.JSON") == "application/json"
    assert media_type("x.csv.gz") == "application/gzip"
    assert media_type("noext") == "application/octet-stream"
    assert media_type(".bashrc") == "application/octet-stream"
    assert media_type("x.parquet") == "application/vnd.apache.parquet"


def test_no_report_and_no_level_is_usage_error(tmp_path: Path) -> None:
    """The caller must say how files are classified: a report or an explicit level."""
    with pytest.raises(UsageError, match="classification report or a default level"):
        _build(_tree(tmp_path), default_level=None)


@pytest.mark.parametrize("report", [[], "report.json", 42])
def test_report_that_is_not_an_object_is_usage_error(tmp_path: Path, report: object) -> None:
    """A list, a path string or a number as the report: one UsageError, no AttributeError."""
    with pytest.raises(UsageError, match="classification must be"):
        _build(_tree(tmp_path), classification=report, default_level=None)


def test_file_missing_from_report_rejected(tmp_path: Path) -> None:
    """A file the report does not cover is not silently given a level."""
    report = _report()
    report["files"] = report["files"][1:]
    with pytest.raises(ManifestError, match="not in the classification report"):
        _build(_tree(tmp_path), classification=report, default_level=None)


def test_stale_report_rejected(tmp_path: Path) -> None:
    """A report computed on other content (different sha256) is refused."""
    report = _report()
    report["files"][0]["sha256"] = "00" * 32
    with pytest.raises(ManifestError, match="stale"):
        _build(_tree(tmp_path), classification=report, default_level=None)


def test_report_is_not_mutated(tmp_path: Path) -> None:
    """build_manifest never changes the caller's report."""
    report = _report()
    before = copy.deepcopy(report)
    body = _build(_tree(tmp_path), classification=report, default_level=None)
    body["items"][0]["categories"].append("changed")
    assert report == before


def test_unknown_level_rejected(tmp_path: Path) -> None:
    """A level outside the level order is an error, not silently ranked."""
    with pytest.raises(ManifestError, match="unknown classification level"):
        _build(_tree(tmp_path), default_level="top-secret")


def test_bad_sequence_and_previous_rejected(tmp_path: Path) -> None:
    """Sequence must be >= 1; previous must be a sha256 DigestSet."""
    _tree(tmp_path)
    with pytest.raises(UsageError, match="sequence"):
        _build(tmp_path, sequence=0)
    with pytest.raises(UsageError, match="previous"):
        _build(tmp_path, previous={"sha256": "xyz"})


def test_ip_terms_recorded(tmp_path: Path) -> None:
    """IP owner and licence for the whole transfer are carried in the body."""
    body = _build(_tree(tmp_path), ip={"owner": US, "licence": "CC-BY-4.0"})
    assert body["ip"] == {"owner": US, "licence": "CC-BY-4.0"}


def test_tree_with_symlink_outside_refused_with_all_entries(tmp_path: Path) -> None:
    """Every unsafe entry is listed; the manifest is not built; nothing outside is read."""
    root = _tree(tmp_path / "root")
    (tmp_path / "secret").write_bytes(b"s")
    (root / "leak").symlink_to(tmp_path / "secret")
    os.mkfifo(root / "pipe")
    with pytest.raises(UnsafeTreeError) as info:
        _build(root)
    assert {(e.path, e.kind) for e in info.value.entries} == {
        ("leak", "symlink"),
        ("pipe", "fifo"),
    }
    assert "and 1 more" in str(info.value)


def test_case_only_duplicates_in_tree_refused(tmp_path: Path) -> None:
    """README.md and readme.md in one tree cannot both be sent."""
    _tree(tmp_path, {"README.md": b"a", "readme.md": b"b"})
    with pytest.raises(UnsafeTreeError, match="collides"):
        _build(tmp_path)


def test_nfd_name_in_tree_refused(tmp_path: Path) -> None:
    """A decomposed (NFD) file name is refused, so NFC/NFD twins cannot both travel."""
    nfd = unicodedata.normalize("NFD", "café.csv")
    _tree(tmp_path, {nfd: b"1", "café.csv": b"2"})
    with pytest.raises(UnsafeTreeError, match="NFC"):
        _build(tmp_path)


def test_verify_tree_ok_for_the_same_tree(tmp_path: Path) -> None:
    """A manifest verifies against the tree it was built from."""
    body = _build(_tree(tmp_path))
    check = verify_tree({"signed": body, "signatures": []}, tmp_path)
    assert check.ok
    assert check.to_dict()["discrepancies"] == []
    assert check.files == 4


def test_verify_tree_reports_each_discrepancy_with_path(tmp_path: Path) -> None:
    """Missing, extra, modified, size mismatch and unsafe entries each get one finding."""
    body = _build(_tree(tmp_path))
    (tmp_path / "README.md").unlink()
    (tmp_path / "extra.txt").write_bytes(b"new")
    (tmp_path / "meters/2026-q4.csv").write_bytes(b"meter,kwh\n1,3\n")  # same size
    (tmp_path / "weather/b/obs.parquet").write_bytes(b"short")
    (tmp_path / "link").symlink_to("/etc/passwd")
    check = verify_tree(body, tmp_path)
    assert not check.ok
    found = {(f.kind, f.path) for f in check.findings}
    assert found == {
        ("missing", "README.md"),
        ("extra", "extra.txt"),
        ("modified", "meters/2026-q4.csv"),
        ("size-mismatch", "weather/b/obs.parquet"),
        ("unsafe", "link"),
    }
    assert all(f.message for f in check.findings)


def test_verify_tree_symlink_replacing_listed_file_is_unsafe_not_followed(tmp_path: Path) -> None:
    """A listed file replaced by a symlink to the right content still fails: never followed."""
    body = _build(_tree(tmp_path))
    copy_of = tmp_path.parent / f"{tmp_path.name}-copy"
    copy_of.write_bytes(FILES["README.md"])
    (tmp_path / "README.md").unlink()
    (tmp_path / "README.md").symlink_to(copy_of)
    check = verify_tree(body, tmp_path)
    assert [(f.kind, f.path) for f in check.findings] == [("unsafe", "README.md")]


@pytest.mark.parametrize(
    "hostile",
    [
        "../outside.txt",
        "/etc/passwd",
        "a\\..\\..\\x",
        "a\x00b",
        "C:evil",
        "con.txt",
        "x\u202etxt.exe",
        "~/.ssh/id_rsa",
        "a/./b",
    ],
)
def test_hostile_manifest_path_refused_before_touching_tree(tmp_path: Path, hostile: str) -> None:
    """A manifest naming an unsafe path is refused; the directory is never even opened."""
    body = _build(_tree(tmp_path))
    body["items"][0]["path"] = hostile
    missing_root = tmp_path / "does-not-exist"  # opening it would raise InputError
    check = verify_tree(body, missing_root)
    assert not check.ok
    assert not check.tree_read
    assert [f.kind for f in check.findings] == ["unsafe-path"]
    assert "items/0/path" in check.findings[0].message


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("README.md", "readme.md"),
        (unicodedata.normalize("NFC", "é.csv"), unicodedata.normalize("NFC", "É.csv")),
        ("a", "a"),
        ("dir", "dir/file"),
    ],
)
def test_hostile_manifest_duplicates_refused(tmp_path: Path, first: str, second: str) -> None:
    """Case-only, NFC-equal, exact and file/directory duplicates in a manifest are refused."""
    body = _build(_tree(tmp_path, {"x": b"1", "y": b"2"}))
    body["items"][0]["path"] = first
    body["items"][1]["path"] = second
    check = verify_tree(body, tmp_path / "does-not-exist")
    assert [f.kind for f in check.findings] == ["duplicate-path"]


def test_hostile_manifest_nfd_duplicate_refused(tmp_path: Path) -> None:
    """An NFD spelling of a listed path is refused as not NFC."""
    body = _build(_tree(tmp_path, {"café": b"1", "x": b"2"}))
    body["items"][1]["path"] = unicodedata.normalize("NFD", "café")
    check = verify_tree(body, tmp_path / "does-not-exist")
    assert [f.kind for f in check.findings] == ["unsafe-path"]


def test_manifest_totals_tampered_reported(tmp_path: Path) -> None:
    """Totals that do not add up to the items are a finding."""
    body = _build(_tree(tmp_path))
    body["totals"]["bytes"] += 1
    check = verify_tree(body, tmp_path)
    assert [f.kind for f in check.findings] == ["totals-mismatch"]


def test_malformed_items_rejected(tmp_path: Path) -> None:
    """Not a manifest, or items without size or digest, raise ManifestError."""
    body = _build(_tree(tmp_path))
    with pytest.raises(ManifestError, match=r"not a dta\.manifest"):
        verify_tree({"signed": {"_type": "dta.receipt"}}, tmp_path)
    bad = copy.deepcopy(body)
    bad["items"][0]["size"] = -1
    with pytest.raises(ManifestError, match="items/0/size"):
        verify_tree(bad, tmp_path)
    bad = copy.deepcopy(body)
    bad["items"][0]["digest"] = {"sha256": "ZZ"}
    with pytest.raises(ManifestError, match="items/0/digest"):
        verify_tree(bad, tmp_path)
    with pytest.raises(InputError):
        verify_tree(body, tmp_path / "nope")


def test_tree_check_round_trips_to_receipt_discrepancies(tmp_path: Path) -> None:
    """The receipt builder reads our findings as tree-<kind> discrepancies with paths."""
    from dta._receipt import tree_discrepancies

    body = _build(_tree(tmp_path))
    (tmp_path / "README.md").unlink()
    check = verify_tree(body, tmp_path)
    assert isinstance(check, TreeCheck)
    assert tree_discrepancies(check) == [
        {
            "code": "tree-missing",
            "message": "listed in the manifest but not in the directory",
            "path": "README.md",
        }
    ]


def test_built_manifest_signed_and_allowed_by_agreement(tmp_path: Path) -> None:
    """A manifest built from a tree, signed by the sender, passes the agreement check."""
    world = World()
    ref = {
        "id": world.agreement.id,
        "version": world.agreement.version,
        "digest": world.agreement.digest,
    }
    report = _report(policy={"digest": world.agreement.policy_digest})
    if world.agreement.policy_digest is None:
        del report["policy"]
    body = _build(
        _tree(tmp_path),
        agreement_ref=ref,
        classification=report,
        default_level=None,
        now=NOW - timedelta(hours=1),
        ip={"owner": US, "licence": "CC-BY-4.0"},
    )
    signed = world.sign_manifest(body)
    decision = agreement.check_manifest(world.agreement, signed, now=NOW)
    assert decision.allowed, decision.reasons
    assert verify_tree(signed, tmp_path).ok
    again = loads(canonical_bytes(signed))
    assert envelope.digest(again["signed"]) == envelope.digest(body)


def test_build_times_must_be_aware(tmp_path: Path) -> None:
    """A naive datetime is refused (times are always UTC with Z)."""
    with pytest.raises(UsageError, match="timezone"):
        _build(_tree(tmp_path), now=datetime(2027, 1, 1))
    body = _build(tmp_path, expires=datetime(2027, 4, 1, tzinfo=UTC))
    assert body["expires"] == "2027-04-01T00:00:00Z"


def test_write_canonical_equals_canonical_bytes() -> None:
    """The piecewise writer produces exactly canonical_bytes, for big lists and odd keys."""
    import io

    from dta.manifest import write_canonical

    doc = {
        "signed": {
            "items": [
                {"path": f"p{i}", "n": i, "é": [i, {"b": 1, "a": None}]} for i in range(5000)
            ],
            "\u00e9": "x",
            "\U0001f600": 1,
            "\uff61": 2,
            "z": {"nested": list(range(3000)), "k": True},
        },
        "signatures": [],
    }
    for chunk in (1, 7, 2048):
        out = io.BytesIO()
        write_canonical(doc, out, chunk=chunk)
        assert out.getvalue() == canonical_bytes(doc)


@pytest.mark.parametrize(
    "path", ["../x", "a/../b", "./a", "/abs", "a\\b", "c:x", "a//b", "a/", "~/x"]
)
def test_schema_alone_rejects_traversal_shaped_paths(tmp_path: Path, path: str) -> None:
    """Partners validating with the JSON Schema only still refuse traversal-shaped paths."""
    from dta.errors import SchemaError

    body = _build(_tree(tmp_path))
    body["items"][0]["path"] = path
    with pytest.raises(SchemaError):
        schemas.validate(body)
