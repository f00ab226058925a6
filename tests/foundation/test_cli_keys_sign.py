"""CLI: keygen, pubkey, sign, verify, dsse export/import (through dta._cli.main.run)."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from dta import keys, loads
from dta._cli.main import run

BODY = {"_type": "dta.key-registry", "spec_version": "1.0", "keys": []}


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary working directory with alice (Ed25519) and bob (P-256) keys and a body."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DTA_KEY_PASSPHRASE", raising=False)
    assert run(["keygen", "-o", "alice.pem", "--owner", "alice"]) == 0
    assert run(["keygen", "-o", "bob.pem", "--owner", "bob", "--scheme", "ecdsa-p256-sha256"]) == 0
    (tmp_path / "body.json").write_text(json.dumps(BODY))
    return tmp_path


def out_json(capsys: pytest.CaptureFixture[str]) -> Any:
    """Parse what the command printed on stdout."""
    return json.loads(capsys.readouterr().out)


def test_keygen_writes_0600_private_and_public_document(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """keygen writes a 0600 PKCS#8 key and a dta.public-key document; json output is stable."""
    capsys.readouterr()
    assert run(["keygen", "-o", "k.pem", "--owner", "carol", "--format", "json"]) == 0
    info = out_json(capsys)
    assert set(info) == {"private_key", "public_key", "keyid", "scheme", "owner", "encrypted"}
    assert stat.S_IMODE((work / "k.pem").stat().st_mode) == 0o600
    key, owner = keys.load_public(work / "k.pub.json")
    assert (key.keyid, owner) == (info["keyid"], "carol")


