"""CLI: dta agreement new|sign|verify|amend|show and dta receipt create|verify, exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from agreement_helpers import CN, US, World, spec

from dta import keys
from dta._cli.main import run

AT = "2027-03-01T12:00:00Z"


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.chdir(tmp_path)
    world = World()
    for name, signer in (("us0", world.us[0]), ("us1", world.us[1]), ("cn0", world.cn[0])):
        keys.save_private(tmp_path / f"{name}.pem", signer)
    data = spec(world.us, world.cn)
    del data["id"]
    (tmp_path / "spec.json").write_text(json.dumps(data))
    return world


def out(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


def make_signed(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["agreement", "new", "spec.json", "-o", "a.json", "--at", AT]) == 0
    assert run(["agreement", "sign", "a.json", "-k", "us0.pem", "-o", "a1.json"]) == 0
    assert run(["agreement", "sign", "a1.json", "-k", "cn0.pem", "-o", "a2.json"]) == 0
    capsys.readouterr()


def test_cli_agreement_new_sign_verify(work: World, capsys: pytest.CaptureFixture[str]) -> None:
    """new, two party signatures, verify (json) succeed; one signature fails with exit 1."""
    make_signed(capsys)
    assert run(["agreement", "verify", "a1.json", "--at", AT]) == 1
    assert "a1.json" in capsys.readouterr().err
    assert run(["agreement", "verify", "a2.json", "--at", AT, "--format", "json"]) == 0
    assert out(capsys)["version"] == 1


def test_cli_expired_agreement_exit_1(work: World, capsys: pytest.CaptureFixture[str]) -> None:
    """Verifying after the validity window fails with a one-line error."""
    make_signed(capsys)
    assert run(["agreement", "verify", "a2.json", "--at", "2030-01-01T00:00:00Z"]) == 1
    err = capsys.readouterr().err
    assert "expired" in err
    assert err.count("\n") == 1


def test_cli_sign_with_stranger_key_is_usage_error(
    work: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key that no party lists cannot sign the agreement."""
    make_signed(capsys)
    keys.save_private(Path("x.pem"), keys.generate())
    assert run(["agreement", "sign", "a.json", "-k", "x.pem"]) == 2


def test_cli_amend_and_verify_chain(work: World, capsys: pytest.CaptureFixture[str]) -> None:
    """amend writes version 2; it verifies with --previous once both parties sign."""
    make_signed(capsys)
    Path("changes.json").write_text(json.dumps({"title": "Amended title"}))
    assert (
        run(
            [
                "agreement",
                "amend",
                "a2.json",
                "--changes",
                "changes.json",
                "-o",
                "b.json",
                "--at",
                AT,
            ]
        )
        == 0
    )
    assert run(["agreement", "sign", "b.json", "-k", "us0.pem", "-o", "b1.json"]) == 0
    assert run(["agreement", "sign", "b1.json", "-k", "cn0.pem", "-o", "b2.json"]) == 0
    assert run(["agreement", "verify", "b2.json", "--previous", "a2.json", "--at", AT]) == 0
    assert run(["agreement", "verify", "b2.json", "--previous", "b2.json", "--at", AT]) == 1


def test_cli_show_json(work: World, capsys: pytest.CaptureFixture[str]) -> None:
    """show lists directions with their ceilings."""
    make_signed(capsys)
    assert run(["agreement", "show", "a2.json", "--format", "json"]) == 0
    data = out(capsys)
    assert {(d["sender"], d["recipient"], d["ceiling"]) for d in data["directions"]} == {
        (US, CN, "confidential"),
        (CN, US, "internal"),
    }
    assert run(["agreement", "show", "a2.json"]) == 0
    assert "ceiling confidential" in capsys.readouterr().out


def test_cli_bad_input_is_one_line(work: World, capsys: pytest.CaptureFixture[str]) -> None:
    """Malformed JSON and missing files give exit 1 / 2 with one line naming the file."""
    Path("bad.json").write_text('{"a": 1, "a": 2}')
    assert run(["agreement", "show", "bad.json"]) == 1
    assert run(["agreement", "show", "missing.json"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert all(line.startswith("dta: error: ") for line in err)
    assert "bad.json" in err[0]
    assert "missing.json" in err[1]


def test_cli_receipt_create_and_verify(work: World, capsys: pytest.CaptureFixture[str]) -> None:
    """The recipient's receipt create checks the manifest, records the ledger, and verifies."""
    make_signed(capsys)
    signed = json.loads(Path("a2.json").read_text())
    from dta.agreement import Agreement

    world = work
    world.agreement = Agreement.from_dict(signed["signed"])
    manifest = world.sign_manifest(world.manifest())
    Path("m.json").write_text(json.dumps(manifest))
    args = [
        "receipt",
        "create",
        "m.json",
        "--agreement",
        "a2.json",
        "-k",
        "cn0.pem",
        "--ledger",
        "ledger.json",
        "--at",
        AT,
        "-o",
        "r.json",
    ]
    assert run(args) == 0
    assert (
        run(
            [
                "receipt",
                "verify",
                "r.json",
                "--agreement",
                "a2.json",
                "--manifest",
                "m.json",
                "--at",
                AT,
                "--format",
                "json",
            ]
        )
        == 0
    )
    assert out(capsys)["decision"] == "accepted"
    assert run([*args[:-1], "r2.json"]) == 1  # replay: same manifest again is rejected
    receipt = json.loads(Path("r2.json").read_text())
    assert [d["code"] for d in receipt["signed"]["discrepancies"]] == ["replayed-manifest"]
    assert (
        run(["receipt", "create", "m.json", "--agreement", "a2.json", "-k", "us0.pem", "--at", AT])
        == 2
    )


def test_cli_receipt_create_checks_the_received_tree(
    work: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --tree a modified file makes the receipt a rejection naming the path (exit 1)."""
    from dta import envelope
    from dta.agreement import Agreement
    from dta.manifest import build_manifest

    make_signed(capsys)
    work.agreement = Agreement.from_dict(json.loads(Path("a2.json").read_text())["signed"])
    inbox = Path("inbox")
    inbox.mkdir()
    (inbox / "a.csv").write_text("x,y\n1,2\n")
    body = build_manifest(
        inbox,
        agreement_ref=work.agreement.ref(),
        sender=US,
        recipient=CN,
        purpose="retrofit-evaluation",
        sequence=1,
        previous=None,
        classification=None,
        default_level="internal",
        workers=1,
    )
    body["policy"] = {"digest": {"sha256": "ab" * 32}}
    body["created"], body["expires"] = "2027-03-01T11:00:00Z", "2027-03-02T11:00:00Z"
    Path("m.json").write_text(json.dumps(envelope.sign(body, work.us[0])))
    (inbox / "a.csv").write_text("x,y\n1,3\n")
    args = [
        "receipt",
        "create",
        "m.json",
        "--agreement",
        "a2.json",
        "-k",
        "cn0.pem",
        "--tree",
        "inbox",
        "--at",
        AT,
        "-o",
        "r.json",
    ]
    assert run(args) == 1
    discrepancies = json.loads(Path("r.json").read_text())["signed"]["discrepancies"]
    assert [(d["code"], d.get("path")) for d in discrepancies] == [("tree-modified", "a.csv")]
