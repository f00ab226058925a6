"""``dta classify`` exit codes, formats and key options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dta import schemas
from dta._cli.main import run


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "a.txt").write_text("mail a@example.com\n", encoding="utf-8")
    (root / "b.csv").write_text("ssn\n123-45-6789\n", encoding="utf-8")
    return root


def test_fail_at_gate_exit_codes(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--fail-at exits 1 when the level is reached, 0 when it is not."""
    assert run(["classify", str(tree), "--fail-at", "restricted"]) == 1
    assert "reached restricted" in capsys.readouterr().err
    assert run(["classify", str(tree / "a.txt"), "--fail-at", "confidential"]) == 0


def test_unknown_fail_at_level_is_usage_error(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An undeclared --fail-at level exits 2 with one line naming the levels."""
    assert run(["classify", str(tree), "--fail-at", "secret"]) == 2
    err = capsys.readouterr().err
    assert "public, internal, confidential, restricted" in err
    assert "Traceback" not in err


def test_missing_path_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing path is an I/O error (exit 2)."""
    assert run(["classify", str(tmp_path / "nope")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_json_output_is_a_valid_deterministic_report(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--format json prints a valid report; a key from file or env makes fingerprints stable."""
    key_file = tmp_path / "key"
    key_file.write_bytes(b"0123456789abcdef0123\n")
    assert run(["classify", str(tree), "--format", "json", "--key-file", str(key_file)]) == 0
    one = json.loads(capsys.readouterr().out)
    schemas.validate(one)
    monkeypatch.setenv("DTA_TEST_KEY", "0123456789abcdef0123")
    assert run(["classify", str(tree), "--format", "json", "--key-env", "DTA_TEST_KEY"]) == 0
    two = json.loads(capsys.readouterr().out)
    fps = [[d["fingerprint"] for f in r["files"] for d in f.get("details", [])] for r in (one, two)]
    assert fps[0]
    assert fps[0] == fps[1]
    assert one["fingerprint"]["key_id"] == two["fingerprint"]["key_id"]


def test_text_summary_and_output_file(
    tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The text summary names files, levels and handling; --output writes the JSON report."""
    out = tmp_path / "report.json"
    assert run(["classify", str(tree), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "b.csv" in text
    assert "TLP:AMBER+STRICT" in text
    assert "onward transfer prohibited" in text
    schemas.validate(json.loads(out.read_text(encoding="utf-8")))


def test_key_options_exclusive_and_env_required(tree: Path, tmp_path: Path) -> None:
    """--key-file with --key-env, or an unset variable, are usage errors."""
    key_file = tmp_path / "key"
    key_file.write_bytes(b"0123456789abcdef")
    assert run(["classify", str(tree), "--key-file", str(key_file), "--key-env", "X"]) == 2
    assert run(["classify", str(tree), "--key-env", "DTA_SURELY_UNSET_VARIABLE"]) == 2
    short = tmp_path / "short"
    short.write_bytes(b"abc")
    assert run(["classify", str(tree), "--key-file", str(short)]) == 1
