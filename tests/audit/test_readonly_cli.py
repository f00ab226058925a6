"""Read-only audit logs (CLI): every read command works on a frozen directory and changes nothing.

The log directory is made read-only (0o555 / 0o444) and snapshotted (names, modes, sizes,
mtimes, digests) before and after; the snapshot shows a write even as root. Every output is
compared with the same command run on a writable copy of the log.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_readonly_tree import read_only, snapshot

from dta import keys
from dta._cli.main import run

SHA = "ab" * 32


@pytest.fixture
def logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``rw/log.jsonl`` (70 records) and an identical ``ro/log.jsonl``; keys; ``out/``."""
    monkeypatch.chdir(tmp_path)
    signer = keys.generate()
    keys.save_private(tmp_path / "log.pem", signer)
    keys.save_public(tmp_path / "log.pub.json", signer.public_key)
    (tmp_path / "rw").mkdir()
    (tmp_path / "out").mkdir()
    assert run(["audit", "init", "rw/log.jsonl"]) == 0
    events = [
        {
            "actor": "party:a",
            "action": "transfer.sent",
            "subject": {"_type": "t", "id": f"urn:{i}", "digest": {"sha256": SHA}},
            "time": "2026-01-01T00:00:00Z",
        }
        for i in range(70)
    ]
    (tmp_path / "ev.json").write_text(json.dumps(events))
    assert run(["audit", "append", "rw/log.jsonl", "--event", "ev.json"]) == 0
    assert run(["audit", "checkpoint", "rw/log.jsonl", "-k", "log.pem", "--origin", "o/log",
                "-o", "cp.txt"]) == 0  # fmt: skip
    (tmp_path / "ro").mkdir()
    shutil.copy(tmp_path / "rw" / "log.jsonl", tmp_path / "ro" / "log.jsonl")
    return tmp_path


def _out(capsys: pytest.CaptureFixture[str], args: list[str], code: int = 0) -> str:
    capsys.readouterr()
    assert run(args) == code, capsys.readouterr().err
    return capsys.readouterr().out


READS = [
    ["verify", "{log}", "--checkpoint", "cp.txt", "-k", "log.pub.json", "--format", "json"],
    ["verify", "{log}"],
    ["show", "{log}", "--format", "json"],
    ["show", "{log}", "--index", "65"],
    ["export", "{log}"],
    ["export", "{log}", "--start", "3", "--stop", "66"],
    ["prove", "{log}", "--index", "66"],
    ["prove", "{log}", "--index", "5", "--size", "64"],
    ["prove", "{log}", "--consistency", "7"],
    ["prove", "{log}", "--index", "69", "--checkpoint", "cp.txt", "--format", "json"],
    ["checkpoint", "{log}", "-k", "log.pem", "--origin", "o/log"],
    ["fsck", "{log}", "--format", "json"],
]


@pytest.mark.parametrize("sidecar", [True, False], ids=["copied-sidecar", "no-sidecar"])
def test_read_commands_on_a_read_only_directory_change_nothing(
    logs: Path, capsys: pytest.CaptureFixture[str], sidecar: bool
) -> None:
    """verify, show, export, prove, checkpoint, fsck: same output as read-write, zero changes."""
    if sidecar:
        shutil.copytree(logs / "rw" / "log.jsonl.nodes", logs / "ro" / "log.jsonl.nodes")
    want = [
        _out(capsys, [a.format(log="rw/log.jsonl") for a in ["audit", *args]]) for args in READS
    ]
    with read_only(logs / "ro") as before:
        got = [
            _out(capsys, [a.format(log="ro/log.jsonl") for a in ["audit", *args]]) for args in READS
        ]
        assert snapshot(logs / "ro") == before
    assert [g.replace("ro/log.jsonl", "rw/log.jsonl") for g in got] == want
    assert not (logs / "ro" / "log.jsonl.nodes").exists() or sidecar