def test_keygen_refuses_to_overwrite(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """keygen on an existing file fails with exit 2 and one line naming the file."""
    before = (work / "alice.pem").read_bytes()
    assert run(["keygen", "-o", "alice.pem"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "alice.pem" in err
    assert "already exists" in err
    assert (work / "alice.pem").read_bytes() == before


def test_encrypted_key_uses_passphrase_from_env(
    work: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--encrypt takes the passphrase from the environment, and signing needs it again."""
    monkeypatch.setenv("MY_PASS", "s3cret phrase")
    assert run(["keygen", "-o", "enc.pem", "--encrypt", "--passphrase-env", "MY_PASS"]) == 0
    assert keys.is_encrypted(work / "enc.pem")
    capsys.readouterr()
    args = ["sign", "body.json", "-k", "enc.pem", "--passphrase-env", "MY_PASS"]
    assert run(args) == 0
    assert loads(capsys.readouterr().out)["signed"] == BODY
    monkeypatch.delenv("MY_PASS")
    assert run(args) == 2
    assert "passphrase needed" in capsys.readouterr().err


def test_encrypt_without_passphrase_source_is_usage_error(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--encrypt with no env var and no terminal fails cleanly (exit 2)."""
    assert run(["keygen", "-o", "enc.pem", "--encrypt"]) == 2
    assert "DTA_KEY_PASSPHRASE" in capsys.readouterr().err
    assert not (work / "enc.pem").exists()


def test_pubkey_prints_public_document(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """pubkey derives the public key document from the private key."""
    capsys.readouterr()
    assert run(["pubkey", "alice.pem", "--owner", "alice"]) == 0
    doc = out_json(capsys)
    assert doc == json.loads((work / "alice.pub.json").read_text())


def test_pubkey_rejects_forged_public_document(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pubkey re-checks a public key document's keyid (exit 1, one line)."""
    doc = json.loads((work / "alice.pub.json").read_text())
    doc["keyid"] = "0" * 64
    (work / "forged.json").write_text(json.dumps(doc))
    capsys.readouterr()
    assert run(["pubkey", "forged.json"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dta: error: forged.json: ")
    assert "does not match" in err


def test_sign_add_and_verify_threshold(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """sign, countersign, then verify 2-of-2 with required owners."""
    assert run(["sign", "body.json", "-k", "alice.pem", "-o", "s1.json"]) == 0
    assert run(["sign", "s1.json", "-k", "bob.pem", "-o", "s2.json"]) == 0
    capsys.readouterr()
    trust = ["-k", "alice.pub.json", "-k", "bob.pub.json"]
    args = ["verify", "s2.json", *trust, "--threshold", "2", "--owner", "alice", "--owner", "bob"]
    assert run([*args, "--format", "json"]) == 0
    report = out_json(capsys)
    assert report["ok"] is True
    assert report["files"][0]["owners"] == ["alice", "bob"]
    assert run(["verify", "s1.json", *trust, "--threshold", "2"]) == 1
    assert "1 of 2 required" in capsys.readouterr().out


def test_sign_same_key_twice_refused(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A second signature by the same key is refused with exit 2."""
    assert run(["sign", "body.json", "-k", "alice.pem", "-o", "s1.json"]) == 0
    capsys.readouterr()
    assert run(["sign", "s1.json", "-k", "alice.pem"]) == 2
    assert "already has a signature" in capsys.readouterr().err


def test_sign_refuses_schema_invalid_body(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """sign validates the body first and names the failing pointer."""
    (work / "bad.json").write_text(json.dumps({**BODY, "keys": "nope"}))
    assert run(["sign", "bad.json", "-k", "alice.pem"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dta: error: bad.json: ")
    assert "/keys" in err


def test_verify_tampered_file_fails(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A tampered signed file fails verification with exit 1."""
    assert run(["sign", "body.json", "-k", "alice.pem", "-o", "s.json"]) == 0
    doc = json.loads((work / "s.json").read_text())
    doc["signed"]["keys"] = [{"x": 1}]
    (work / "t.json").write_text(json.dumps(doc))
    capsys.readouterr()
    assert run(["verify", "t.json", "s.json", "-k", "alice.pub.json"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("t.json: signature verification failed")
    assert out[1].startswith("s.json: verified dta.key-registry")


def test_verify_needs_trusted_keys(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """verify without --key or --registry is a usage error."""
    assert run(["sign", "body.json", "-k", "alice.pem", "-o", "s.json"]) == 0
    assert run(["verify", "s.json"]) == 2


def test_verify_with_registry_and_expired_key(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """verify --registry honours validity windows via --at."""
    alice, _ = keys.load_public(work / "alice.pub.json")
    reg = keys.KeyRegistry()
    import datetime as dt

    reg.add(alice, "alice", not_after=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    (work / "reg.json").write_text(json.dumps(reg.to_dict()))
    assert run(["sign", "body.json", "-k", "alice.pem", "-o", "s.json"]) == 0
    base = ["verify", "s.json", "--registry", "reg.json"]
    assert run([*base, "--at", "2025-12-31T00:00:00Z"]) == 0
    capsys.readouterr()
    assert run([*base, "--at", "2026-02-01T00:00:00Z", "--format", "json"]) == 1
    assert out_json(capsys)["files"][0]["signatures"][0]["status"] == "expired"
    assert run([*base, "--at", "yesterday"]) == 2


def test_dsse_export_import_round_trip(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """dsse export then import gives the same document; verify accepts the DSSE file."""
    assert run(["sign", "body.json", "-k", "bob.pem", "-o", "s.json"]) == 0
    assert run(["dsse", "export", "s.json", "-o", "e.json"]) == 0
    assert run(["dsse", "import", "e.json", "-o", "back.json"]) == 0
    assert loads((work / "back.json").read_bytes()) == loads((work / "s.json").read_bytes())
    assert run(["verify", "e.json", "-k", "bob.pub.json"]) == 0


def test_dsse_import_non_canonical_payload_fails(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """dsse import of a non-canonical payload fails with exit 1 naming the file."""
    import base64

    assert run(["sign", "body.json", "-k", "alice.pem", "-o", "s.json"]) == 0
    assert run(["dsse", "export", "s.json", "-o", "e.json"]) == 0
    env = json.loads((work / "e.json").read_text())
    env["payload"] = base64.b64encode(json.dumps(BODY, indent=1).encode()).decode()
    (work / "e.json").write_text(json.dumps(env))
    capsys.readouterr()
    assert run(["dsse", "import", "e.json"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dta: error: e.json: ")
    assert "not canonical" in err


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"{not json", 1), (b"[1, 2]", 1), (None, 2)],
    ids=["malformed", "not-an-object", "missing"],
)
def test_bad_input_files_give_one_line(
    work: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, code: int
) -> None:
    """Malformed or missing files give one error line naming the file, never a traceback."""
    if content is not None:
        (work / "in.json").write_bytes(content)
    capsys.readouterr()
    for args in (
        ["sign", "in.json", "-k", "alice.pem"],
        ["verify", "in.json", "-k", "alice.pub.json"],
        ["dsse", "export", "in.json"],
        ["dsse", "import", "in.json"],
        ["pubkey", "in.json"],
    ):
        got = run(args)
        captured = capsys.readouterr()
        text = captured.err if args[0] != "verify" else captured.out + captured.err
        assert got in (1, 2), args
        assert got == code or args[0] == "pubkey", args
        assert text.count("\n") == 1, (args, text)
        assert "in.json" in text, args
        assert "Traceback" not in text, args


def test_keygen_prompts_for_passphrase_on_a_terminal(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the env var, --encrypt prompts (with confirmation) on a terminal, never argv."""
    import click

    import dta._cli.keys as cli_keys

    asked: list[dict[str, Any]] = []

    def fake_prompt(text: str, **kwargs: Any) -> str:
        asked.append({"text": text, **kwargs})
        return "typed passphrase"

    monkeypatch.setattr(cli_keys.sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(click, "prompt", fake_prompt)
    assert run(["keygen", "-o", "p.pem", "--encrypt"]) == 0
    assert asked[0]["hide_input"] is True
    assert asked[0]["confirmation_prompt"] is True
    assert keys.load_private(work / "p.pem", b"typed passphrase")
    assert run(["sign", "body.json", "-k", "p.pem", "-o", "s.json"]) == 0
    assert asked[1]["confirmation_prompt"] is False
