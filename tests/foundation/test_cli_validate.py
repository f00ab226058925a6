"""CLI: validate (globs, pointers, formats, exit codes), schema, demo, pre-commit hook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dta import keys
from dta._cli.main import run


@pytest.fixture
def docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with three valid public-key documents and one invalid one in a subfolder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    for i in range(3):
        doc = keys.generate().public_key.to_document(f"org:{i}")
        (tmp_path / f"k{i}.json").write_text(json.dumps(doc))
    bad = keys.generate().public_key.to_document()
    bad["scheme"] = "rsa"
    (tmp_path / "sub" / "bad.json").write_text(json.dumps(bad))
    return tmp_path


def test_validate_many_files_and_globs(docs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Files and globs are validated in one run; all valid gives exit 0."""
    assert run(["validate", "k0.json", "k[12].json"]) == 0
    assert capsys.readouterr().out.strip() == "3 valid, 0 invalid"


def test_validate_reports_pointer_of_invalid_file(
    docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An invalid file is reported with the JSON pointer of the failing part; exit 1."""
    assert run(["validate", "**/*.json"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{Path('sub/bad.json')}: /scheme: 'rsa' is not one of ['ed25519', 'ecdsa-p256-sha256']"
    ]


def test_validate_directory_argument(docs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A directory argument means every .json file below it."""
    assert run(["validate", ".", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["valid"], report["invalid"], report["unreadable"]) == (3, 1, 0)
    assert report["skipped"] == 0
    bad = next(f for f in report["files"] if not f["valid"])
    assert bad["errors"] == [
        {"pointer": "/scheme", "message": "'rsa' is not one of ['ed25519', 'ecdsa-p256-sha256']"}
    ]
    assert bad["type"] == "dta.public-key"


def test_validate_github_annotations(docs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--format github prints ::error workflow commands with the file and pointer."""
    assert run(["validate", "--format", "github", "sub/bad.json", "k0.json"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert out[0].startswith("::error file=sub/bad.json,title=dta validate /scheme::/scheme: ")


def test_validate_forged_keyid_is_invalid(docs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A schema-valid public key with a keyid that does not match its spki is invalid."""
    doc = json.loads((docs / "k0.json").read_text())
    doc["keyid"] = "a" * 64
    (docs / "forged.json").write_text(json.dumps(doc))
    assert run(["validate", "forged.json"]) == 1
    assert "does not match its spki" in capsys.readouterr().out


def test_validate_missing_file_and_empty_glob_are_io_errors(
    docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing file or a glob matching nothing gives exit 2; other files are still checked."""
    assert run(["validate", "k0.json", "nope.json", "*.yaml"]) == 2
    captured = capsys.readouterr()
    assert "nope.json: no such file" in captured.err
    assert "*.yaml: pattern matched no files" in captured.err
    assert run(["validate"]) == 2


@pytest.mark.parametrize(
    ("content", "pointer"),
    [
        (b'{"a": 1, "a": 2}', "duplicate"),
        (b'{"_type": "dta.nope", "spec_version": "1.0"}', "/_type"),
        (b'{"_type": "dta.public-key", "spec_version": "2.0"}', "/spec_version"),
        (b"\xef\xbb\xbf{}", "byte-order mark"),
    ],
)
def test_validate_bad_documents(
    docs: Path, capsys: pytest.CaptureFixture[str], content: bytes, pointer: str
) -> None:
    """Strict-JSON failures and unknown types are reported per file with exit 1."""
    (docs / "x.json").write_bytes(content)
    assert run(["validate", "x.json"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("x.json: ")
    assert pointer in out


def test_bad_file_in_real_subprocess_gives_one_line(tmp_path: Path) -> None:
    """The installed entry point prints one line, no traceback, exit 1 or 2, for a bad file."""
    (tmp_path / "bad.json").write_bytes(b'{"signed": {"_type": "dta.public-key"}, "sig')
    env = {**os.environ, "PYTHONPATH": ""}
    code = "from dta._cli.main import main; main()"
    for args in (["validate", "bad.json"], ["verify", "bad.json", "-k", "bad.json"]):
        proc = subprocess.run(
            [sys.executable, "-c", code, *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        lines = (proc.stdout + proc.stderr).strip().splitlines()
        assert proc.returncode in (1, 2), args
        assert len(lines) == 1, (args, lines)
        assert "bad.json" in lines[0]
        assert "Traceback" not in proc.stderr


def test_schema_list_show_path(capsys: pytest.CaptureFixture[str]) -> None:
    """schema list/show/path expose the packaged schemas; unknown names exit 1."""
    assert run(["schema", "list", "--format", "json"]) == 0
    ids = [s["id"] for s in json.loads(capsys.readouterr().out)["schemas"]]
    assert "urn:dta:schema:envelope:1" in ids
    assert run(["schema", "show", "public-key"]) == 0
    assert json.loads(capsys.readouterr().out)["$id"] == "urn:dta:schema:public-key:1"
    assert run(["schema", "path", "dta.key-registry"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.name == "key-registry.v1.schema.json"
    assert run(["schema", "show", "no-such"]) == 1


def test_demo_runs_in_given_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """demo narrates keygen -> sign -> verify -> validate and leaves valid files behind."""
    target = tmp_path / "demo"
    assert run(["demo", "--dir", str(target)]) == 0
    out = capsys.readouterr().out
    for word in ("dta keygen", "dta sign", "dta verify", "dta validate", "tampered"):
        assert word in out
    assert run(["validate", str(target)]) == 0
    assert run(["demo", "--dir", str(target)]) == 2  # not empty any more


def test_demo_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    """demo --format json prints one JSON document."""
    assert run(["demo", "--format", "json"]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert report["ok"] is True


def test_pre_commit_hook_runs_dta_validate(repo_root: Path) -> None:
    """The pre-commit hook definition runs dta validate on JSON files."""
    text = (repo_root / ".pre-commit-hooks.yaml").read_text()
    assert "entry: dta validate" in text
    assert "types: [json]" in text
    assert "- id: dta-validate" in text
    assert "args: [--skip-non-dta]" in text


def test_validate_skip_non_dta_files(docs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--skip-non-dta ignores other JSON (package.json) but still checks dta documents."""
    (docs / "package.json").write_text('{"name": "x", "version": "1.0.0"}')
    assert run(["validate", "package.json", "k0.json"]) == 1
    capsys.readouterr()
    assert run(["validate", "--skip-non-dta", "package.json", "k0.json"]) == 0
    assert capsys.readouterr().out.strip() == "1 valid, 0 invalid, 1 skipped"
    assert run(["validate", "--skip-non-dta", "package.json", "sub/bad.json"]) == 1