def test_outputs_of_read_commands_go_elsewhere_and_verify_proof_offline(
    logs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-o files land outside the frozen directory; the bundle verifies with verify-proof."""
    with read_only(logs / "ro") as before:
        ro = "ro/log.jsonl"
        assert run(["audit", "export", ro, "-o", "out/copy.jsonl"]) == 0
        assert (
            run(["audit", "prove", ro, "--index", "9", "--checkpoint", "cp.txt", "-o", "out/b.txt"])
            == 0
        )
        line = (logs / "ro" / "log.jsonl").read_bytes().split(b"\n")[9]
        (logs / "out" / "rec.json").write_bytes(line)
        capsys.readouterr()
        args = [
            "audit",
            "verify-proof",
            "out/b.txt",
            "--record",
            "out/rec.json",
            "-k",
            "log.pub.json",
        ]
        assert run([*args, "--format", "json"]) == 0
        assert json.loads(capsys.readouterr().out)["index"] == 9
        assert snapshot(logs / "ro") == before
    assert (logs / "out" / "copy.jsonl").read_bytes() == (logs / "ro" / "log.jsonl").read_bytes()


def test_read_commands_on_a_read_only_torn_log_report_without_repairing(
    logs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A torn tail in a frozen directory: verify/fsck exit 1, show lists the records, no move."""
    with (logs / "ro" / "log.jsonl").open("ab") as handle:
        handle.write(b'{"_type":"dta.au')
    with read_only(logs / "ro") as before:
        capsys.readouterr()
        assert run(["audit", "verify", "ro/log.jsonl"]) == 1
        err = capsys.readouterr().err
        assert "record 70: malformed: torn tail" in err
        assert len(err.strip().splitlines()) == 1
        assert run(["audit", "fsck", "ro/log.jsonl", "--format", "json"]) == 1
        assert json.loads(capsys.readouterr().out)["torn"]["offset"] > 0
        assert run(["audit", "show", "ro/log.jsonl", "--format", "json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert (shown["size"], len(shown["records"]), shown["torn"]["index"]) == (70, 70, 70)
        assert snapshot(logs / "ro") == before


def test_read_commands_on_a_sqlite_log_equal_read_write_and_keep_the_database(
    logs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SQLite read-only (SQLiteStore readonly=True): same outputs, the database file untouched."""
    (logs / "sq").mkdir()
    assert run(["audit", "init", "sqlite:sq/log.db"]) == 0
    assert run(["audit", "append", "sqlite:sq/log.db", "--event", "ev.json"]) == 0
    shutil.copytree(logs / "sq", logs / "sqro")
    reads = [r for r in READS if "--checkpoint" not in r]  # cp.txt is the JSONL log's
    want = [_out(capsys, [a.format(log="sqlite:sq/log.db") for a in ["audit", *r]]) for r in reads]
    before = snapshot(logs / "sqro")["log.db"]
    got = [_out(capsys, [a.format(log="sqlite:sqro/log.db") for a in ["audit", *r]]) for r in reads]
    assert snapshot(logs / "sqro")["log.db"] == before
    assert [g.replace("sqlite:sqro/", "sqlite:sq/") for g in got] == want
    capsys.readouterr()
    assert run(["audit", "append", "sqlite:sqro/log.db", "--event", "ev.json"]) == 0  # rw again


def test_read_commands_leave_a_sqlite_log_unchanged_and_add_only_sqlite_wal_files(
    logs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reads never change log.db; the only entries that may appear are SQLite's -wal/-shm.

    SQLite's ``mode=ro`` on a WAL database creates ``-wal``/``-shm`` where it can (root, or a
    writable directory); in a directory the reader cannot write, the store opens the file
    ``immutable=1`` instead and creates nothing (ADR 0104, tested as uid 65534 in
    test_sqlite_readonly*). This pins the first case: the log itself is untouched.
    """
    (logs / "sq").mkdir()
    assert run(["audit", "init", "sqlite:sq/log.db"]) == 0
    assert run(["audit", "append", "sqlite:sq/log.db", "--event", "ev.json"]) == 0
    with read_only(logs / "sq") as before:
        for r in READS:
            if "--checkpoint" not in r:
                _out(capsys, [a.format(log="sqlite:sq/log.db") for a in ["audit", *r]])
        after = snapshot(logs / "sq")
    assert after["log.db"] == before["log.db"]
    added = set(after) - set(before)
    assert added <= {"log.db-wal", "log.db-shm"}
    assert {k: v for k, v in after.items() if k not in added and k != "."} == {
        k: v for k, v in before.items() if k != "."
    }
