"""CLI: dta manifest create|sign|verify|show|export — outputs, explanations and exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from agreement_helpers import CN, US, World

from dta import keys
from dta._cli.main import run

AT = "2027-03-01T12:00:00Z"


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.chdir(tmp_path)
    world = World()
    for name, signer in (("us0", world.us[0]), ("us1", world.us[1]), ("cn0", world.cn[0])):
        keys.save_private(tmp_path / f"{name}.pem", signer)
    Path("agreement.json").write_text(json.dumps(world.doc))
    data = Path("data")
    (data / "meters").mkdir(parents=True)
    (data / "meters" / "q4.csv").write_bytes(b"meter,kwh\n1,2\n")
    (data / "notes.md").write_bytes(b"# notes\n")
    files = [
        {"path": p, "status": "scanned", "level": "internal", "categories": ["building.metering"],
         "findings": {}}
        for p in ("meters/q4.csv", "notes.md")
    ]  # fmt: skip
    report = {"files": files, "subjects": {}, "policy": {"digest": world.agreement.policy_digest}}
    Path("report.json").write_text(json.dumps(report))
    return world


def _create(*extra: str) -> int:
    return run(
        [
            "manifest", "create", "data", "--agreement", "agreement.json", "--sender", US,
            "--recipient", CN, "--purpose", "building-energy-modelling", "--report", "report.json",
            "--expires", "2027-03-05T00:00:00Z", "--no-progress", *extra,
        ]
    )  # fmt: skip


def _signed(capsys: pytest.CaptureFixture[str]) -> None:
    assert _create("-o", "m.json") == 0
    assert run(["manifest", "sign", "m.json", "-k", "us0.pem", "-o", "m1.json"]) == 0
    assert run(["manifest", "sign", "m1.json", "-k", "us1.pem", "-o", "m2.json"]) == 0
    capsys.readouterr()


def _json(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


def test_cli_create_sign_verify_against_agreement_and_tree(
    work: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """The full sender/recipient round trip exits 0 and says why it is OK."""
    _signed(capsys)
    code = run(
        ["manifest", "verify", "m2.json", "--dir", "data", "--agreement", "agreement.json",
         "--at", AT, "--format", "json"]
    )  # fmt: skip
    result = _json(capsys)
    assert code == 0, result
    assert result["ok"] is True
    assert result["agreement"]["allowed"] is True
    assert result["tree"]["discrepancies"] == []


def test_cli_verify_tampered_tree_explains_each_path(
    work: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """A modified and an extra file give exit 1 and one line each with the path."""
    _signed(capsys)
    Path("data/notes.md").write_bytes(b"# NOTES\n")
    Path("data/extra.bin").write_bytes(b"x")
    assert run(["manifest", "verify", "m2.json", "--dir", "data", "--hash-mode", "processes"]) == 1
    text = capsys.readouterr().out
    assert "modified: notes.md: sha256 differs from the manifest" in text
    assert "extra: extra.bin: file is not listed in the manifest" in text
    assert "signature: not checked" in text
    assert text.rstrip().endswith("m2.json: FAILED")


def test_cli_verify_with_wrong_key_fails(work: World, capsys: pytest.CaptureFixture[str]) -> None:
    """Signature checked against --key: the recipient's key does not validate the sender's."""
    _signed(capsys)
    assert run(["pubkey", "cn0.pem", "-o", "cn0.pub.json"]) == 0
    assert run(["pubkey", "us0.pem", "-o", "us0.pub.json"]) == 0
    capsys.readouterr()
    assert run(["manifest", "verify", "m2.json", "-k", "us0.pub.json"]) == 0
    assert "signature: valid" in capsys.readouterr().out
    assert run(["manifest", "verify", "m2.json", "-k", "cn0.pub.json", "--format", "json"]) == 1
    assert _json(capsys)["signature"].startswith("INVALID")


def test_cli_verify_expired_agreement_rejected(
    work: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """A manifest checked after the agreement expired is refused with that reason."""
    _signed(capsys)
    code = run(
        ["manifest", "verify", "m2.json", "--agreement", "agreement.json",
         "--at", "2030-01-01T00:00:00Z"]
    )  # fmt: skip
    assert code == 1


def test_cli_create_refuses_unsafe_tree_listing_entries(
    work: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """A symlink and a FIFO are listed on stderr; exit 1; no manifest written."""
    os.symlink("/etc/passwd", "data/passwd")
    os.mkfifo("data/pipe")
    assert _create("-o", "m.json") == 1
    err = capsys.readouterr().err
    assert "dta: unsafe: 'passwd': symlink" in err
    assert "dta: unsafe: 'pipe': fifo" in err
    assert not Path("m.json").exists()


def test_cli_create_needs_report_or_level(work: World, capsys: pytest.CaptureFixture[str]) -> None:
    """Neither --report nor --level is a usage error (exit 2)."""
    code = run(
        ["manifest", "create", "data", "--agreement", "agreement.json", "--sender", US,
         "--recipient", CN, "--purpose", "x"]
    )  # fmt: skip
    assert code == 2
    assert "--report" in capsys.readouterr().err


def test_cli_sign_refuses_hostile_path(work: World, capsys: pytest.CaptureFixture[str]) -> None:
    """A body naming ../ is never signed."""
    assert _create("-o", "m.json") == 0
    body = json.loads(Path("m.json").read_text())
    body["items"][0]["path"] = "../../etc/passwd"
    Path("bad.json").write_text(json.dumps(body))
    assert run(["manifest", "sign", "bad.json", "-k", "us0.pem"]) == 1
    assert "items/0/path" in capsys.readouterr().err


def test_cli_sign_refuses_case_only_duplicates(
    work: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """A body listing README.md and readme.md is never signed."""
    assert _create("-o", "m.json") == 0
    body = json.loads(Path("m.json").read_text())
    body["items"][0]["path"] = "Notes.md"
    Path("dup.json").write_text(json.dumps(body))
    assert run(["manifest", "sign", "dup.json", "-k", "us0.pem"]) == 1
    assert "duplicate-path" in capsys.readouterr().err


def test_cli_verify_hostile_manifest_not_read(
    work: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """verify --dir with a ../ item reports it and says the directory was not read."""
    assert _create("-o", "m.json") == 0
    body = json.loads(Path("m.json").read_text())
    body["items"][0]["path"] = "../agreement.json"
    Path("bad.json").write_text(json.dumps(body))
    capsys.readouterr()
    assert run(["manifest", "verify", "bad.json", "--dir", "data"]) == 1
    out = capsys.readouterr().out
    assert "unsafe-path" in out
    assert "refused before reading the directory" in out


def test_cli_show_and_export(work: World, capsys: pytest.CaptureFixture[str]) -> None:
    """show summarises (text and json); export writes an in-toto DSSE envelope."""
    _signed(capsys)
    assert run(["manifest", "show", "m2.json", "--format", "json", "--items"]) == 0
    summary = _json(capsys)
    assert summary["signatures"] == 2
    assert [i["path"] for i in summary["items"]] == ["meters/q4.csv", "notes.md"]
    assert run(["manifest", "show", "m2.json", "--items"]) == 0
    text = capsys.readouterr().out
    assert f"{US} -> {CN}" in text
    assert "'notes.md'" in text
    assert run(["manifest", "export", "m2.json", "-k", "us0.pem", "-o", "m.intoto.json"]) == 0
    env = json.loads(Path("m.intoto.json").read_text())
    assert env["payloadType"] == "application/vnd.in-toto+json"


def test_cli_bad_input_one_line(work: World, capsys: pytest.CaptureFixture[str]) -> None:
    """Malformed JSON exits 1, a missing file exits 2, each one line naming the file."""
    Path("dup.json").write_text('{"a": 1, "a": 2}')
    assert run(["manifest", "show", "dup.json"]) == 1
    assert run(["manifest", "show", "missing.json"]) == 2
    assert run(["manifest", "verify", "missing.json", "--dir", "data"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3
    assert all(line.startswith("dta: error: ") for line in err)
    assert "dup.json" in err[0]
