"""Scanner behaviour: formats, locations, streaming boundaries, unscanned files, memory."""

from __future__ import annotations

import datetime as dt
import json
import os
import tracemalloc
from pathlib import Path

import pytest

from dta import canonical_bytes, schemas
from dta.classify import scan_paths, scan_text
from dta.classify._stream import BLOCK
from dta.errors import ClassificationError, InputError

KEY = b"scanner-test-key-0123456789abcdef"
NOW = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)
CARD = "4111111111111111"


def _scan(*paths: Path, **kw: object) -> dict:
    report = scan_paths(list(paths), key=KEY, now=NOW, **kw)  # type: ignore[arg-type]
    schemas.validate(report)
    return report


def _file(report: dict, path: str) -> dict:
    return next(f for f in report["files"] if f["path"] == path)


def test_location_is_line_column_and_byte_offset(tmp_path: Path) -> None:
    """Line, column (characters) and byte offset point at the value in the file."""
    text = "第一行\n客户卡号：" + CARD + "。\n"
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    d = _file(_scan(tmp_path), "a.txt")["details"][0]
    raw = text.encode()
    assert d["location"]["line"] == 2
    assert d["location"]["column"] == 6
    assert raw[d["location"]["offset"] : d["location"]["offset"] + 16] == CARD.encode()


def test_value_across_block_boundary_found_once(tmp_path: Path) -> None:
    """A card straddling the streaming block boundary is found exactly once."""
    filler = ("energy data row " * 70000)[: BLOCK - 8]
    text = filler + " card " + CARD + " end\n" + "tail " * 1000
    (tmp_path / "big.txt").write_text(text, encoding="ascii")
    entry = _file(_scan(tmp_path), "big.txt")
    assert entry["findings"] == {"credit_card": 1}
    assert entry["details"][0]["location"]["offset"] == text.index(CARD)


