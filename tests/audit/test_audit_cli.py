"""CLI: every dta audit sub-command, its JSON output and its exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dta import keys
from dta._cli.main import run

SHA = "ab" * 32


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with a log key pair, a witness key and an initialised log of 3 records."""
    monkeypatch.chdir(tmp_path)
    for name in ("log", "wit"):
        signer = keys.generate()
        keys.save_private(tmp_path / f"{name}.pem", signer)
        keys.save_public(tmp_path / f"{name}.pub.json", signer.public_key)
    assert run(["audit", "init", "log.jsonl"]) == 0
    for i in range(3):
        args = ["--actor", "party:a", "--action", "transfer.sent", "--subject-id", f"urn:{i}"]
        assert run(["audit", "append", "log.jsonl", *args, "--subject-sha256", SHA]) == 0
    return tmp_path


def _json(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


def test_append_event_file_and_show_json(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--event appends a list of events atomically; show --format json lists them."""
    events = [
        {
            "actor": "party:b",
            "action": "x-acme.thing",
            "subject": {"_type": "t", "id": "i", "digest": {"sha256": SHA}},
            "details": {"k": 1},
        },
    ] * 2
    (work / "ev.json").write_text(json.dumps(events))
    capsys.readouterr()
    assert run(["audit", "append", "log.jsonl", "--event", "ev.json", "--format", "json"]) == 0
    assert [a["index"] for a in _json(capsys)["appended"]] == [3, 4]
    assert run(["audit", "show", "log.jsonl", "--format", "json"]) == 0
    shown = _json(capsys)
    assert shown["size"] == 5
    assert shown["records"][4]["action"] == "x-acme.thing"


def test_bad_event_is_exit_1_with_one_line(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown action is rejected with exit 1 and a one-line message, nothing appended."""
    capsys.readouterr()
    code = run(
        [
            "audit",
            "append",
            "log.jsonl",
            "--actor",
            "a",
            "--action",
            "made.up",
            "--subject-id",
            "x",
            "--subject-sha256",
            SHA,
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "action" in err
    assert len(err.strip().splitlines()) == 1


def test_missing_arguments_are_usage_errors(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """append without an event or fields, and a missing log, exit 2."""
    assert run(["audit", "append", "log.jsonl", "--actor", "a"]) == 2
    assert run(["audit", "verify", "nope.jsonl"]) == 2
    assert run(["audit", "prove", "log.jsonl"]) == 2


def test_verify_with_checkpoint_ok_then_tamper_exit_1(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """verify passes with a trusted checkpoint and exits 1 naming index and kind after tampering."""
    assert (
        run(
            [
                "audit",
                "checkpoint",
                "log.jsonl",
                "-k",
                "log.pem",
                "--origin",
                "ex.org/log",
                "-o",
                "cp.txt",
            ]
        )
        == 0
    )
    cp = ["--checkpoint", "cp.txt", "-k", "log.pub.json"]
    assert run(["audit", "verify", "log.jsonl", *cp]) == 0
    log = work / "log.jsonl"
    lines = log.read_bytes().split(b"\n")
    log.write_bytes(b"\n".join(lines[:1] + lines[2:]))  # delete record 1
    capsys.readouterr()
    assert run(["audit", "verify", "log.jsonl", *cp, "--format", "json"]) == 1
    captured = capsys.readouterr()
    fault = json.loads(captured.out)["fault"]
    assert (fault["index"], fault["kind"]) == (1, "record-deleted")
    assert "record 1: record-deleted" in captured.err


def test_verify_truncated_behind_checkpoint(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Cutting the last record is caught only with the checkpoint, as truncation at index 2."""
    assert (
        run(["audit", "checkpoint", "log.jsonl", "-k", "log.pem", "--origin", "o", "-o", "cp.txt"])
        == 0
    )
    log = work / "log.jsonl"
    log.write_bytes(b"".join(log.read_bytes().splitlines(keepends=True)[:2]))
    assert run(["audit", "verify", "log.jsonl"]) == 0
    capsys.readouterr()
    assert (
        run(["audit", "verify", "log.jsonl", "--checkpoint", "cp.txt", "-k", "log.pub.json"]) == 1
    )
    assert "record 2: truncated" in capsys.readouterr().err


def test_checkpoint_forged_signature_rejected(work: Path) -> None:
    """A checkpoint not signed by the given log key is refused before use."""
    assert (
        run(["audit", "checkpoint", "log.jsonl", "-k", "wit.pem", "--origin", "o", "-o", "cp.txt"])
        == 0
    )
    assert (
        run(["audit", "verify", "log.jsonl", "--checkpoint", "cp.txt", "-k", "log.pub.json"]) == 1
    )


def test_prove_bundle_and_verify_proof_offline(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """prove --checkpoint writes a tlog-proof bundle that verify-proof checks with the record."""
    assert (
        run(["audit", "checkpoint", "log.jsonl", "-k", "log.pem", "--origin", "o", "-o", "cp.txt"])
        == 0
    )
    assert (
        run(
            [
                "audit",
                "prove",
                "log.jsonl",
                "--index",
                "1",
                "--checkpoint",
                "cp.txt",
                "-o",
                "bundle.txt",
            ]
        )
        == 0
    )
    assert (
        run(["audit", "export", "log.jsonl", "--start", "1", "--stop", "2", "-o", "r.jsonl"]) == 0
    )
    capsys.readouterr()
    assert (
        run(
            [
                "audit",
                "verify-proof",
                "bundle.txt",
                "--record",
                "r.jsonl",
                "-k",
                "log.pub.json",
                "--format",
                "json",
            ]
        )
        == 0
    )
    assert _json(capsys)["index"] == 1
    (work / "bad.jsonl").write_bytes((work / "r.jsonl").read_bytes().replace(b"urn:1", b"urn:9"))
    assert (
        run(["audit", "verify-proof", "bundle.txt", "--record", "bad.jsonl", "-k", "log.pub.json"])
        == 1
    )


def test_inclusion_proof_json(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """prove --index prints the proof, leaf hash and root as JSON."""
    capsys.readouterr()
    assert run(["audit", "prove", "log.jsonl", "--index", "0", "--format", "json"]) == 0
    doc = _json(capsys)
    assert doc["size"] == 3
    assert len(doc["proof"]) == 2


def test_witness_cosigns_consistent_growth(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A partner witnesses checkpoint 3, then 5 with a consistency proof from prove."""
    sign = ["-k", "log.pem", "--origin", "o"]
    wit = ["--log-key", "log.pub.json", "--state", "wstate", "-k", "wit.pem", "--name", "w"]
    assert run(["audit", "checkpoint", "log.jsonl", *sign, "-o", "cp3.txt"]) == 0
    assert run(["audit", "witness", "cp3.txt", *wit, "-o", "cp3w.txt"]) == 0
    assert "— w " in (work / "cp3w.txt").read_text()
    for i in range(2):
        assert (
            run(
                [
                    "audit",
                    "append",
                    "log.jsonl",
                    "--actor",
                    "a",
                    "--action",
                    "data.accessed",
                    "--subject-id",
                    f"u{i}",
                    "--subject-sha256",
                    SHA,
                ]
            )
            == 0
        )
    assert run(["audit", "checkpoint", "log.jsonl", *sign, "-o", "cp5.txt"]) == 0
    assert run(["audit", "prove", "log.jsonl", "--consistency", "3", "-o", "p.json"]) == 0
    capsys.readouterr()
    assert run(["audit", "witness", "cp5.txt", *wit, "--proof", "p.json", "--format", "json"]) == 0
    assert _json(capsys)["cosignature"].startswith("— w ")


def test_fsck_and_repair_torn_tail(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """fsck exits 1 on a torn tail; repair moves it aside; appends work again."""
    with (work / "log.jsonl").open("ab") as handle:
        handle.write(b'{"_ty')
    assert run(["audit", "fsck", "log.jsonl"]) == 1
    capsys.readouterr()
    assert run(["audit", "repair", "log.jsonl", "--format", "json"]) == 0
    result = _json(capsys)
    assert result["repaired"]
    assert Path(result["moved_to"]).read_bytes() == b'{"_ty'
    assert run(["audit", "fsck", "log.jsonl", "--format", "json"]) == 0
    assert _json(capsys)["ok"]


def test_export_sqlite_to_jsonl_verifies_identically(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SQLite log exported as JSONL is the same log (same root)."""
    assert run(["audit", "init", "sqlite:log.db"]) == 0
    for i in range(4):
        assert (
            run(
                [
                    "audit",
                    "append",
                    "sqlite:log.db",
                    "--actor",
                    "a",
                    "--action",
                    "key.rotated",
                    "--subject-id",
                    f"k{i}",
                    "--subject-sha256",
                    SHA,
                ]
            )
            == 0
        )
    assert run(["audit", "export", "sqlite:log.db", "-o", "copy.jsonl"]) == 0
    capsys.readouterr()
    assert run(["audit", "verify", "sqlite:log.db", "--format", "json"]) == 0
    root = _json(capsys)["root"]
    assert run(["audit", "verify", "copy.jsonl", "--format", "json"]) == 0
    assert _json(capsys)["root"] == root


def test_read_commands_never_create_the_sidecar(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """verify, show, prove, export, fsck and checkpoint open read-only; append rebuilds it."""
    import shutil

    shutil.rmtree(work / "log.jsonl.nodes")
    for args in (
        ["verify", "log.jsonl"],
        ["show", "log.jsonl"],
        ["prove", "log.jsonl", "--index", "1"],
        ["prove", "log.jsonl", "--consistency", "1"],
        ["export", "log.jsonl"],
        ["fsck", "log.jsonl"],
        ["checkpoint", "log.jsonl", "-k", "log.pem", "--origin", "o"],
    ):
        assert run(["audit", *args]) == 0, args
        assert not (work / "log.jsonl.nodes").exists(), args
    capsys.readouterr()
    assert run(["audit", "show", "log.jsonl", "--format", "json"]) == 0
    assert _json(capsys)["torn"] is None
    assert run(["audit", "append", "log.jsonl", "--actor", "a", "--action", "transfer.sent",
                "--subject-id", "x", "--subject-sha256", SHA]) == 0  # fmt: skip
    assert (work / "log.jsonl.nodes" / "L00").stat().st_size == 4 * 32


@pytest.mark.parametrize("log", ["log.jsonl", "sqlite:log.db"])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--index", "3"], "index 3 is not within tree size 3"),
        (["--index", "2", "--size", "2"], "index 2 is not within tree size 2"),
        (["--index", "0", "--size", "9"], "tree size 9 is not within the log size 3"),
    ],
)
def test_prove_outside_the_log_names_index_and_size(
    work: Path, capsys: pytest.CaptureFixture[str], log: str, args: list[str], message: str
) -> None:
    """An index or size past the log is one line naming both, exit 1, on both stores.

    (The JSONL store used to answer with its sidecar's internals: "subtree (0, 3) is not
    indexed", exit 2.)
    """
    if log.startswith("sqlite:"):
        assert run(["audit", "init", log]) == 0
        for i in range(3):
            ids = ["--subject-id", f"urn:{i}", "--subject-sha256", SHA]
            assert (
                run(["audit", "append", log, "--actor", "a", "--action", "data.accessed", *ids])
                == 0
            )
    capsys.readouterr()
    assert run(["audit", "prove", log, *args]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err
