"""A small world of valid dta files for the CLI bad-input sweep (built once per session).

The world is the output of ``dta demo`` plus a few files made with the CLI itself: plain and
encrypted key pairs, a signed document and its DSSE envelope, a three-record audit log with a
checkpoint, a consistency proof, a proof bundle and its record, and unsigned agreement and
manifest bodies. Each test works in its own copy, so a command that wrongly writes or deletes
something is caught by comparing snapshots of the copy.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from pathlib import Path

import pytest

from dta._cli.main import run
from dta._demo import run_demo

PASS_ENV = "DTA_TEST_BAD_INPUT_PASS"
US = "us-gls-bpl"
CN = "cn-ypu-lcb"
RECEIVE_AT = "2027-04-21T00:00:00Z"
AUDIT_AT = "2027-04-25T00:00:00Z"

# Malformed input files (None: the file does not exist).
BAD_FILES: dict[str, bytes | None] = {
    "missing": None,
    "empty": b"",
    "invalid_utf8": b"\xff\xfe{",
    "array": b"[1, 2]",
    "duplicate_keys": b'{"_type": "x", "_type": "y"}',
    "truncated": b'{"_type": "https://dta',
    "wrong_type": b'{"_type": "https://example.invalid/nope"}',
    "huge_number": b'{"_type": 1' + b"0" * 5000 + b"}",
    "garbage_pem": b"-----BEGIN PRIVATE KEY-----\nzz\n-----END PRIVATE KEY-----\n",
}


def _ok(argv: list[str]) -> None:
    code = run(argv)
    if code != 0:
        raise AssertionError(f"world set-up failed: dta {' '.join(argv)} -> {code}")


def build(root: Path, capsys: pytest.CaptureFixture[str] | None = None) -> Path:
    """Create the world under ``root`` and return it."""
    run_demo(root, lambda _text: None)
    old = Path.cwd()
    os.chdir(root)
    try:
        signed = json.loads(Path("agreement.signed.json").read_text())["signed"]
        Path("agreement.body.json").write_text(json.dumps(signed))
        spec = {
            k: v
            for k, v in signed.items()
            if k not in {"_type", "spec_version", "id", "version", "previous", "created"}
        }
        Path("spec.json").write_text(json.dumps(spec))
        Path("changes.json").write_text(json.dumps({"title": "renamed"}))
        body = json.loads(Path("manifest.signed.json").read_text())["signed"]
        Path("manifest.body.json").write_text(json.dumps(body))
        _ok(["keygen", "-o", "alice.pem", "--owner", "alice"])
        _ok(["keygen", "-o", "bob.pem", "--owner", "bob"])
        _ok(["keygen", "-o", "ec.pem", "--owner", "eve", "--scheme", "ecdsa-p256-sha256"])
        os.environ[PASS_ENV] = "correct horse"
        try:
            _ok(["keygen", "-o", "enc.pem", "--encrypt", "--passphrase-env", PASS_ENV])
        finally:
            del os.environ[PASS_ENV]
        _ok(["sign", "alice.pub.json", "-k", "alice.pem", "-o", "signed.json"])
        _ok(["dsse", "export", "signed.json", "-o", "env.json"])
        _ok(["audit", "init", "log.jsonl"])
        events = [
            {
                "actor": "alice",
                "action": "transfer.sent",
                "subject": {
                    "_type": "dta.document",
                    "id": f"urn:x:{i}",
                    "digest": {"sha256": f"{i:064d}"},
                },
            }
            for i in range(3)
        ]
        Path("events.json").write_text(json.dumps(events))
        _ok(["audit", "append", "log.jsonl", "--event", "events.json"])
        _ok(
            ["audit", "checkpoint", "log.jsonl", "-k", "alice.pem", "--origin", "o", "-o", "cp.txt"]
        )
        _ok(["audit", "prove", "log.jsonl", "--consistency", "1", "-o", "proof.json"])
        _ok(
            ["audit", "prove", "log.jsonl", "--index", "0", "--checkpoint", "cp.txt", "-o", "b.txt"]
        )
        _ok(["audit", "export", "log.jsonl", "--stop", "1", "-o", "rec.jsonl"])
        _ok(["agreement", "new", "spec.json", "--at", "2027-01-16T00:00:00Z", "-o", "new.json"])
        Path("plain.txt").write_text("a regular file, so plain.txt/x is ENOTDIR\n")
        Path("existing.out").write_text("precious\n")
        Path("emptydir").mkdir()
        Path("notalog.jsonl").write_text("this is not a log\n")
        Path("ledger.json").write_text("[1, 2]\n")
        Path("bad-events.json").write_text(json.dumps([events[0], {"actor": "alice"}]))
    finally:
        os.chdir(old)
    if capsys is not None:
        capsys.readouterr()
    return root


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path below ``root`` with its content (None for directories).

    The JSONL store's ``<log>.nodes`` hash cache is left out: reading a log may extend it.
    """
    result: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if ".nodes" in rel:
            continue
        result[rel] = None if path.is_dir() or not path.is_file() else path.read_bytes()
    return result


_BULKY = ("dataset", "inbox", "outbox", "state", "logs")


def _ignored(world: Path, directory: str, skipped: set[str]) -> set[str]:
    return skipped if Path(directory) == world else set()


@functools.cache
def _master_snapshot(world: Path) -> dict[str, bytes | None]:
    return snapshot(world)


def copy(world: Path, target: Path) -> Path:
    """Copy the world into ``target`` (which must not exist) keeping file modes."""
    shutil.copytree(world, target, symlinks=True)
    return target


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The read-only master copy of the world (tests copy it before running a command)."""
    return build(tmp_path_factory.mktemp("cli-world") / "w")


def run_in(
    world: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env: dict[str, str] | None = None,
    files: dict[str, bytes | None] | None = None,
) -> tuple[int, str, str, dict[str, bytes | None], dict[str, bytes | None]]:
    """Run ``dta argv`` in a fresh copy of the world; return code, out, err, before, after.

    ``files`` are added to the copy first (None: an empty directory).
    """
    words = " ".join(argv)
    skipped = {d for d in _BULKY if d not in words}  # copying less keeps the sweep fast
    here = tmp_path / "w"
    shutil.copytree(
        world, here, symlinks=True, ignore=lambda d, _names: _ignored(world, d, skipped)
    )
    before = {  # the copy is byte-for-byte the master, less the skipped directories
        k: v for k, v in _master_snapshot(world).items() if k.split("/", 1)[0] not in skipped
    }
    for name, content in (files or {}).items():
        if content is None:
            (here / name).mkdir()
        else:
            (here / name).write_bytes(content)
        before[name] = content
    monkeypatch.chdir(here)
    monkeypatch.delenv(PASS_ENV, raising=False)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    code = run(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err, before, snapshot(here)


def assert_one_line_error(code: int, out: str, err: str, expected: int | None) -> None:
    """Exit 1 or 2 (or exactly ``expected``), one ``dta: error:`` line, no traceback."""
    assert "Traceback" not in out + err
    assert code in {1, 2}, (code, err)
    if expected is not None:
        assert code == expected, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("dta: error: "), err
    assert len(lines[0]) > len("dta: error: ") + 5, err
    assert "internal error" not in lines[0], err


def assert_unchanged(before: dict[str, bytes | None], after: dict[str, bytes | None]) -> None:
    """Nothing was created, changed or removed in the working copy."""
    created = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    assert not created, f"created: {created}"
    assert not removed, f"removed: {removed}"
    assert not changed, f"changed: {changed}"