def test_large_file_scans_in_bounded_memory(tmp_path: Path) -> None:
    """Python allocations stay far below the file size while streaming 24 MB."""
    line = "the lab shares building energy data 2024-05-01 v1.2.3 with partners\n"
    path = tmp_path / "huge.log"
    with path.open("w", encoding="ascii") as handle:
        for _ in range(24 * 1024 * 1024 // len(line)):
            handle.write(line)
    tracemalloc.start()
    try:
        report = scan_paths([path], key=KEY, now=NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report["files"][0]["status"] == "scanned"
    assert peak < 16 * 1024 * 1024


def test_binary_symlink_fifo_and_oversize_reported_unscanned(tmp_path: Path) -> None:
    """Nothing is silently skipped: each unscannable entry is listed with its reason."""
    secret_target = tmp_path.parent / "outside-secret.txt"
    secret_target.write_text("SSN 123-45-6789\n", encoding="utf-8")
    root = tmp_path / "tree"
    root.mkdir()
    (root / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    (root / "blob.bin").write_bytes(b"abc\x00def")
    (root / "link.txt").symlink_to(secret_target)
    os.mkfifo(root / "pipe")
    (root / "large.txt").write_text("x" * 5000, encoding="ascii")
    report = _scan(root, max_file_size=4096)
    by = {f["path"]: f for f in report["files"]}
    assert set(by) == {"img.png", "blob.bin", "link.txt", "pipe", "large.txt"}
    assert all(f["status"] == "unscanned" for f in by.values())
    assert "png" in by["img.png"]["reason"]
    assert "NUL" in by["blob.bin"]["reason"]
    assert "symlink" in by["link.txt"]["reason"]
    assert "regular" in by["pipe"]["reason"]
    assert "limit" in by["large.txt"]["reason"]
    assert report["totals"]["unscanned"] == 5
    assert report["level"] == "internal"  # the policy's unscanned level
    assert "us_ssn" not in report["totals"]["findings"]


def test_csv_column_verdicts_and_cell_locations(tmp_path: Path) -> None:
    """CSV findings are located by row and column; each column gets a verdict."""
    (tmp_path / "p.csv").write_text(
        "name,身份证号,note\nAlice,11010519491231002X,ok\nBob,,see 4111111111111111\n",
        encoding="utf-8",
    )
    entry = _file(_scan(tmp_path), "p.csv")
    cols = {c["name"]: c for c in entry["columns"]}
    assert cols["身份证号"]["level"] == "restricted"
    assert cols["身份证号"]["findings"] == {"cn_resident_id": 1}
    assert cols["note"]["findings"] == {"credit_card": 1}
    locs = [(d["type"], d["location"]) for d in entry["details"]]
    assert ("cn_resident_id", {"row": 1, "field": "身份证号", "field_index": 1}) in locs
    assert ("credit_card", {"row": 2, "field": "note", "field_index": 2}) in locs


def test_tsv_and_column_name_context(tmp_path: Path) -> None:
    """A bare 9-digit value under an 'ssn' column is an SSN (column name is context)."""
    (tmp_path / "t.tsv").write_text("id\tssn\n1\t123456789\n", encoding="utf-8")
    entry = _file(_scan(tmp_path), "t.tsv")
    assert entry["format"] == "tsv"
    assert entry["findings"] == {"us_ssn": 1}


def test_json_findings_located_by_pointer(tmp_path: Path) -> None:
    """JSON findings carry RFC 6901 pointers; member patterns become columns."""
    doc = {"users": [{"mail": "a@example.com"}, {"mail": "b@example.org", "a/b": "TLP:RED"}]}
    (tmp_path / "u.json").write_text(json.dumps(doc), encoding="utf-8")
    entry = _file(_scan(tmp_path), "u.json")
    pointers = sorted(d["location"]["pointer"] for d in entry["details"])
    assert pointers == ["/users/0/mail", "/users/1/a~1b", "/users/1/mail"]
    assert {c["name"] for c in entry["columns"]} == {"/users/*/mail", "/users/*/a~1b"}


def test_jsonl_located_by_line_and_pointer(tmp_path: Path) -> None:
    """JSONL findings carry the line number and the pointer inside that line."""
    (tmp_path / "e.jsonl").write_text(
        '{"k": 1}\n\n{"contact": {"phone": "+8613800138000"}}\n', encoding="utf-8"
    )
    d = _file(_scan(tmp_path), "e.jsonl")["details"][0]
    assert d["type"] == "cn_mobile"
    assert d["location"] == {"line": 3, "pointer": "/contact/phone"}


def test_invalid_json_rescanned_as_text(tmp_path: Path) -> None:
    """A .json file that is not strict JSON is scanned as text, with the reason recorded."""
    (tmp_path / "bad.json").write_text('{"a": 1, "a": "SSN 123-45-6789"}', encoding="utf-8")
    entry = _file(_scan(tmp_path), "bad.json")
    assert entry["format"] == "text"
    assert "scanned as text" in entry["reason"]
    assert entry["findings"] == {"us_ssn": 1}


def test_gb18030_and_utf16_text_decoded(tmp_path: Path) -> None:
    """Chinese text in GB 18030 and UTF-16 (BOM) files is decoded and scanned."""
    (tmp_path / "gb.txt").write_bytes("身份证号码11010519491231002X".encode("gb18030"))
    (tmp_path / "u16.txt").write_bytes("手机13800138000".encode("utf-16"))
    report = _scan(tmp_path)
    assert _file(report, "gb.txt")["encoding"] == "gb18030"
    assert _file(report, "gb.txt")["findings"] == {"cn_resident_id": 1}
    assert _file(report, "u16.txt")["findings"] == {"cn_mobile": 1}


def test_report_deterministic_for_same_key_and_time(tmp_path: Path) -> None:
    """Same inputs, key and time give identical canonical bytes; another key differs."""
    (tmp_path / "a.txt").write_text("card 4111111111111111 mail a@example.com", encoding="utf-8")
    one = canonical_bytes(_scan(tmp_path))
    two = canonical_bytes(_scan(tmp_path))
    assert one == two
    other = scan_paths([tmp_path], key=b"another-key-0123456789", now=NOW)
    assert (
        other["files"][0]["details"][0]["fingerprint"]
        != json.loads(one)["files"][0]["details"][0]["fingerprint"]
    )
    assert scan_paths([tmp_path])["fingerprint"]["key_source"] == "random"


def test_subjects_count_distinct_fingerprints_across_files(tmp_path: Path) -> None:
    """The same card in two files is one data subject; a second card makes two."""
    (tmp_path / "a.txt").write_text(f"card {CARD}\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text(f"card {CARD}\ncard 5555555555554444\n", encoding="utf-8")
    report = _scan(tmp_path)
    assert report["subjects"]["financial"] == 2
    assert report["totals"]["findings"]["credit_card"] == 3


def test_path_rule_classifies_key_files(tmp_path: Path) -> None:
    """A *.pem file is restricted by its path even when its content is innocuous."""
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "server.pem").write_text("placeholder\n", encoding="utf-8")
    entry = _file(_scan(tmp_path), "keys/server.pem")
    assert entry["level"] == "restricted"
    assert "key-files" in entry["rules"]


def test_scan_text_and_bad_key() -> None:
    """scan_text returns a valid report; a short key is a typed error."""
    report = scan_text("TLP:AMBER", key=KEY, now=NOW)
    schemas.validate(report)
    assert report["level"] == "confidential"
    assert report["tlp"] == "TLP:AMBER"
    with pytest.raises(ClassificationError, match="at least 16 bytes"):
        scan_text("x", key=b"short")


def test_missing_path_is_input_error(tmp_path: Path) -> None:
    """A path that does not exist is an I/O error naming it."""
    with pytest.raises(InputError, match="no such file"):
        scan_paths([tmp_path / "nope"])


def test_details_capped_counts_exact(tmp_path: Path) -> None:
    """max_details caps the listed findings; counts stay exact."""
    (tmp_path / "m.txt").write_text(
        "\n".join(f"mail user{i}@example.com" for i in range(50)), encoding="utf-8"
    )
    entry = _file(_scan(tmp_path, max_details=10), "m.txt")
    assert len(entry["details"]) == 10
    assert entry["details_omitted"] == 40
    assert entry["findings"] == {"email": 50}
    assert entry["level"] == "confidential"  # the contact-list bulk rule (>= 10)
